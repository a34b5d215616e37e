"""Jobs: the durable queue and the history of every run.

A job row is written ``queued`` before the API acknowledges it; the Runner
claims it (``running``) and the Parser finishes it (a terminal status in
the same transaction as its findings), so a reader never sees a finished
job without its findings.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from crafting_table.ledger.pages import newest_first
from crafting_table.models import JobOut

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_job_id(now: float | None = None) -> str:
    """A 20-character id that sorts by creation time (ms), then randomly.

    Sortable ids make ``before=<id>`` a stable pagination cursor and keep
    the queue's ``ORDER BY id`` first-come first-served.
    """
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 52) | int.from_bytes(os.urandom(7), "big") >> 4
    chars = []
    for _ in range(20):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars)).lower()


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as the ledger keeps it."""

    id: str
    project_name: str
    owner: str
    subproject: str
    recipe: str
    ref: str | None
    sha: str | None
    status: str
    exit_code: int | None
    error: str | None
    snapshot: dict[str, Any]
    trigger: str
    retry_of: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    findings_count: int
    log_path: str
    log_bytes: int
    pgid: int | None
    proc_start: int | None
    kill_mark: str | None
    # Why its tool stopped before looking at everything, or None; see
    # ledger.findings.stopped_short.
    stopped_short: str | None = None
    # Whether its log was read into findings (False after a failed parse).
    parsed: bool = True

    @property
    def command(self) -> str:
        """The shell command snapshotted at enqueue time."""
        return str(self.snapshot.get("command", ""))

    @property
    def timeout_secs(self) -> int:
        """The deadline snapshotted at enqueue time."""
        return int(self.snapshot.get("timeout_secs", 1800))

    @property
    def language(self) -> str:
        """The subproject's language at enqueue time."""
        return str(self.snapshot.get("language", "generic"))

    def ending(self) -> dict[str, object]:
        """How the job ended, as the log tail's last frame tells it."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "findings_count": self.findings_count,
        }

    def to_dict(self) -> dict[str, Any]:
        """The API view of this job as plain data (the fields of ``JobOut``)."""
        from crafting_table.models import iso

        duration = None
        if self.started_at is not None and self.finished_at is not None:
            duration = round(self.finished_at - self.started_at, 3)
        return {
            "id": self.id,
            "project": self.project_name,
            "subproject": self.subproject,
            "recipe": self.recipe,
            "ref": self.ref,
            "sha": self.sha,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "trigger": self.trigger,
            "retry_of": self.retry_of,
            "command": self.command,
            "timeout_secs": self.timeout_secs,
            "findings_count": self.findings_count,
            "log_bytes": self.log_bytes,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_secs": duration,
        }

    def to_out(self) -> JobOut:
        """The API view of this job.

        Built without validation: every field comes from the ledger, written
        by our own code.
        """
        return JobOut.model_construct(**self.to_dict())


def _row(row: sqlite3.Row) -> JobRow:
    return JobRow(
        id=row["id"],
        project_name=row["project_name"],
        owner=row["owner"],
        subproject=row["subproject"],
        recipe=row["recipe"],
        ref=row["ref"],
        sha=row["sha"],
        status=row["status"],
        exit_code=row["exit_code"],
        error=row["error"],
        snapshot=json.loads(row["recipe_snapshot_json"]),
        trigger=row["trigger"],
        retry_of=row["retry_of"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        findings_count=row["findings_count"],
        log_path=row["log_path"],
        log_bytes=row["log_bytes"],
        pgid=row["pgid"],
        proc_start=row["proc_start"],
        kill_mark=row["kill_mark"],
        stopped_short=row["stopped_short"],
        parsed=bool(row["parsed"]),
    )


def insert(
    conn: sqlite3.Connection,
    *,
    job_id: str,
    project: str,
    owner: str,
    subproject: str,
    recipe: str,
    ref: str | None,
    sha: str | None,
    snapshot: dict[str, Any],
    log_path: str,
    now: float,
    trigger: str = "api",
    retry_of: str | None = None,
) -> JobRow:
    """Queue a new job and return its row."""
    conn.execute(
        "INSERT INTO jobs (id, project_name, owner, subproject, recipe, ref, sha,"
        " status,"
        " recipe_snapshot_json, trigger, retry_of, created_at, log_path)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
        (
            job_id,
            project,
            owner,
            subproject,
            recipe,
            ref,
            sha,
            json.dumps(snapshot),
            trigger,
            retry_of,
            now,
            log_path,
        ),
    )
    row = get(conn, job_id)
    assert row is not None
    return row


def get(conn: sqlite3.Connection, job_id: str) -> JobRow | None:
    """The job ``job_id``, or None."""
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _row(row) if row else None


def list_visible(
    conn: sqlite3.Connection,
    *,
    owner: str | None,
    project: str | None,
    status: str | None,
    recipe: str | None,
    before: str | None,
    limit: int,
) -> list[JobRow]:
    """Jobs newest first; ``owner=None`` means every owner (admin)."""
    filters = {
        "owner": owner,
        "project_name": project,
        "status": status,
        "recipe": recipe,
    }
    return [_row(r) for r in newest_first(conn, "jobs", filters, before, limit)]


@dataclass(frozen=True, slots=True)
class QueueHead:
    """The oldest queued job of one project, with the project's job limit."""

    project: str
    job_id: str
    limit: int | None


def queue_heads(conn: sqlite3.Connection) -> list[QueueHead]:
    """For each project with queued jobs: its oldest one and its job limit."""
    rows = conn.execute(
        "SELECT q.project_name, q.head,"
        " json_extract(p.spec_json, '$.max_concurrent_jobs')"
        " FROM (SELECT project_name, MIN(id) AS head FROM jobs"
        "       WHERE status = 'queued' GROUP BY project_name) AS q"
        " JOIN projects AS p ON p.name = q.project_name"
    )
    return [QueueHead(r[0], r[1], r[2]) for r in rows]


def queued_count(conn: sqlite3.Connection) -> int:
    """How many jobs wait in the queue."""
    return int(
        conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0]
    )


def claim(
    conn: sqlite3.Connection, job_id: str, kill_mark: str, now: float
) -> JobRow | None:
    """Move a queued job to running; None if someone else got there first."""
    cursor = conn.execute(
        "UPDATE jobs SET status = 'running', started_at = ?, kill_mark = ?"
        " WHERE id = ? AND status = 'queued'",
        (now, kill_mark, job_id),
    )
    return get(conn, job_id) if cursor.rowcount == 1 else None


def record_process(
    conn: sqlite3.Connection,
    job_id: str,
    sha: str | None,
    pgid: int | None,
    proc_start: int | None,
) -> None:
    """Remember the commit, and the recipe's process group so that a
    restart can kill what is left of it."""
    conn.execute(
        "UPDATE jobs SET sha = COALESCE(?, sha), pgid = ?, proc_start = ? WHERE id = ?",
        (sha, pgid, proc_start, job_id),
    )


def record_sha(conn: sqlite3.Connection, job_id: str, sha: str) -> None:
    """Remember the commit a job resolved to."""
    conn.execute("UPDATE jobs SET sha = ? WHERE id = ?", (sha, job_id))


def finish(
    conn: sqlite3.Connection,
    job_id: str,
    *,
    status: str,
    exit_code: int | None,
    error: str | None,
    log_bytes: int,
    findings_count: int,
    now: float,
    parsed: bool = False,
    stopped_short: str | None = None,
) -> JobRow | None:
    """Give a job its terminal status; None if it was already terminal.

    ``parsed`` says whether its log was read into findings, and
    ``stopped_short`` why its tool did not get to look at everything (see
    :func:`previous_finished`).
    """
    cursor = conn.execute(
        "UPDATE jobs SET status = ?, exit_code = ?, error = ?, log_bytes = ?,"
        " findings_count = ?, finished_at = ?, pgid = NULL, parsed = ?,"
        " stopped_short = ?"
        " WHERE id = ? AND status IN ('queued', 'running')",
        (
            status,
            exit_code,
            error,
            log_bytes,
            findings_count,
            now,
            parsed,
            stopped_short,
            job_id,
        ),
    )
    return get(conn, job_id) if cursor.rowcount == 1 else None


def cancel_queued(
    conn: sqlite3.Connection, job_id: str, now: float, reason: str
) -> JobRow | None:
    """Cancel a job that has not started, ``reason`` its error; None when it
    is not queued."""
    cursor = conn.execute(
        "UPDATE jobs SET status = 'canceled', finished_at = ?, error = ?"
        " WHERE id = ? AND status = 'queued'",
        (now, reason, job_id),
    )
    return get(conn, job_id) if cursor.rowcount == 1 else None


def stranded(conn: sqlite3.Connection) -> list[JobRow]:
    """Jobs left ``running`` by a process that is gone."""
    return [
        _row(r) for r in conn.execute("SELECT * FROM jobs WHERE status = 'running'")
    ]


# The earlier runs ``job`` is compared with: same project, subproject,
# recipe and ref, with a parsed log. ``ref IS ?`` is NULL-safe: a job on an
# exact commit without a ref (and every job enqueued on the default branch
# before that branch was recorded as its ref) compares with such jobs only.
_COMPARABLE = (
    "project_name = ? AND subproject = ? AND recipe = ? AND ref IS ? AND id < ?"
    " AND status IN ('succeeded', 'failed', 'timed_out')"
    " AND exit_code >= 0 AND parsed AND trigger != 'verify'"
)


def _comparable(job: JobRow) -> tuple[object, ...]:
    return (job.project_name, job.subproject, job.recipe, job.ref, job.id)


def previous_finished(conn: sqlite3.Connection, job: JobRow) -> JobRow | None:
    """The run ``job``'s findings are compared with, or None.

    That is the last job before ``job`` of its project, subproject, recipe and ref
    (a branch's run is never compared with another branch's) whose recipe ran and
    whose log was parsed, and whose tool looked at everything: status ``succeeded``
    or ``failed`` with an exit code and no ``stopped_short`` (a ``timed_out`` run
    always has one). A job that never ran its recipe (its checkout failed, its
    folder was missing, it was canceled while queued) has no exit code and found
    nothing, so comparing with it would show every finding as new. A run canceled
    mid-way does not count: its log is never parsed. Neither does one orphaned by a
    restart (exit code -1, never parsed), nor a verification run of the patch loop,
    nor a run whose parse failed or ran out of time (it found nothing, for want of
    looking), nor one that stopped short (at its deadline, or at a compile error
    before the linter or the tests ran): what it did not reach would look fixed now
    and new next time. See :func:`stopped_since` for those.
    """
    row = conn.execute(
        # _COMPARABLE is a constant; every value is a parameter.
        f"SELECT * FROM jobs WHERE {_COMPARABLE} AND stopped_short IS NULL"  # noqa: S608
        " ORDER BY id DESC LIMIT 1",
        _comparable(job),
    ).fetchone()
    return _row(row) if row else None


def stopped_since(
    conn: sqlite3.Connection, job: JobRow, baseline: JobRow | None
) -> list[str]:
    """The runs comparable with ``job`` that stopped short after ``baseline``.

    Ids of the jobs between :func:`previous_finished`'s run (or the start of
    history) and ``job`` that are otherwise comparable but have a
    ``stopped_short``, oldest first. What they found was seen, so it is not
    new to ``job``.
    """
    rows = conn.execute(
        # _COMPARABLE is a constant; every value is a parameter.
        f"SELECT id FROM jobs WHERE {_COMPARABLE} AND stopped_short IS NOT NULL"  # noqa: S608
        " AND id > ? ORDER BY id",
        (*_comparable(job), baseline.id if baseline else ""),
    )
    return [r[0] for r in rows]


def counts_by_status(conn: sqlite3.Connection) -> dict[str, int]:
    """How many jobs are in each status."""
    rows = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")
    return {r[0]: int(r[1]) for r in rows}


def superseded(conn: sqlite3.Connection, newer: JobRow) -> list[str]:
    """Queued push jobs that ``newer`` (a push job) makes pointless.

    The still-queued jobs of an earlier push to the same branch, for the
    same subproject and recipe: their commit is no longer the branch head.
    Jobs enqueued any other way are somebody's explicit request and stay.
    """
    rows = conn.execute(
        "SELECT id FROM jobs WHERE status = 'queued' AND project_name = ?"
        " AND subproject = ? AND recipe = ? AND ref = ? AND trigger = 'push'"
        " AND id < ? ORDER BY id",
        (newer.project_name, newer.subproject, newer.recipe, newer.ref, newer.id),
    )
    return [r[0] for r in rows]
