"""Findings against the previous run: which run that is, and when nothing
counts as fixed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crafting_table.ledger import connect, migrate
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.ledger.schema import MIGRATIONS
from crafting_table.models import ProjectIn
from crafting_table.parsers.base import Finding
from crafting_table.parsers.identity import identities


def lint(code: str | None, severity: str = "warning", line: int = 3) -> Finding:
    return Finding(
        kind="lint",
        severity=severity,  # type: ignore[arg-type]
        message=f"{code} here",
        file="src/lib.rs",
        line=line,
        code=code,
        tool="clippy",
    )


RECIPE_FAIL = Finding(
    kind="recipe_fail", severity="error", message="exited", code="exit_101"
)
TEST_FAIL = Finding(kind="test_fail", severity="error", message="t", code=None)


def errored(test_id: str, tool: str = "pytest", message: str = "boom") -> Finding:
    """A test that pytest (or a JUnit report) says errored, not failed."""
    return Finding(
        kind="test_fail",
        severity="error",
        message=f"{test_id}: {message}",
        tool=tool,
        raw={"test_id": test_id, "outcome": "ERROR"},
    )


@pytest.mark.parametrize(
    ("recipe", "status", "found", "stopped"),
    [
        pytest.param(
            "lint", "succeeded", [lint("clippy::len_zero")], False, id="warnings"
        ),
        pytest.param(
            "lint",
            "failed",
            [lint("clippy::len_zero", "error")],
            False,
            id="denied-lint",
        ),
        pytest.param(
            "lint",
            "failed",
            [lint("unused_imports", "error")],
            False,
            id="denied-rustc-lint",
        ),
        pytest.param(
            "lint", "failed", [lint("E0425", "error")], True, id="rustc-error-code"
        ),
        pytest.param(
            "lint", "failed", [lint(None, "error")], True, id="error-without-code"
        ),
        pytest.param(
            "lint", "failed", [lint("invalid-syntax", "error")], True, id="ruff-syntax"
        ),
        pytest.param(
            "lint", "failed", [lint("typecheck", "error")], True, id="go-typecheck"
        ),
        pytest.param("test", "failed", [TEST_FAIL], False, id="failing-tests"),
        pytest.param(
            "test",
            "failed",
            [TEST_FAIL, errored("tests/test_x.py")],
            True,
            id="pytest-collection-error",
        ),
        pytest.param(
            "test",
            "failed",
            [errored("tests/test_x.py::test_y")],
            False,
            id="pytest-fixture-error",
        ),
        pytest.param(
            "test",
            "failed",
            [errored("tests.test_x", "junit", "collection failure: ImportError")],
            True,
            id="junit-collection-failure",
        ),
        pytest.param(
            "test", "failed", [lint("TS2304", "error")], True, id="test-build-error"
        ),
        pytest.param(
            "build", "failed", [lint("TS2304", "error")], True, id="build-error"
        ),
        pytest.param("test", "failed", [lint("dead_code")], False, id="build-warning"),
        pytest.param("audit", "failed", [RECIPE_FAIL], True, id="recipe-fail"),
        pytest.param(
            "lint", "timed_out", [lint("clippy::len_zero")], True, id="timed-out"
        ),
    ],
)
def test_when_a_run_stopped_short(
    recipe: str, status: str, found: list[Finding], stopped: bool
) -> None:
    reason = finding_store.stopped_short(recipe, status, found)

    assert (reason is not None) == stopped, reason


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    opened = connect(tmp_path / "ledger.sqlite3")
    migrate(opened)
    spec = ProjectIn.model_validate(
        {"name": "demo", "git_url": "/srv/demo.git", "subprojects": [{"lint": "x"}]}
    )
    project_store.insert(opened, spec, "admin", 1.0)
    return opened


def run(
    conn: sqlite3.Connection,
    found: list[Finding],
    *,
    ref: str | None = "main",
    status: str = "failed",
    at: float,
) -> JobRow:
    """A lint job of ``demo`` at ``ref`` that ended with ``found``."""
    job_id = job_store.new_job_id(at)
    job_store.insert(
        conn,
        job_id=job_id,
        project="demo",
        owner="admin",
        subproject=".",
        recipe="lint",
        ref=ref,
        sha=None,
        snapshot={"recipe": "lint", "command": "x"},
        log_path=f"logs/demo/{job_id}.log",
        now=at,
    )
    job_store.claim(conn, job_id, "mark", at)
    row = finding_store.finish_with_findings(
        conn,
        job_id,
        findings=found,
        identities=identities(found, lambda _file, _line: None),
        status=status,
        exit_code=1,
        error=None,
        log_bytes=0,
        now=at + 1,
    )
    assert row is not None
    return row


def test_each_ref_is_compared_with_its_own_runs(conn: sqlite3.Connection) -> None:
    old_default = run(conn, [lint("a"), lint("b", line=4)], ref=None, at=10)
    on_main = run(conn, [lint("a")], at=20)
    on_side = run(conn, [], ref="side", at=30)
    at_commit = run(conn, [lint("a")], ref=None, at=40)
    main_again = run(conn, [], at=50)

    def seen(job: JobRow) -> tuple[str | None, list[str | None]]:
        compared = finding_store.compare(conn, job)
        previous = compared.previous.id if compared.previous else None
        return previous, [f.code for f in compared.fixed]

    assert seen(on_side) == (None, [])
    assert seen(at_commit) == (old_default.id, ["b"])
    assert seen(main_again) == (on_main.id, ["a"])


def test_a_run_that_stopped_short_fixes_nothing_and_is_no_baseline(
    conn: sqlite3.Connection,
) -> None:
    warned = run(
        conn, [lint("clippy::len_zero"), lint("clippy::ptr_arg", line=4)], at=10
    )
    broken = run(conn, [lint("E0425", "error", line=9)], at=20)
    still = run(conn, [lint("E0425", "error", line=9)], at=30)
    mended = run(conn, [lint("clippy::len_zero")], at=40)

    first_broken = finding_store.compare(conn, broken)
    assert first_broken.fixed == []
    assert first_broken.fixed_withheld is not None
    assert "E0425" in first_broken.fixed_withheld
    assert [s for _f, s in first_broken.states] == ["new"]
    still_broken = finding_store.compare(conn, still)
    assert still_broken.previous is not None
    assert still_broken.previous.id == warned.id
    assert [s for _f, s in still_broken.states] == ["persisting"]
    after = finding_store.compare(conn, mended)
    assert after.previous is not None
    assert after.previous.id == warned.id
    assert after.fixed_withheld is None
    assert [s for _f, s in after.states] == ["persisting"]
    assert [f.code for f in after.fixed] == ["clippy::ptr_arg"]


def test_jobs_finished_before_the_migration_are_judged_by_it(tmp_path: Path) -> None:
    conn = connect(tmp_path / "ledger.sqlite3")
    for number, script in enumerate(MIGRATIONS[:4]):
        conn.executescript(f"{script}\nPRAGMA user_version = {number + 1};")
    conn.execute("INSERT INTO projects VALUES ('demo', 'admin', '{}', 1.0, 1.0)")
    jobs = {
        "a-clean": ("lint", "failed", ("lint", "error", "clippy::len_zero")),
        "b-compile": ("lint", "failed", ("lint", "error", "E0425")),
        "c-test-build": ("test", "failed", ("lint", "error", "TS2304")),
        "d-unexplained": ("audit", "failed", ("recipe_fail", "error", "exit_1")),
        "e-deadline": ("lint", "timed_out", None),
    }
    for job_id, (recipe, status, finding) in jobs.items():
        conn.execute(
            "INSERT INTO jobs (id, project_name, owner, subproject, recipe, status,"
            " exit_code, recipe_snapshot_json, created_at, log_path)"
            " VALUES (?, 'demo', 'admin', '.', ?, ?, 1, '{}', 1.0, 'x.log')",
            (job_id, recipe, status),
        )
        if finding is not None:
            conn.execute(
                "INSERT INTO findings (job_id, kind, severity, code, message,"
                " fingerprint, identity, created_at) VALUES (?, ?, ?, ?, 'm', 'f',"
                " 'i', 1.0)",
                (job_id, *finding),
            )

    migrate(conn)

    rows = conn.execute("SELECT id, stopped_short FROM jobs ORDER BY id")
    assert [(r[0], r[1] is not None) for r in rows] == [
        ("a-clean", False),
        ("b-compile", True),
        ("c-test-build", True),
        ("d-unexplained", True),
        ("e-deadline", True),
    ]


def test_a_run_that_did_not_finish_its_tool_fixes_nothing(
    conn: sqlite3.Connection,
) -> None:
    run(conn, [lint("clippy::len_zero")], at=10)
    canceled = run(conn, [], status="canceled", at=20)
    unparsed = run(conn, [], status="failed", at=30)
    conn.execute("UPDATE jobs SET parsed = 0 WHERE id = ?", (unparsed.id,))

    for job_id in (canceled.id, unparsed.id):
        job = job_store.get(conn, job_id)
        assert job is not None
        compared = finding_store.compare(conn, job)
        assert compared.fixed == []
        assert compared.fixed_withheld is not None
