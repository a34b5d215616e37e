"""kotlinc's diagnostics, under Gradle and on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from crafting_table.parsers import parsers_for
from crafting_table.parsers.kotlinc import KotlincParser
from tests.parsers.support import SRC, crlf, parse, places, sample_lines

WORKDIR = SRC / "kotlin" / "app"
SOURCES = "src/main/kotlin/com/example"


def test_gradle_build_errors_and_warnings() -> None:
    findings = parse(
        "kotlin", "build", sample_lines("kotlinc", "gradle.log"), workdir=WORKDIR
    )

    assert places(findings) == [
        ("lint", f"{SOURCES}/Util.kt", 4, None),
        ("lint", f"{SOURCES}/Util.kt", 8, None),
        ("lint", f"{SOURCES}/App.kt", 5, None),
        ("lint", f"{SOURCES}/App.kt", 9, None),
        ("lint", f"{SOURCES}/Grüße.kt", 3, None),
    ]
    assert [f.severity for f in findings] == ["warning"] * 2 + ["error"] * 3
    assert [f.column for f in findings] == [9, 15, 13, 22, 5]
    assert findings[2].message == "Unresolved reference: greting"
    assert "recipe_fail" not in {f.kind for f in findings}
    assert {f.tool for f in findings} == {"kotlinc"}


def test_crlf_log_reads_the_same() -> None:
    lines = sample_lines("kotlinc", "gradle.log")

    plain = parse("kotlin", "build", lines, workdir=WORKDIR)
    windows = parse("kotlin", "build", crlf(lines), workdir=WORKDIR)

    assert places(windows) == places(plain)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "e: file:///work/project/src/App.kt:12:8 Unresolved reference 'foo'.",
            ("src/App.kt", 12, 8, "error", "Unresolved reference 'foo'."),
        ),
        (
            "w: file:///work/project/src/App.kt 'jvmTarget' is deprecated",
            ("src/App.kt", None, None, "warning", "'jvmTarget' is deprecated"),
        ),
        (
            "e: /work/project/src/App.kt: (12, 8): Unresolved reference: foo",
            ("src/App.kt", 12, 8, "error", "Unresolved reference: foo"),
        ),
        (
            "w: /work/project/src/App.kt: [3, 9]: Variable 'x' is never used",
            ("src/App.kt", 3, 9, "warning", "Variable 'x' is never used"),
        ),
        (
            "e: /work/project/build.gradle.kts:32:5: Unresolved reference: compile",
            ("build.gradle.kts", 32, 5, "error", "Unresolved reference: compile"),
        ),
        (
            "src/App.kt:2:5: error: unresolved reference: printn",
            ("src/App.kt", 2, 5, "error", "unresolved reference: printn"),
        ),
    ],
    ids=["uri", "uri-no-line", "paren", "bracket", "gradle-script", "cli"],
)
def test_formats(
    line: str, expected: tuple[str, int | None, int | None, str, str]
) -> None:
    (finding,) = parse("kotlin", "build", [line + "\n"], exit_code=0)

    assert (
        finding.file,
        finding.line,
        finding.column,
        finding.severity,
        finding.message,
    ) == expected


def test_old_format_path_with_spaces() -> None:
    line = "e: /work/my app/src/App.kt: (1, 1): Expecting a top level declaration\n"

    findings = parse("kotlin", "build", [line], workdir=Path("/work/my app"))

    assert places(findings) == [("lint", "src/App.kt", 1, None)]


def test_cli_source_lines_and_carets_are_passed_over() -> None:
    lines = [
        "Main.kt:2:5: error: unresolved reference 'Println'.\n",
        '    Println("hello")\n',
        "    ^^^^^^^\n",
        "Main.kt:4:9: warning: variable 'n' is never used\n",
        "    val n = 1\n",
        "        ^\n",
    ]

    findings = parse("kotlin", "build", lines)

    assert places(findings) == [
        ("lint", "Main.kt", 2, None),
        ("lint", "Main.kt", 4, None),
    ]
    assert [f.severity for f in findings] == ["error", "warning"]


def test_lines_without_a_place_are_not_findings() -> None:
    lines = [
        "e: java.lang.OutOfMemoryError: Java heap space\n",
        "i: found 2 kotlin source files\n",
        "w: Language version 1.6 is deprecated\n",
        "e: /work/project/src/App.kt:12:8 Unresolved reference: foo\n",
        "e: /work/project/src/App.kt:12:8 Unresolved reference: foo\n",
    ]

    findings = parse("kotlin", "build", lines)

    assert places(findings) == [("lint", "src/App.kt", 12, None)]


@pytest.mark.parametrize(
    ("language", "recipe", "reads"),
    [
        ("kotlin", "build", True),
        ("kotlin", "test", True),
        ("java", "build", True),
        ("kotlin", "audit", False),
        ("swift", "build", False),
    ],
    ids=["kotlin-build", "kotlin-test", "java", "audit", "swift"],
)
def test_which_jobs_it_reads(language: str, recipe: str, reads: bool) -> None:
    assert (KotlincParser in parsers_for(language, recipe)) is reads
