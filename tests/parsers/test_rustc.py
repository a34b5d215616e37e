"""rustc's human diagnostics in a build recipe."""

from __future__ import annotations

from tests.parsers.support import SRC, parse, places, sample_lines


def test_build_reports_errors_and_warnings_with_lint_names() -> None:
    lines = sample_lines("cargo_test", "compile-error.log")
    findings = parse(
        "rust", "build", lines, exit_code=101, workdir=SRC / "rust" / "brokentest"
    )
    assert places(findings) == [
        ("lint", "src/lib.rs", 2, "unused_variables"),
        ("lint", "src/lib.rs", 10, "E0425"),
    ]
    assert [f.severity for f in findings] == ["warning", "error"]


def test_summaries_without_a_place_are_not_findings() -> None:
    log = [
        "warning: `x` (lib) generated 1 warning\n",
        "error: could not compile `x` (lib) due to 1 previous error\n",
    ]
    findings = parse("rust", "build", log, exit_code=101)
    assert places(findings) == [("recipe_fail", None, None, "exit_101")]
