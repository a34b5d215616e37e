"""Identities that survive line shifts."""

from __future__ import annotations

from crafting_table.parsers.base import Finding
from crafting_table.parsers.identity import ReadLine, identities

SOURCE = [
    "import os",
    "import sys",
    "",
    "def f(x):",
    "    return x == None",
    "    return x == None",
]


def reader(lines: list[str]) -> ReadLine:
    def read_line(file: str, line: int) -> str | None:
        if file != "app.py" or not 1 <= line <= len(lines):
            return None
        return lines[line - 1]

    return read_line


def lint(line: int, code: str = "E711", file: str = "app.py") -> Finding:
    return Finding(
        "lint", "warning", f"message at {line}", file=file, line=line, code=code
    )


def test_inserting_lines_above_keeps_identities() -> None:
    before = [lint(1, "F401"), lint(2, "F401"), lint(5), lint(6)]
    shifted = ["# a new header", "", *SOURCE]
    after = [lint(3, "F401"), lint(4, "F401"), lint(7), lint(8)]
    assert identities(before, reader(SOURCE)) == identities(after, reader(shifted))


def test_reindenting_keeps_identity() -> None:
    moved = [*SOURCE[:4], "        return   x == None", SOURCE[5]]
    assert identities([lint(5)], reader(SOURCE)) == identities([lint(5)], reader(moved))


def test_repeats_are_told_apart_by_occurrence() -> None:
    first, second = identities([lint(5), lint(6)], reader(SOURCE))
    assert first != second


def test_kind_file_code_and_text_all_count() -> None:
    read = reader(SOURCE)
    base = identities([lint(1, "F401")], read)
    assert base != identities([lint(2, "F401")], read)
    assert base != identities([lint(1, "I001")], read)
    cve = Finding("cve", None, "m", file="app.py", line=1, code="F401")
    assert base != identities([cve], read)


def test_without_a_source_line_the_message_is_used() -> None:
    read = reader(SOURCE)
    outside = [lint(1, file="/usr/lib/x.py"), lint(2, file="/usr/lib/x.py")]
    first, second = identities(outside, read)
    assert first != second
    past_end = identities([lint(99)], read)
    assert past_end == identities([lint(99)], read)


def test_ledger_rows_are_accepted() -> None:
    row = {"kind": "lint", "file": "app.py", "line": 5, "code": "E711", "message": "m"}
    assert identities([row], reader(SOURCE)) == identities([lint(5)], reader(SOURCE))


def test_reader_errors_fall_back_to_the_message() -> None:
    def broken(file: str, line: int) -> str | None:
        raise OSError("gone")

    assert len(identities([lint(1)], broken)[0]) == 32
