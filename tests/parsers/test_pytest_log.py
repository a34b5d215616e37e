"""pytest --tb=line terminal output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.parsers.support import SAMPLES, SRC, crlf, parse, sample_lines

PYT = SRC / "pyt"

EXPECTED = [
    ("tests/test_calc.py::test_add", "tests/test_calc.py", 13),
    # The assertion failed in a helper of the same file: that line is kept.
    ("tests/test_calc.py::test_helper[-1]", "tests/test_calc.py", 5),
    ("tests/test_calc.py::test_raises", "tests/test_calc.py", 22),
    ("tests/test_ünï.py::test_ünïcode", "tests/test_ünï.py", 2),
    # Collection and fixture errors count; they have no --tb=line place.
    ("tests/test_broken_import.py", "tests/test_broken_import.py", None),
    ("tests/test_calc.py::test_fixture", "tests/test_calc.py", None),
]


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(sample_lines("pytest", "tb-line.log"), id="as-captured"),
        pytest.param(crlf(sample_lines("pytest", "tb-line.log")), id="crlf"),
    ],
)
def test_short_summary_and_tb_lines(lines: list[str]) -> None:
    findings = parse("python", "test", lines, workdir=PYT)
    assert [(f.raw["test_id"], f.file, f.line) for f in findings] == EXPECTED
    assert {f.kind for f in findings} == {"test_fail"}
    assert (
        findings[2].message
        == "tests/test_calc.py::test_raises: ValueError: boom - with dash"
    )


def test_verbose_progress_lines_without_summary() -> None:
    log = [
        "tests/test_a.py::test_one PASSED                     [ 50%]\n",
        "tests/test_a.py::test_two[a - b] FAILED              [100%]\n",
        "[gw1] [100%] ERROR tests/test_b.py::test_three\n",
    ]
    findings = parse("python", "test", log)
    assert [f.raw["test_id"] for f in findings] == [
        "tests/test_a.py::test_two[a - b]",
        "tests/test_b.py::test_three",
    ]


def test_failure_inside_a_library_keeps_the_test_file() -> None:
    log = [
        "=" * 20 + " FAILURES " + "=" * 20 + "\n",
        "/usr/lib/python3/dist-packages/lib.py:10: KeyError: 'k'\n",
        "=" * 20 + " short test summary info " + "=" * 20 + "\n",
        "FAILED tests/test_a.py::test_one - KeyError: 'k'\n",
    ]
    (finding,) = parse("python", "test", log, workdir=Path("/w"))
    assert (finding.file, finding.line, finding.outside) == (
        "tests/test_a.py",
        None,
        False,
    )


SUREFIRE = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.example.CalcTest" tests="2" failures="1" errors="0">
  <testcase name="adds" classname="com.example.CalcTest" time="0.01">
    <failure message="expected: &lt;4&gt; but was: &lt;0&gt;"
      type="org.opentest4j.AssertionFailedError">stack</failure>
  </testcase>
  <testcase name="subtracts" classname="com.example.CalcTest" time="0.0"/>
</testsuite>
"""


def test_junit_report_drops_only_the_tests_the_log_named(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "junit" / "pytest.xml", tmp_path / "report.xml")
    (tmp_path / "TEST-com.example.CalcTest.xml").write_text(SUREFIRE)
    from_log = parse(
        "python",
        "test",
        sample_lines("pytest", "tb-line.log"),
        workdir=PYT,
        reports_dir=tmp_path,
    )
    assert [f.tool for f in from_log] == ["pytest"] * 6 + ["junit"]
    assert from_log[-1].raw["test_id"] == "com.example.CalcTest.adds"
    (tmp_path / "TEST-com.example.CalcTest.xml").unlink()
    from_report = parse(
        "python", "test", ["collected 9 items\n"], workdir=PYT, reports_dir=tmp_path
    )
    assert [f.tool for f in from_report] == ["junit"] * 6
