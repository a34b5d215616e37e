"""The recipe_fail fallback."""

from __future__ import annotations

import dataclasses

import pytest

from crafting_table.parsers.generic import recipe_failure
from tests.parsers.support import context


@pytest.mark.parametrize(
    ("exit_code", "expected"),
    [
        pytest.param(0, None, id="success"),
        pytest.param(None, None, id="exit-unknown"),
        pytest.param(1, "exit_1", id="failure"),
        pytest.param(-9, "exit_-9", id="killed"),
    ],
)
def test_code_follows_exit_status(exit_code: int | None, expected: str | None) -> None:
    finding = recipe_failure(context("cobol", "build", [], exit_code=exit_code))
    assert (finding.code if finding else None) == expected


def test_message_names_the_recipe_and_the_unreadable_log() -> None:
    finding = recipe_failure(
        context("go", "audit", [], exit_code=2), log_unreadable=True
    )
    assert finding is not None
    assert finding.kind == "recipe_fail"
    assert "'audit'" in finding.message
    assert "could not be read" in finding.message


def test_a_timeout_says_so_rather_than_the_signals_status() -> None:
    finding = recipe_failure(
        dataclasses.replace(context("go", "test", [], exit_code=143), timed_out=True)
    )

    assert finding is not None
    assert finding.code == "exit_143"
    assert "reached its deadline" in finding.message
    assert "timeout_secs" in finding.message
