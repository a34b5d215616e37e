"""The shared interface: fingerprints, field coercion, paths per job."""

from __future__ import annotations

from pathlib import Path

import pytest

from crafting_table.parsers.base import (
    Finding,
    ToolParser,
    as_int,
    as_str,
    fingerprint,
    first_line,
)
from tests.parsers.support import context


def test_fingerprint_covers_kind_file_line_code_only() -> None:
    a = Finding("lint", "warning", "one wording", file="a.py", line=3, code="F401")
    b = Finding("lint", "error", "another wording", file="a.py", line=3, code="F401")
    assert a.fingerprint == b.fingerprint == fingerprint("lint", "a.py", 3, "F401")
    assert len(a.fingerprint) == 16
    assert int(a.fingerprint, 16) >= 0


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(("cve", "a.py", 3, "F401"), id="kind"),
        pytest.param(("lint", "b.py", 3, "F401"), id="file"),
        pytest.param(("lint", "a.py", 4, "F401"), id="line"),
        pytest.param(("lint", "a.py", 3, "F402"), id="code"),
        pytest.param(("lint", "a.py", None, "F401"), id="no-line"),
    ],
)
def test_fingerprint_changes_with_each_field(
    other: tuple[str, str, int | None, str],
) -> None:
    assert fingerprint(*other) != fingerprint("lint", "a.py", 3, "F401")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(3, 3, id="int"),
        pytest.param(0, None, id="zero"),
        pytest.param(-1, None, id="negative"),
        pytest.param(True, None, id="bool"),
        pytest.param("3", None, id="string"),
    ],
)
def test_as_int(value: object, expected: int | None) -> None:
    assert as_int(value) == expected


def test_as_str_and_first_line() -> None:
    assert as_str("x") == "x"
    assert as_str("") is None
    assert as_str(3) is None
    assert first_line("  first\nsecond") == "first"
    assert first_line("x" * 50, limit=10) == "x" * 10


def test_place_uses_the_job_workdir() -> None:
    parser = ToolParser(context("python", "lint", [], workdir=Path("/w/p")))
    assert parser.place("/w/p/a.py") == ("a.py", False)
    assert parser.place("/elsewhere/a.py") == ("/elsewhere/a.py", True)
    assert parser.place(None) == (None, False)
    assert list(parser.feed_json({})) == []
    assert list(parser.feed_text("x")) == []
    assert list(parser.finish()) == []
