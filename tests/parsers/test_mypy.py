"""mypy, JSON and text."""

from __future__ import annotations

import pytest

from tests.parsers.support import SRC, crlf, parse, places, sample_lines

PY = SRC / "py"

EXPECTED = [
    ("lint", "app.py", 6, "return-value"),
    ("lint", "app.py", 9, "no-untyped-def"),
    ("lint", "modül_é.py", 3, "return-value"),
]


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        # -O json counts columns from 0; the parser reports them from 1,
        # as the text form with --show-column-numbers does.
        pytest.param("json.log", [12, 1, 12], id="json"),
        pytest.param("text.log", [12, 1, 12], id="text-with-columns"),
        pytest.param("text-nocol.log", [None, None, None], id="text"),
    ],
)
def test_forms(name: str, columns: list[int | None]) -> None:
    findings = parse("python", "lint", sample_lines("mypy", name), workdir=PY)
    assert places(findings) == EXPECTED
    assert [f.column for f in findings] == columns
    assert {f.severity for f in findings} == {"error"}
    assert (
        findings[0].message
        == 'Incompatible return value type (got "str", expected "int")'
    )


def test_notes_are_not_findings() -> None:
    log = [
        'app.py:3: error: Name "x" is not defined  [name-defined]\n',
        'app.py:3: note: Did you mean "y"?\n',
        '{"file": "a.py", "line": 1, "column": 0, "message": "m", "hint": null,'
        ' "code": null, "severity": "note"}\n',
    ]
    assert places(parse("python", "lint", crlf(log))) == [
        ("lint", "app.py", 3, "name-defined")
    ]
