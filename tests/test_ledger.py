"""The ledger file: pragmas, migrations, transactions, cascades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crafting_table.errors import Conflict, LedgerError
from crafting_table.ledger import BUSY_TIMEOUT_MS, Ledger, connect, migrate
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger import tokens as token_store
from crafting_table.ledger.schema import MIGRATIONS
from crafting_table.models import ProjectIn


def spec(name: str = "demo") -> ProjectIn:
    return ProjectIn.model_validate(
        {"name": name, "git_url": "/srv/x.git", "subprojects": [{"test": "true"}]}
    )


async def test_pragmas_and_schema_version(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")

    def pragmas(conn: sqlite3.Connection) -> tuple[str, int, int, int]:
        return (
            conn.execute("PRAGMA journal_mode").fetchone()[0],
            conn.execute("PRAGMA synchronous").fetchone()[0],
            conn.execute("PRAGMA foreign_keys").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
        )

    assert await ledger.read(pragmas) == ("wal", 1, 1, len(MIGRATIONS))
    await ledger.aclose()


async def test_every_connection_waits_for_a_busy_file(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")

    def busy_timeout(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA busy_timeout").fetchone()[0])

    # Without it a connection that meets another's lock (another process, a
    # checkpoint) fails at once with "database is locked" instead of waiting.
    assert await ledger.write(busy_timeout) == BUSY_TIMEOUT_MS > 0
    assert await ledger.read(busy_timeout) == BUSY_TIMEOUT_MS
    await ledger.aclose()


async def test_a_failed_write_rolls_back(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        project_store.insert(conn, spec(), "alice", 1.0)
        raise Conflict("on purpose")

    with pytest.raises(Conflict):
        await ledger.write(insert_then_fail)

    assert await ledger.read(project_store.get, "demo") is None
    await ledger.aclose()


async def test_delete_cascades_to_jobs(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    await ledger.write(project_store.insert, spec(), "alice", 1.0)
    row = await ledger.write(
        job_store.insert,
        job_id=job_store.new_job_id(),
        project="demo",
        owner="alice",
        subproject=".",
        recipe="test",
        ref=None,
        sha=None,
        snapshot={"command": "true"},
        log_path="logs/demo/x.log",
        now=1.0,
    )

    await ledger.write(project_store.delete, "demo")

    assert await ledger.read(job_store.get, row.id) is None
    await ledger.aclose()


async def test_taken_names_conflict(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    await ledger.write(project_store.insert, spec(), "alice", 1.0)
    await ledger.write(token_store.mint, "bob", "h1", False, [], 1.0)

    with pytest.raises(Conflict, match="project named 'demo' exists"):
        await ledger.write(project_store.insert, spec(), "bob", 2.0)
    with pytest.raises(Conflict, match="token named 'bob' exists"):
        await ledger.write(token_store.mint, "bob", "h2", False, [], 2.0)
    await ledger.aclose()


def test_a_newer_ledger_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "l.sqlite3")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")

    with pytest.raises(LedgerError, match="upgrade crafting-table"):
        migrate(conn)


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    conn = connect(tmp_path / "l.sqlite3")

    assert migrate(conn) == migrate(conn) == len(MIGRATIONS)


def test_job_ids_sort_by_time() -> None:
    ids = [job_store.new_job_id(t) for t in (1.0, 2.0, 1000.0, 1e9)]

    assert ids == sorted(ids)
    assert len({job_store.new_job_id(5.0) for _ in range(1000)}) == 1000
