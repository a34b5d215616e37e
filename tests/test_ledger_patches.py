"""Patch attempts in the ledger: numbering, the limit, endings, identities."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crafting_table.errors import Conflict
from crafting_table.ledger import connect, migrate
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import patches as patch_store
from crafting_table.ledger import projects as project_store
from crafting_table.models import ProjectIn
from crafting_table.parsers.base import Finding


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    """A migrated ledger holding project demo."""
    conn = connect(tmp_path / "l.sqlite3")
    migrate(conn)
    spec = ProjectIn.model_validate(
        {"name": "demo", "git_url": "/srv/x.git", "subprojects": [{"lint": "x"}]}
    )
    project_store.insert(conn, spec, "alice", 1.0)
    return conn


def job_with(conn: sqlite3.Connection, identities: list[str]) -> tuple[str, list[int]]:
    """A finished job with one lint finding per identity; its id and theirs."""
    job_id = job_store.new_job_id()
    job_store.insert(
        conn,
        job_id=job_id,
        project="demo",
        owner="alice",
        subproject=".",
        recipe="lint",
        ref=None,
        sha="a" * 40,
        snapshot={"command": "x"},
        log_path="x.log",
        now=1.0,
    )
    found = [
        Finding(kind="lint", severity="warning", message="m", file="a.py", line=n)
        for n in range(1, len(identities) + 1)
    ]
    finding_store.finish_with_findings(
        conn,
        job_id,
        findings=found,
        identities=identities,
        status="failed",
        exit_code=1,
        error=None,
        log_bytes=0,
        now=2.0,
    )
    return job_id, [f.id for f in finding_store.for_job(conn, job_id)]


def start(conn: sqlite3.Connection, job_id: str, finding_id: int) -> int:
    row = patch_store.start(
        conn,
        finding_id=finding_id,
        job_id=job_id,
        project="demo",
        owner="alice",
        branch="b",
        max_attempts=2,
        now=3.0,
    )
    return row.id


def test_attempts_are_numbered_up_to_the_limit(conn: sqlite3.Connection) -> None:
    job_id, [finding] = job_with(conn, ["x"])

    first = start(conn, job_id, finding)
    with pytest.raises(Conflict, match=f"has patch attempt {first} under way"):
        start(conn, job_id, finding)
    patch_store.advance(conn, first, status="failed", now=4.0)
    second = start(conn, job_id, finding)
    patch_store.advance(conn, second, status="failed", now=4.0)
    with pytest.raises(Conflict, match="has had 2 patch attempts"):
        start(conn, job_id, finding)

    rows = [patch_store.get(conn, first), patch_store.get(conn, second)]
    assert [r.attempt_number for r in rows if r] == [1, 2]
    assert patch_store.attempts_by_finding(conn, job_id) == {finding: 2}


def test_an_ended_attempt_never_changes(conn: sqlite3.Connection) -> None:
    job_id, [finding] = job_with(conn, ["x"])
    attempt = start(conn, job_id, finding)

    moved = patch_store.advance(conn, attempt, status="verifying", now=4.0, diff="d")
    ended = patch_store.advance(conn, attempt, status="failed", now=5.0, error="e")
    late = patch_store.advance(conn, attempt, status="pr_opened", now=6.0)

    assert moved is not None
    assert (moved.status, moved.diff) == ("verifying", "d")
    assert ended is not None
    assert (ended.status, ended.error, ended.diff) == ("failed", "e", "d")
    assert late is None
    with pytest.raises(ValueError, match="cannot set"):
        patch_store.advance(conn, attempt, status="failed", now=7.0, branch="x")


def test_abandon_fails_only_what_is_under_way(conn: sqlite3.Connection) -> None:
    job_id, [one, two] = job_with(conn, ["x", "y"])
    open_ = start(conn, job_id, one)
    done = start(conn, job_id, two)
    patch_store.advance(conn, done, status="pr_opened", now=4.0, pr_url="u")

    count = patch_store.abandon_unfinished(conn, "stopped", 5.0)

    assert count == 1
    row, kept = patch_store.get(conn, open_), patch_store.get(conn, done)
    assert row is not None
    assert (row.status, row.error) == ("failed", "stopped")
    assert kept is not None
    assert kept.status == "pr_opened"


@pytest.mark.parametrize(
    ("endings", "settled"),
    [
        pytest.param(["failed"], set(), id="one-failure"),
        pytest.param(["failed", "apply_failed"], {"x"}, id="limit-reached"),
        pytest.param(["pr_opened"], {"x"}, id="pull-request-open"),
        pytest.param([None], {"x"}, id="under-way"),
    ],
)
def test_settled_identities_span_jobs(
    conn: sqlite3.Connection, endings: list[str | None], settled: set[str]
) -> None:
    for ending in endings:
        job_id, [finding] = job_with(conn, ["x"])
        attempt = start(conn, job_id, finding)
        if ending:
            patch_store.advance(conn, attempt, status=ending, now=4.0)

    assert patch_store.settled_identities(conn, "demo", 2) == settled
