"""cargo clippy --message-format=json."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.parsers.support import SRC, crlf, half, parse, places, sample_lines

BUGGY = SRC / "rust" / "buggy"
WORKSPACE = SRC / "rust" / "ws"
TYPE_ERROR = SRC / "rust" / "typeerror"

COLOR_EXPECTED = [
    ("lint", "src/lib.rs", 18, "unused_variables"),
    ("lint", "src/lib.rs", 6, "clippy::needless_return"),
    ("lint", "src/lib.rs", 10, "clippy::partialeq_to_none"),
]


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda lines: lines, id="as-captured"),
        pytest.param(crlf, id="crlf"),
    ],
)
def test_coloured_progress_around_json(
    transform: Callable[[list[str]], list[str]],
) -> None:
    lines = sample_lines("clippy", "color.log")
    assert any("\x1b[" in line for line in lines)
    findings = parse("rust", "lint", transform(lines), exit_code=0, workdir=BUGGY)
    assert places(findings) == COLOR_EXPECTED
    assert [f.severity for f in findings] == ["warning"] * 3
    assert findings[0].column == 9
    assert findings[1].message == "unneeded `return` statement"


def test_all_targets_duplicates_count_once() -> None:
    lines = sample_lines("clippy", "workspace-all-targets.log")
    printed = sum('"reason":"compiler-message"' in line for line in lines)
    findings = parse("rust", "lint", lines, exit_code=0, workdir=WORKSPACE)
    assert printed == 6
    assert places(findings) == [
        ("lint", "alpha/src/lib.rs", 1, "clippy::ptr_arg"),
        ("lint", "beta/src/main.rs", 3, "clippy::if_same_then_else"),
        ("lint", "beta/src/main.rs", 5, "clippy::len_zero"),
    ]


def test_same_diagnostic_twice_in_one_unit_counts_twice() -> None:
    # A macro expanded twice prints the same diagnostic twice before the
    # unit's compiler-artifact line: both are kept.
    message = next(
        line
        for line in sample_lines("clippy", "color.log")
        if "needless_return" in line
    )
    findings = parse("rust", "lint", [message, message], exit_code=0, workdir=BUGGY)
    assert (
        places(findings) == [("lint", "src/lib.rs", 6, "clippy::needless_return")] * 2
    )


def test_rustc_errors_and_spanless_messages() -> None:
    line = next(
        line
        for line in sample_lines("clippy", "color.log")
        if "needless_return" in line
    )
    error = json.loads(line)
    error["message"]["level"] = "error"
    error["message"]["code"] = {"code": "E0308", "explanation": None}
    summary = json.loads(line)
    summary["message"]["spans"] = []
    lines = [json.dumps(error) + "\n", json.dumps(summary) + "\n"]
    findings = parse("rust", "lint", lines, exit_code=101, workdir=BUGGY)
    assert places(findings) == [("lint", "src/lib.rs", 6, "E0308")]
    assert findings[0].severity == "error"


def test_truncated_log_keeps_complete_lines() -> None:
    lines = sample_lines("clippy", "workspace-all-targets.log")
    findings = parse("rust", "lint", half(lines), exit_code=None, workdir=WORKSPACE)
    assert 0 < len(findings) < 3


def test_absolute_path_outside_workdir_is_kept_and_flagged() -> None:
    lines = sample_lines("clippy", "color.log")
    absolute = [
        line.replace('"file_name":"src/lib.rs"', f'"file_name":"{BUGGY}/src/lib.rs"')
        for line in lines
    ]
    findings = parse("rust", "lint", absolute, exit_code=0, workdir=BUGGY / "sub")
    assert {(f.file, f.outside) for f in findings} == {(f"{BUGGY}/src/lib.rs", True)}


def test_a_compile_error_is_reported_as_an_error() -> None:
    # Clippy runs rustc first: a crate that does not type-check yields
    # rustc's error through the same JSON stream, then cargo gives up.
    lines = sample_lines("clippy", "type-error.log")
    findings = parse("rust", "lint", lines, exit_code=101, workdir=TYPE_ERROR)
    assert places(findings) == [("lint", "src/lib.rs", 2, "E0308")]
    [error] = findings
    assert error.severity == "error"
    assert error.column == 18
    assert error.message == "mismatched types"
    assert error.tool == "clippy"
    assert not error.outside
