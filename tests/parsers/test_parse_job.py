"""parse_job: resolution, the fallback, and logs that fight back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crafting_table.parsers import PARSERS, ParseContext, parse_job, parsers_for
from crafting_table.parsers.cargo_test import CargoTestParser
from crafting_table.parsers.mypy import MypyTextParser
from crafting_table.parsers.pip_audit import PipAuditParser
from crafting_table.parsers.pytest_log import PytestParser
from crafting_table.parsers.rustc import RustcParser
from tests.parsers.support import SRC, parse, places, sample_lines


def test_javascript_is_an_alias_of_typescript() -> None:
    assert PARSERS["javascript"] == PARSERS["typescript"]


@pytest.mark.parametrize(
    ("language", "recipe", "present", "absent"),
    [
        pytest.param("python", "lint", MypyTextParser, PytestParser, id="python-lint"),
        pytest.param(
            "python", "audit", PipAuditParser, PytestParser, id="python-audit"
        ),
        pytest.param("Rust", "test", CargoTestParser, RustcParser, id="language-case"),
    ],
)
def test_parsers_claim_recipes(
    language: str, recipe: str, present: type, absent: type
) -> None:
    chosen = parsers_for(language, recipe)
    assert present in chosen
    assert absent not in chosen


@pytest.mark.parametrize(
    ("lines", "exit_code", "expected"),
    [
        pytest.param(
            [], 1, [("recipe_fail", None, None, "exit_1")], id="empty-log-failed"
        ),
        pytest.param([], 0, [], id="empty-log-succeeded"),
        pytest.param(
            ["\x00\x9f\ufffd\x1b[31m\n", "\ud800\n"],
            3,
            [("recipe_fail", None, None, "exit_3")],
            id="garbage",
        ),
        pytest.param(
            ["x" * 5_000_000],
            1,
            [("recipe_fail", None, None, "exit_1")],
            id="huge-line",
        ),
    ],
)
def test_generic_fallback(
    lines: list[str], exit_code: int, expected: list[object]
) -> None:
    for language in ("rust", "python", "go", "typescript", "shell", "fortran"):
        assert places(parse(language, "test", lines, exit_code=exit_code)) == expected


def test_findings_suppress_the_fallback() -> None:
    findings = parse(
        "python",
        "lint",
        sample_lines("ruff", "check.log"),
        exit_code=1,
        workdir=SRC / "py",
    )
    assert "recipe_fail" not in {f.kind for f in findings}


def test_log_that_fails_half_way_keeps_what_was_read() -> None:
    lines = sample_lines("mypy", "json.log")

    def log() -> Iterator[str]:
        yield lines[0]
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    ctx = ParseContext("python", "lint", 1, ".", SRC / "py", log)
    assert places(parse_job(ctx)) == [("lint", "app.py", 6, "return-value")]


def test_unreadable_log_of_a_failed_job() -> None:
    def log() -> Iterator[str]:
        raise FileNotFoundError("gone")

    (finding,) = parse_job(ParseContext("rust", "build", 101, ".", Path("/w"), log))
    assert (finding.kind, finding.code) == ("recipe_fail", "exit_101")
    assert "could not be read" in finding.message


def test_fingerprint_is_stable_and_ignores_message() -> None:
    (first,) = parse("rust", "build", [], exit_code=4)
    (second,) = parse("rust", "build", [], exit_code=4)
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 16


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "reason",
                    "message",
                    "spans",
                    "is_primary",
                    "file_name",
                    "line_start",
                    "code",
                    "level",
                    "filename",
                    "location",
                    "row",
                    "file",
                    "line",
                    "severity",
                    "filePath",
                    "messages",
                    "ruleId",
                    "dependencies",
                    "vulns",
                    "id",
                    "fix_versions",
                    "vulnerabilities",
                    "list",
                    "warnings",
                    "lockfile",
                    "auditReportVersion",
                    "via",
                    "fixAvailable",
                    "finding",
                    "osv",
                    "trace",
                    "runs",
                    "results",
                    "version",
                    "comments",
                    "posn",
                    "Action",
                    "Package",
                    "Output",
                    "locations",
                    "physicalLocation",
                    "region",
                    "package",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(_json_values, max_size=4),
    text=st.lists(st.text(max_size=80), max_size=5),
    pretty=st.booleans(),
)
def test_no_parser_raises_on_arbitrary_json_and_text(
    values: list[object], text: list[str], pretty: bool
) -> None:
    lines = [line + "\n" for line in text]
    for value in values:
        dumped = json.dumps(value, indent=2 if pretty else None)
        lines.extend(line + "\n" for line in dumped.splitlines())
    for language in ("rust", "python", "go", "typescript", "shell"):
        for recipe in ("build", "test", "lint", "audit"):
            findings = parse(language, recipe, lines)
            assert all(
                f.kind in ("lint", "cve", "test_fail", "recipe_fail") for f in findings
            )
