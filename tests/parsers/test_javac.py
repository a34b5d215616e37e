"""javac's diagnostics, printed by javac itself, Gradle and Maven."""

from __future__ import annotations

import pytest

from crafting_table.parsers import parsers_for
from crafting_table.parsers.javac import JavacParser
from tests.parsers.support import SRC, crlf, half, parse, places, sample_lines

WORKDIR = SRC / "java" / "broken"
APP = "src/main/java/com/example/App.java"
STORE = "src/main/java/com/example/Store.java"

WARNINGS = [("lint", APP, 9, None), ("lint", APP, 9, None), ("lint", APP, 10, None)]
WARNINGS += [("lint", APP, 11, None)]
ERRORS = [("lint", APP, 12, None), ("lint", APP, 13, None), ("lint", STORE, 5, None)]
# Maven's and javac's own columns; Store.java is indented with tabs.
COLUMNS = [9, 24, 16, 21, 21, 28, 24]


def test_maven_build_reports_each_diagnostic_once() -> None:
    findings = parse(
        "java", "build", sample_lines("javac", "maven-package.log"), workdir=WORKDIR
    )

    assert places(findings) == WARNINGS + ERRORS
    assert [f.severity for f in findings] == ["warning"] * 4 + ["error"] * 3
    assert [f.column for f in findings] == COLUMNS
    assert findings[3].message == (
        "Date(int,int,int) in java.util.Date has been deprecated"
    )
    assert findings[5].message == (
        "cannot find symbol: method greeting(java.lang.String[])"
    )
    assert findings[6].message == "cannot find symbol: variable items"
    assert {f.tool for f in findings} == {"javac"}


def test_claimed_errors_suppress_the_fallback() -> None:
    findings = parse(
        "java", "build", sample_lines("javac", "maven-package.log"), workdir=WORKDIR
    )

    assert "recipe_fail" not in {f.kind for f in findings}


def test_quiet_coloured_maven_reports_the_errors() -> None:
    findings = parse(
        "java", "build", sample_lines("javac", "maven-quiet.log"), workdir=WORKDIR
    )

    assert places(findings) == ERRORS
    assert [f.column for f in findings] == COLUMNS[4:]


def test_javac_columns_come_from_the_caret() -> None:
    findings = parse("java", "build", sample_lines("javac", "javac.log"))

    assert [(f.file, f.line) for f in findings] == [
        (file, line) for _, file, line, _ in WARNINGS + ERRORS
    ]
    assert [f.column for f in findings] == COLUMNS
    assert [f.code for f in findings] == [
        "rawtypes",
        "rawtypes",
        "unchecked",
        "deprecation",
        None,
        None,
        None,
    ]
    assert findings[0].message == "found raw type: List"
    assert findings[5].message == "cannot find symbol: method greeting(String[])"
    assert "symbol:   method greeting" in findings[5].raw["text"]


def test_gradle_paths_are_made_relative() -> None:
    lines = [
        "> Task :compileJava FAILED\n",
        f"{WORKDIR}/src/main/java/App.java:3: error: ';' expected\n",
        "        int x = 1\n",
        "                 ^\n",
        "/opt/shared/Gen.java:7: warning: [removal] Integer(int) in Integer has been"
        " deprecated and marked for removal\n",
        "        return new Integer(1);\n",
        "               ^\n",
        "1 error\n",
        "1 warning\n",
        "\n",
        "FAILURE: Build failed with an exception.\n",
    ]

    findings = parse("kotlin", "build", lines, workdir=WORKDIR)

    assert places(findings) == [
        ("lint", "src/main/java/App.java", 3, None),
        ("lint", "/opt/shared/Gen.java", 7, "removal"),
    ]
    assert [f.column for f in findings] == [18, 16]
    assert [f.outside for f in findings] == [False, True]


def test_a_header_without_source_line_still_counts() -> None:
    lines = [
        "src/A.java:1: error: class B is public, should be declared in B.java\n",
        "src/A.java:4: error: cannot find symbol\n",
    ]

    findings = parse("java", "build", lines)

    assert places(findings) == [
        ("lint", "src/A.java", 1, None),
        ("lint", "src/A.java", 4, None),
    ]
    assert [f.column for f in findings] == [None, None]


def test_crlf_log_reads_the_same() -> None:
    lines = sample_lines("javac", "maven-package.log")

    plain = parse("java", "build", lines, workdir=WORKDIR)
    windows = parse("java", "build", crlf(lines), workdir=WORKDIR)

    assert places(windows) == places(plain)
    assert [f.message for f in windows] == [f.message for f in plain]


def test_killed_build_keeps_what_was_printed() -> None:
    findings = parse("java", "build", half(sample_lines("javac", "javac.log")))

    # Its warnings do not say why it failed: the exit status does.
    assert places(findings) == [
        ("lint", APP, 9, "rawtypes"),
        ("lint", APP, 9, "rawtypes"),
        ("lint", APP, 10, "unchecked"),
        ("recipe_fail", None, None, "exit_1"),
    ]


def test_failure_without_a_place_is_a_recipe_failure() -> None:
    lines = [
        "[INFO] BUILD FAILURE\n",
        "[ERROR] Failed to execute goal on project broken: Could not resolve"
        " dependencies for project com.example:broken:jar:1.0\n",
        "error: invalid source release: 21\n",
        "Note: Some input files use unchecked or unsafe operations.\n",
    ]

    assert places(parse("java", "build", lines)) == [
        ("recipe_fail", None, None, "exit_1")
    ]


@pytest.mark.parametrize(
    ("language", "recipe", "reads"),
    [
        ("java", "build", True),
        ("java", "test", True),
        ("java", "lint", True),
        ("kotlin", "build", True),
        ("java", "audit", False),
        ("c", "build", False),
    ],
    ids=["java-build", "java-test", "java-lint", "kotlin", "audit", "c"],
)
def test_which_jobs_it_reads(language: str, recipe: str, reads: bool) -> None:
    assert (JavacParser in parsers_for(language, recipe)) is reads
