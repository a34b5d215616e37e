"""pytest terminal output: captured with --tb=line, and real runs of pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    # Collection and fixture errors count. A collection error keeps its
    # traceback whatever --tb says; a fixture error has no place under it.
    ("tests/test_broken_import.py", "tests/test_broken_import.py", 1),
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


# A project whose tests go wrong in every way pytest reports apart from a
# plain failure, written afresh for each run of real pytest below.
BROKEN_PROJECT = {
    "tests/test_broken.py": "import nonexistent_module_xyz\n",
    "tests/test_syntax.py": "def test_ok():\n    pass\n\n\ndef test_bad(:\n",
    "tests/test_fixtures.py": """import pytest


@pytest.fixture
def db():
    raise RuntimeError("database is down")


@pytest.fixture
def conn():
    yield 1
    raise OSError("close failed")


def test_x(db):
    pass


class TestGroup:
    def test_y(self, db):
        pass


def test_z(conn):
    pass


def test_missing(nothere):
    pass


def helper(x):
    assert x > 0, "x must be positive"


def test_helper():
    helper(-1)
""",
}


def by_name(node: str) -> str:
    """A test as the head of its FAILURES or ERRORS block names it."""
    return node.split("::", 1)[-1].replace("::", ".")


def run_pytest(project: Path, files: dict[str, str], *args: str) -> list[str]:
    """Run the real pytest in ``project`` holding ``files``; its log lines."""
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    # The outer run's settings and plugins stay out of the inner one.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.splitlines(keepends=True)


BROKEN_FOUND = {
    (
        "tests/test_broken.py",
        "tests/test_broken.py",
        1,
        "tests/test_broken.py: "
        "ModuleNotFoundError: No module named 'nonexistent_module_xyz'",
    ),
    (
        "tests/test_syntax.py",
        "tests/test_syntax.py",
        5,
        "tests/test_syntax.py: SyntaxError: invalid syntax",
    ),
    (
        "tests/test_fixtures.py::test_x",
        "tests/test_fixtures.py",
        6,
        "tests/test_fixtures.py::test_x: RuntimeError: database is down",
    ),
    (
        "tests/test_fixtures.py::TestGroup::test_y",
        "tests/test_fixtures.py",
        6,
        "tests/test_fixtures.py::TestGroup::test_y: RuntimeError: database is down",
    ),
    (
        "tests/test_fixtures.py::test_z",
        "tests/test_fixtures.py",
        12,
        "tests/test_fixtures.py::test_z: OSError: close failed",
    ),
    (
        "tests/test_fixtures.py::test_missing",
        "tests/test_fixtures.py",
        28,
        "tests/test_fixtures.py::test_missing: fixture 'nothere' not found",
    ),
    (
        "tests/test_fixtures.py::test_helper",
        "tests/test_fixtures.py",
        33,
        "tests/test_fixtures.py::test_helper: AssertionError: x must be positive",
    ),
}


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="default"),
        pytest.param(("-q",), id="quiet"),
        pytest.param(("-rA",), id="all-outcomes"),
        pytest.param(("-v",), id="verbose"),
        pytest.param(("--tb=short",), id="tb-short"),
        pytest.param(("--tb=long",), id="tb-long"),
        pytest.param(("-rN",), id="no-summary"),
    ],
)
def test_collection_and_setup_errors_carry_reason_and_place(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    log = run_pytest(
        tmp_path, BROKEN_PROJECT, *args, "--continue-on-collection-errors", "tests"
    )
    findings = parse("python", "test", log, workdir=tmp_path)
    found = {(f.raw["test_id"], f.file, f.line, f.message) for f in findings}
    expected = BROKEN_FOUND
    if args == ("-rN",):
        # Without a summary a block names a test as its head does.
        expected = {
            (by_name(t), f, n, m.replace(t, by_name(t), 1))
            for t, f, n, m in BROKEN_FOUND
        }
    assert found == expected
    assert {f.kind for f in findings} == {"test_fail"}


def test_tb_line_keeps_the_reason_of_every_error(tmp_path: Path) -> None:
    log = run_pytest(
        tmp_path,
        BROKEN_PROJECT,
        "--tb=line",
        "--continue-on-collection-errors",
        "tests",
    )
    findings = parse("python", "test", log, workdir=tmp_path)
    # --tb=line drops the traceback of a fixture error, not its reason; a
    # collection error and a missing fixture still show where.
    unplaced = {
        "tests/test_fixtures.py::test_x",
        "tests/test_fixtures.py::TestGroup::test_y",
        "tests/test_fixtures.py::test_z",
    }
    expected = {(t, f, None if t in unplaced else n) for t, f, n, _ in BROKEN_FOUND}
    assert {(f.raw["test_id"], f.file, f.line) for f in findings} == expected
    assert {f.message for f in findings} == {m for *_, m in BROKEN_FOUND}


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        pytest.param(
            "import missing_plugin_abc\n",
            1,
            "ModuleNotFoundError: No module named 'missing_plugin_abc'",
            id="import",
        ),
        pytest.param("def f(:\n", 1, "SyntaxError: invalid syntax", id="syntax"),
        pytest.param(
            "X = 1\nraise RuntimeError('conftest exploded')\n",
            2,
            "RuntimeError: conftest exploded",
            id="raise",
        ),
    ],
)
@pytest.mark.parametrize("args", [(), ("-q",)], ids=["default", "quiet"])
def test_conftest_that_cannot_load_is_named(
    tmp_path: Path, source: str, line: int, reason: str, args: tuple[str, ...]
) -> None:
    files = {
        "tests/conftest.py": source,
        "tests/test_a.py": "def test_a():\n    pass\n",
    }
    log = run_pytest(tmp_path, files, *args, "tests")
    (finding,) = parse("python", "test", log, workdir=tmp_path, exit_code=4)
    assert (finding.kind, finding.file, finding.line, finding.message) == (
        "test_fail",
        "tests/conftest.py",
        line,
        f"tests/conftest.py: {reason}",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("--no-such-option", "tests"),
            "unrecognized arguments: --no-such-option",
            id="option",
        ),
        pytest.param(
            ("tests/missing_dir",),
            "file or directory not found: tests/missing_dir",
            id="path",
        ),
        pytest.param(
            ("-q", "tests/test_a.py::test_nope"),
            "not found: {project}/tests/test_a.py::test_nope",
            id="node",
        ),
    ],
)
def test_usage_error_is_a_recipe_failure_with_its_reason(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    files = {"tests/test_a.py": "def test_a():\n    pass\n"}
    log = run_pytest(tmp_path, files, *args)
    (finding,) = parse("python", "test", log, workdir=tmp_path, exit_code=4)
    assert (finding.kind, finding.code, finding.tool, finding.message) == (
        "recipe_fail",
        "usage_error",
        "pytest",
        "pytest usage error: " + message.format(project=tmp_path),
    )


def test_error_lines_of_another_tool_are_no_usage_error() -> None:
    log = ["ERROR: Could not find a version that satisfies the requirement x\n"]
    (finding,) = parse("python", "build", log, exit_code=1)
    assert (finding.tool, finding.code) == ("generic", "exit_1")
