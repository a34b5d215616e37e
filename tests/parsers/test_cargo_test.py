"""cargo test's human output."""

from __future__ import annotations

import pytest

from tests.parsers.support import SRC, crlf, half, parse, places, sample_lines

BUGGY = SRC / "rust" / "buggy"


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(sample_lines("cargo_test", "failures.log"), id="as-captured"),
        pytest.param(crlf(sample_lines("cargo_test", "failures.log")), id="crlf"),
    ],
)
def test_failures_across_unit_integration_and_doc_tests(lines: list[str]) -> None:
    findings = parse("rust", "test", lines, exit_code=101, workdir=BUGGY)
    assert [(f.raw["test_id"], f.file, f.line) for f in findings] == [
        ("tests::adds_wrong", "src/lib.rs", 40),
        ("tests::panics_plainly", "src/lib.rs", 46),
        ("integration_fails", "tests/integration.rs", 3),
        # The doc-test panics in a generated file; its name gives the place.
        ("src/lib.rs - double (line 22)", "src/lib.rs", 22),
    ]
    assert {f.kind for f in findings} == {"test_fail"}
    assert findings[0].message == (
        "tests::adds_wrong: assertion `left == right` failed: one plus one"
    )
    assert findings[2].raw["test_binary"] == "tests/integration.rs"


def test_build_warnings_are_not_test_failures() -> None:
    lines = sample_lines("cargo_test", "failures.log")
    assert any(line.startswith("warning: unused variable") for line in lines)
    findings = parse("rust", "test", lines, exit_code=101, workdir=BUGGY)
    assert all(f.kind == "test_fail" for f in findings)


def test_compile_error_stops_the_recipe_and_is_reported() -> None:
    lines = sample_lines("cargo_test", "compile-error.log")
    findings = parse(
        "rust", "test", lines, exit_code=101, workdir=SRC / "rust" / "brokentest"
    )
    assert places(findings) == [("lint", "src/lib.rs", 10, "E0425")]
    assert findings[0].severity == "error"
    assert findings[0].column == 38


@pytest.mark.parametrize(
    ("panic", "file", "line", "message"),
    [
        pytest.param(
            "thread 't' panicked at 'boom', src/a.rs:7:5",
            "src/a.rs",
            7,
            "t: boom",
            id="before-rust-1.73",
        ),
        pytest.param(
            "thread 't' (42) panicked at src/a.rs:9:1:",
            "src/a.rs",
            9,
            "t: it broke",
            id="current",
        ),
    ],
)
def test_panic_formats(panic: str, file: str, line: int, message: str) -> None:
    log = [
        "     Running unittests src/lib.rs (target/debug/deps/a-1)\n",
        "test t ... FAILED\n",
        "failures:\n",
        "---- t stdout ----\n",
        panic + "\n",
        "it broke\n",
        "failures:\n",
        "    t\n",
        "test result: FAILED. 0 passed; 1 failed\n",
    ]
    (finding,) = parse("rust", "test", log, exit_code=101)
    assert (finding.file, finding.line, finding.message) == (file, line, message)


def test_killed_mid_run_keeps_the_failures_seen() -> None:
    lines = sample_lines("cargo_test", "failures.log")
    findings = parse("rust", "test", half(lines), exit_code=None, workdir=BUGGY)
    assert [f.raw["test_id"] for f in findings] == [
        "tests::adds_wrong",
        "tests::panics_plainly",
    ]
