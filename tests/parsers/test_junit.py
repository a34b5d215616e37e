"""JUnit XML reports in the report folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.parsers.support import SAMPLES, parse


def test_failures_and_errors_from_pytest_report(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "junit" / "pytest.xml", tmp_path / "junit.xml")
    findings = parse("rust", "test", [], reports_dir=tmp_path)
    assert [f.raw["test_id"] for f in findings] == [
        "tests.test_broken_import",
        "tests.test_calc.test_add",
        "tests.test_calc.test_helper[-1]",
        "tests.test_calc.test_raises",
        "tests.test_calc.test_fixture",
        "tests.test_ünï.test_ünïcode",
    ]
    assert [f.raw["outcome"] for f in findings] == [
        "error",
        "failure",
        "failure",
        "failure",
        "error",
        "failure",
    ]
    assert findings[1].message == "tests.test_calc.test_add: assert (1 + 1) == 3"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            '<testsuite><testcase classname="a.B" name="t" file="src/a.py" line="7">'
            '<failure message="nope"/></testcase><testcase name="ok"/></testsuite>',
            [("a.B.t", "src/a.py", 7)],
            id="file-and-line-attributes",
        ),
        pytest.param(
            '<testsuites><testsuite><testcase name="t1"><error>trace\nmore</error>'
            '</testcase><testcase name="t2"><failure',
            [("t1", None, None)],
            id="truncated-file-keeps-what-was-read",
        ),
        pytest.param(
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            '<testsuite><testcase name="t"><failure message="&a;"/>'
            "</testcase></testsuite>",
            [],
            id="dtd-is-refused",
        ),
        pytest.param("\x00\x01 not xml", [], id="garbage"),
    ],
)
def test_report_files(
    tmp_path: Path, content: str, expected: list[tuple[str, str | None, int | None]]
) -> None:
    (tmp_path / "report.xml").write_text(content, encoding="utf-8")
    findings = parse("python", "test", [], exit_code=0, reports_dir=tmp_path)
    assert [(f.raw["test_id"], f.file, f.line) for f in findings] == expected


def test_a_collection_error_says_what_was_raised_and_where(tmp_path: Path) -> None:
    project, reports = tmp_path / "project", tmp_path / "reports"
    (project / "tests").mkdir(parents=True)
    reports.mkdir()
    (project / "tests" / "test_broken.py").write_text(
        '"""A module whose import fails."""\n\nimport nonexistent_module_xyz\n'
    )
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", f"--junitxml={reports / 'r.xml'}"],
        cwd=project,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        check=False,
        timeout=120,
    )

    [finding] = parse("python", "test", [], workdir=project, reports_dir=reports)

    assert finding.message == (
        "tests.test_broken: collection failure: "
        "ModuleNotFoundError: No module named 'nonexistent_module_xyz'"
    )
    assert (finding.file, finding.line) == ("tests/test_broken.py", 3)
