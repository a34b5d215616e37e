"""Judging a verify run against the run it patched."""

from __future__ import annotations

import pytest

from crafting_table.ledger.jobs import JobRow
from crafting_table.patchcheck import status_problem, verify_problems
from tests.patch_rows import finding, job


@pytest.mark.parametrize(
    ("before", "after", "worse"),
    [
        pytest.param(job("failed", 1), job("succeeded", 0), False, id="now-clean"),
        pytest.param(job("failed", 1), job("failed", 1), False, id="same-failure"),
        pytest.param(job("succeeded", 0), job("failed", 1), True, id="now-failing"),
        pytest.param(job("failed", 1), job("failed", 2), True, id="other-failure"),
        pytest.param(job("failed", 1), job("timed_out", 143), True, id="timed-out"),
        pytest.param(job("failed", 1), job("failed", None), True, id="did-not-run"),
    ],
)
def test_exit_status_no_worse(before: JobRow, after: JobRow, worse: bool) -> None:
    assert (status_problem(before, after) is not None) is worse


def test_a_patch_passes_when_its_finding_alone_is_gone() -> None:
    target, other = finding(1), finding(2)

    problems = verify_problems(
        job("failed", 1), job("failed", 1), target, [target, other], [other]
    )

    assert problems == []


def test_verify_names_every_problem() -> None:
    target = finding(1)
    moved = finding(9, identity="i1")
    fresh = finding(5, code="E999", identity="new")

    problems = verify_problems(
        job("succeeded", 0), job("failed", 1), target, [target], [moved, fresh]
    )

    assert len(problems) == 3
    assert "worse than succeeded" in problems[0]
    assert "still reported: F401 at app.py:1" in problems[1]
    assert "1 new finding(s) appeared: E999 at app.py:5" in problems[2]
