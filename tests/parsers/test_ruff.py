"""ruff check --output-format=json."""

from __future__ import annotations

import pytest

from tests.parsers.support import SRC, crlf, half, parse, places, sample_lines

PY = SRC / "py"

RUFF_EXPECTED = [
    ("lint", "app.py", 1, "F401"),
    ("lint", "app.py", 2, "F401"),
    ("lint", "app.py", 10, "F841"),
    ("lint", "modül_é.py", 1, "I001"),
    ("lint", "modül_é.py", 1, "F401"),
]


def test_pretty_printed_array() -> None:
    findings = parse("python", "lint", sample_lines("ruff", "check.log"), workdir=PY)
    assert places(findings) == RUFF_EXPECTED
    assert findings[0].column == 8
    assert findings[0].message == "`os` imported but unused"
    assert findings[0].suggested_fix == "Remove unused import: `os`"


def test_crlf_log() -> None:
    findings = parse(
        "python", "lint", crlf(sample_lines("ruff", "check.log")), workdir=PY
    )
    assert places(findings) == RUFF_EXPECTED


def test_ruff_then_mypy_in_one_recipe() -> None:
    findings = parse(
        "python", "lint", sample_lines("ruff", "ruff-then-mypy.log"), workdir=PY
    )
    assert places(findings) == [
        *RUFF_EXPECTED,
        ("lint", "app.py", 6, "return-value"),
        ("lint", "app.py", 9, "no-untyped-def"),
    ]
    assert [f.tool for f in findings] == ["ruff"] * 5 + ["mypy"] * 2


def test_cut_in_half_keeps_complete_elements() -> None:
    findings = parse(
        "python", "lint", half(sample_lines("ruff", "check.log")), workdir=PY
    )
    assert places(findings) == RUFF_EXPECTED[: len(findings)]
    assert 1 <= len(findings) < len(RUFF_EXPECTED)


def test_absolute_paths_outside_workdir() -> None:
    findings = parse(
        "python", "lint", sample_lines("ruff", "check.log"), workdir=PY / "other"
    )
    assert findings[0].file == f"{PY}/app.py"
    assert all(f.outside for f in findings)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("full.log", id="full-default"),
        pytest.param("concise.log", id="concise"),
    ],
)
def test_text_formats(name: str) -> None:
    findings = parse("python", "lint", sample_lines("ruff", name), workdir=PY)
    assert places(findings) == RUFF_EXPECTED
    assert [f.column for f in findings] == [8, 8, 5, 1, 8]
    assert findings[2].message == "Local variable `l` is assigned to but never used"


def test_json_and_text_agree_on_severity_and_fix() -> None:
    as_json = parse("python", "lint", sample_lines("ruff", "check.log"), workdir=PY)
    as_text = parse("python", "lint", sample_lines("ruff", "full.log"), workdir=PY)

    assert [f.severity for f in as_text] == [f.severity for f in as_json]
    assert {f.severity for f in as_text} == {"error"}
    assert [f.suggested_fix for f in as_text] == [f.suggested_fix for f in as_json]
    assert as_text[0].suggested_fix == "Remove unused import: `os`"


@pytest.mark.parametrize(
    "log",
    [
        pytest.param(
            [
                "invalid-syntax: unexpected EOF while parsing\n",
                " --> app.py:3:7\n",
                "  |\n",
                "3 | x = (\n",
                "  |      ^\n",
                "\n",
                "Found 1 error.\n",
            ],
            id="full",
        ),
        pytest.param(
            ["app.py:3:7: invalid-syntax: unexpected EOF while parsing\n"],
            id="concise",
        ),
    ],
)
def test_a_syntax_error_in_text_is_a_finding(log: list[str]) -> None:
    [finding] = parse("python", "lint", log, workdir=PY, exit_code=1)

    assert (finding.file, finding.line, finding.code) == (
        "app.py",
        3,
        "invalid-syntax",
    )
    assert finding.message == "unexpected EOF while parsing"
    assert finding.severity == "error"


def test_a_code_like_line_without_a_pointer_is_not_a_finding() -> None:
    log = ["E501 is the rule we ignore\n", "\n", "nothing else\n"]
    assert parse("python", "lint", log, exit_code=0) == []
