"""eslint -f json."""

from __future__ import annotations

from tests.parsers.support import SRC, half, parse, places, sample_lines

APP = SRC / "ts" / "app"


def test_messages_with_rules_severities_and_parse_errors() -> None:
    findings = parse(
        "javascript", "lint", sample_lines("eslint", "json.log"), workdir=APP
    )
    assert places(findings) == [
        ("lint", "src/bad.js", 1, None),
        ("lint", "src/lintme.js", 1, "no-unused-vars"),
        ("lint", "src/lintme.js", 2, "prefer-const"),
        ("lint", "src/lintme.js", 3, "eqeqeq"),
        ("lint", "src/lintme.js", 4, "no-debugger"),
        ("lint", "src/lintme.js", 5, "no-unused-vars"),
        ("lint", "src/lintme.js", 5, "no-unreachable"),
        ("lint", "src/lintme.js", 5, "no-unused-vars"),
    ]
    assert [f.severity for f in findings][:4] == [
        "error",
        "error",
        "warning",
        "warning",
    ]
    assert findings[0].message == "Parsing error: Unexpected token ;"
    assert findings[0].raw["fatal"] is True


def test_same_report_for_typescript_language() -> None:
    lines = sample_lines("eslint", "json.log")
    assert places(parse("typescript", "lint", lines, workdir=APP)) == places(
        parse("javascript", "lint", lines, workdir=APP)
    )


def test_single_line_array_cut_in_half_falls_back() -> None:
    findings = parse(
        "javascript", "lint", half(sample_lines("eslint", "json.log")), workdir=APP
    )
    assert places(findings) == [("recipe_fail", None, None, "exit_1")]
