"""The recipe_fail fallback."""

from __future__ import annotations

import dataclasses

import pytest

from crafting_table.parsers.generic import recipe_failure
from tests.parsers.support import context, parse, places


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


WARNINGS_THEN_LINKER_ERROR = [
    "src/a.c:3:7: warning: unused variable 'x' [-Wunused-variable]\n",
    "/usr/bin/ld: a.o: in function `main': undefined reference to `f'\n",
    "collect2: error: ld returned 1 exit status\n",
]


@pytest.mark.parametrize(
    ("recipe", "exit_code", "fallback"),
    [
        pytest.param("build", 1, True, id="failed-build-warnings-explain-nothing"),
        pytest.param("test", 2, True, id="failed-test-warnings-explain-nothing"),
        pytest.param("lint", 1, False, id="failed-lint-warnings-are-the-reason"),
        pytest.param("build", 0, False, id="passed-build-only-warnings"),
    ],
)
def test_warnings_alone_do_not_explain_a_failed_build(
    recipe: str, exit_code: int, fallback: bool
) -> None:
    findings = parse("c", recipe, WARNINGS_THEN_LINKER_ERROR, exit_code=exit_code)

    assert ("lint", "src/a.c", 3, "-Wunused-variable") in places(findings)
    failed = [f for f in findings if f.kind == "recipe_fail"]
    assert [f.code for f in failed] == ([f"exit_{exit_code}"] if fallback else [])


def test_an_error_finding_explains_a_failed_build() -> None:
    lines = [*WARNINGS_THEN_LINKER_ERROR, "src/b.c:9:1: error: 'y' undeclared\n"]

    findings = parse("c", "build", lines)

    assert [f.kind for f in findings] == ["lint", "lint"]
    assert [f.severity for f in findings] == ["warning", "error"]
