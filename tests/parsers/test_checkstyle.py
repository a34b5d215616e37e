"""Checkstyle XML reports in the report folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crafting_table.parsers.checkstyle import rule_code
from tests.parsers.support import SAMPLES, SRC, parse, places


def reports_with(tmp_path: Path, sample: str) -> Path:
    """A report folder holding one captured sample, as a recipe copies it."""
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copy(SAMPLES / "checkstyle" / sample, reports / sample)
    return reports


def test_maven_checkstyle_report(tmp_path: Path) -> None:
    reports = reports_with(tmp_path, "maven.xml")

    findings = parse(
        "java", "lint", [], reports_dir=reports, workdir=SRC / "java/styled"
    )

    calc = "src/main/java/com/example/Calc.java"
    assert len(findings) == 16
    assert places(findings)[:3] == [
        ("lint", calc, 3, "AvoidStarImport"),
        ("lint", calc, 5, "MissingJavadocType"),
        ("lint", calc, 6, "Indentation"),
    ]
    assert places(findings)[-2:] == [
        ("lint", "src/main/java/com/example/Ümlaut.java", 3, "TypeName"),
        ("lint", "src/main/java/com/example/Ümlaut.java", 4, "MemberName"),
    ]
    assert {f.severity for f in findings} == {"warning"}
    assert {f.tool for f in findings} == {"checkstyle"}
    assert not any(f.outside for f in findings)
    first = findings[0]
    assert first.column == 17
    assert first.message == (
        "Using the '.*' form of import should be avoided - java.util.*."
    )
    assert first.raw == {
        "source": "com.puppycrawl.tools.checkstyle.checks.imports.AvoidStarImportCheck",
        "severity": "warning",
        "report": "maven.xml",
    }
    # A check configured with an id reports the id as its source.
    assert ("lint", calc, 6, "RightCurlyAlone") in places(findings)


def test_eslint_checkstyle_report(tmp_path: Path) -> None:
    reports = reports_with(tmp_path, "eslint.xml")

    findings = parse(
        "javascript", "lint", [], reports_dir=reports, workdir=SRC / "ts/lintcs"
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


def test_junit_report_beside_it_is_left_to_the_junit_parser(tmp_path: Path) -> None:
    reports = reports_with(tmp_path, "maven.xml")
    shutil.copy(SAMPLES / "junit" / "pytest.xml", reports / "junit.xml")

    findings = parse(
        "java", "lint", [], reports_dir=reports, workdir=SRC / "java/styled"
    )

    assert [f.tool for f in findings] == ["checkstyle"] * 16 + ["junit"] * 6


def test_symlinked_report_is_not_read(tmp_path: Path) -> None:
    outside = reports_with(tmp_path, "maven.xml")
    reports = tmp_path / "linked"
    reports.mkdir()
    (reports / "checkstyle-result.xml").symlink_to(outside / "maven.xml")

    assert parse("java", "lint", [], exit_code=0, reports_dir=reports) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            '<checkstyle><file name="/elsewhere/A.java">'
            '<error line="2" severity="ignore" message="m" source="x.Y"/>'
            "</file></checkstyle>",
            [("/elsewhere/A.java", 2, "x.Y", True, None)],
            id="outside-the-subproject-and-ignored-severity",
        ),
        pytest.param(
            '<checkstyle><file name="/work/project/a.php">'
            '<error line="0" column="x" severity="fatal" message="m"/>'
            "</file></checkstyle>",
            [("a.php", None, None, False, "warning")],
            id="no-line-no-source-unknown-severity",
        ),
        pytest.param(
            '<checkstyle><file name="/work/project/a.php">'
            '<error line="4" severity="error" message="kept"/>'
            '<error line="5" severity="error" mess',
            [("a.php", 4, None, False, "error")],
            id="truncated-file-keeps-what-was-read",
        ),
        pytest.param(
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            '<checkstyle><file name="a.php"><error line="1" message="&a;"/>'
            "</file></checkstyle>",
            [],
            id="dtd-is-refused",
        ),
        pytest.param(
            '<testsuite><file name="a.php"><error line="1" message="m"/></file>'
            "</testsuite>",
            [],
            id="another-root-element",
        ),
        # What a Maven run whose checkstyle:check crashed leaves behind.
        pytest.param("", [], id="empty-file"),
        pytest.param("\x00\x01 not xml", [], id="garbage"),
    ],
)
def test_report_files(
    tmp_path: Path,
    content: str,
    expected: list[tuple[str | None, int | None, str | None, bool, str | None]],
) -> None:
    (tmp_path / "checkstyle.xml").write_text(content, encoding="utf-8")

    findings = parse("php", "lint", [], exit_code=0, reports_dir=tmp_path)

    assert [(f.file, f.line, f.code, f.outside, f.severity) for f in findings] == (
        expected
    )


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("com.puppycrawl.tools.checkstyle.checks.naming.TypeNameCheck", "TypeName"),
        ("RightCurlyAlone", "RightCurlyAlone"),
        ("eslint.rules.no-unused-vars", "no-unused-vars"),
        ("variable.undefined", "variable.undefined"),
        ("", None),
        (None, None),
    ],
    ids=["checkstyle-class", "checkstyle-id", "eslint", "phpstan", "empty", "none"],
)
def test_rule_code(source: str | None, code: str | None) -> None:
    assert rule_code(source) == code
