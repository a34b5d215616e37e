"""Digests: what happened in a window, and the record of each send.

:func:`activity` gathers the rows a digest is made of (projects, the jobs
that finished in the window with their findings against the previous run,
and patch attempts). The rest keeps ``digest_runs``, one row per (date,
project), so a digest goes out at most once however often it is asked for:

* :func:`claim` turns the row to ``sending`` in the caller's write
  transaction before any mail leaves. Only a missing row, a ``failed`` one,
  or a ``sending`` one older than the stale limit (a crash mid-send) can be
  claimed; each claim counts one attempt.
* :func:`record_sent` and :func:`record_failed` close the claim. Both name
  the attempt they close, so a claimant that lost its row to a stale
  take-over cannot overwrite the newer attempt's outcome.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.findings import FindingRow
from crafting_table.ledger.jobs import JobRow
from crafting_table.ledger.projects import ProjectRow

# Statuses a patch attempt reaches only after the agent produced a diff.
_DRAFTED_STATUSES = frozenset(
    {"apply_failed", "verifying", "verify_failed", "pushing", "pr_opened"}
)


@dataclass(frozen=True, slots=True)
class PatchSummary:
    """The part of a patch attempt a digest shows."""

    id: int
    finding_id: int
    job_id: str
    attempt_number: int
    status: str
    branch: str | None
    pr_url: str | None
    error: str | None
    has_diff: bool
    created_at: float

    @property
    def drafted(self) -> bool:
        """True when the agent produced a diff, whatever came of it."""
        return self.has_diff or self.status in _DRAFTED_STATUSES


@dataclass(frozen=True, slots=True)
class JobActivity:
    """One job of a digest window with what the digest needs to show of it.

    ``findings`` pairs each finding with ``"new"`` or ``"persisting"``
    against the previous run of the same recipe. ``in_window`` is False for
    an older job that is here only because a patch attempt on it was
    created in the window.
    """

    job: JobRow
    findings: list[tuple[FindingRow, str]]
    patches: list[PatchSummary]
    in_window: bool


@dataclass(frozen=True, slots=True)
class ProjectActivity:
    """A project and its jobs of one window, oldest first."""

    project: ProjectRow
    jobs: list[JobActivity]


RunStatus = Literal["sending", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class DigestRunRow:
    """One ``digest_runs`` row."""

    id: int
    date: str
    project_name: str
    status: RunStatus
    recipients: list[str]
    subject: str | None
    error: str | None
    attempts: int
    created_at: float
    updated_at: float
    sent_at: float | None


ClaimOutcome = Literal["claimed", "sent", "busy", "exhausted"]


@dataclass(frozen=True, slots=True)
class Claim:
    """What :func:`claim` found: ``claimed`` means the caller may send now.

    ``sent``: an earlier run delivered it. ``busy``: another run is sending
    it right now. ``exhausted``: it failed ``max_attempts`` times already.
    """

    outcome: ClaimOutcome
    run: DigestRunRow


def _run_row(row: sqlite3.Row) -> DigestRunRow:
    return DigestRunRow(
        id=row["id"],
        date=row["date"],
        project_name=row["project_name"],
        status=row["status"],
        recipients=json.loads(row["recipients_json"]),
        subject=row["subject"],
        error=row["error"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sent_at=row["sent_at"],
    )


def _patch_row(row: sqlite3.Row) -> PatchSummary:
    return PatchSummary(
        id=row["id"],
        finding_id=row["finding_id"],
        job_id=row["job_id"],
        attempt_number=row["attempt_number"],
        status=row["status"],
        branch=row["branch"],
        pr_url=row["pr_url"],
        error=row["error"],
        has_diff=bool(row["has_diff"]),
        created_at=row["created_at"],
    )


# -- what happened ----------------------------------------------------------


def activity(
    conn: sqlite3.Connection, start: float, end: float, project: str | None = None
) -> list[ProjectActivity]:
    """Every project (or only ``project``) with its jobs of ``[start, end)``.

    A job belongs to the window in which it finished. Verification runs of
    the patch loop are left out: they show up as their patch attempt. An
    older job is included when a patch attempt on it was created in the
    window. Patch attempts created after ``end`` are never shown, so a past
    date renders the same later.
    """
    if project is None:
        projects = project_store.list_all(conn)
    else:
        row = project_store.get(conn, project)
        projects = [row] if row is not None else []
    return [
        ProjectActivity(project=p, jobs=_jobs_of(conn, p.name, start, end))
        for p in projects
    ]


def _jobs_of(
    conn: sqlite3.Connection, project: str, start: float, end: float
) -> list[JobActivity]:
    finished = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM jobs WHERE project_name = ? AND finished_at >= ?"
            " AND finished_at < ? AND trigger != 'verify'",
            (project, start, end),
        )
    }
    patched = {
        r[0]
        for r in conn.execute(
            "SELECT job_id FROM patch_attempts WHERE project_name = ?"
            " AND created_at >= ? AND created_at < ?",
            (project, start, end),
        )
    }
    out = []
    for job_id in sorted(finished | patched):
        job = job_store.get(conn, job_id)
        if job is None or job.trigger == "verify":
            continue
        states, _fixed, _previous = finding_store.with_state(conn, job)
        out.append(
            JobActivity(
                job=job,
                findings=states,
                patches=_patches_of(conn, job_id, end),
                in_window=job_id in finished,
            )
        )
    return out


def _patches_of(
    conn: sqlite3.Connection, job_id: str, end: float
) -> list[PatchSummary]:
    rows = conn.execute(
        "SELECT id, finding_id, job_id, attempt_number, status, branch, pr_url,"
        " error, diff IS NOT NULL AND diff != '' AS has_diff, created_at"
        " FROM patch_attempts WHERE job_id = ? AND created_at < ? ORDER BY id",
        (job_id, end),
    )
    return [_patch_row(r) for r in rows]


# -- the record of each send ------------------------------------------------


def get_run(conn: sqlite3.Connection, day: str, project: str) -> DigestRunRow | None:
    """The run of ``project``'s digest dated ``day`` (YYYY-MM-DD), or None."""
    row = conn.execute(
        "SELECT * FROM digest_runs WHERE date = ? AND project_name = ?",
        (day, project),
    ).fetchone()
    return _run_row(row) if row else None


def runs_on(conn: sqlite3.Connection, day: str) -> dict[str, DigestRunRow]:
    """Every run of the digests dated ``day``, by project name."""
    rows = conn.execute("SELECT * FROM digest_runs WHERE date = ?", (day,))
    return {r["project_name"]: _run_row(r) for r in rows}


def latest_run(conn: sqlite3.Connection) -> DigestRunRow | None:
    """The run updated last, or None before the first digest."""
    row = conn.execute(
        "SELECT * FROM digest_runs ORDER BY updated_at DESC, id DESC LIMIT 1"
    ).fetchone()
    return _run_row(row) if row else None


def claim(
    conn: sqlite3.Connection,
    day: str,
    project: str,
    *,
    recipients: list[str],
    subject: str,
    now: float,
    stale_after: float,
    max_attempts: int | None = None,
) -> Claim:
    """Take the right to send ``project``'s digest of ``day``, if it is free.

    Must run in a write transaction (``Ledger.write``): the read and the
    update below are one step for every other writer. See the module
    docstring for which rows can be claimed. ``max_attempts`` (None: no
    limit) refuses a row that failed that many times.
    """
    current = get_run(conn, day, project)
    if current is None:
        conn.execute(
            "INSERT INTO digest_runs (date, project_name, status, recipients_json,"
            " subject, attempts, created_at, updated_at)"
            " VALUES (?, ?, 'sending', ?, ?, 1, ?, ?)",
            (day, project, json.dumps(recipients), subject, now, now),
        )
        run = get_run(conn, day, project)
        assert run is not None
        return Claim("claimed", run)
    if current.status == "sent":
        return Claim("sent", current)
    if current.status == "sending" and now - current.updated_at < stale_after:
        return Claim("busy", current)
    if max_attempts is not None and current.attempts >= max_attempts:
        return Claim("exhausted", current)
    conn.execute(
        "UPDATE digest_runs SET status = 'sending', recipients_json = ?,"
        " subject = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
        (json.dumps(recipients), subject, now, current.id),
    )
    run = get_run(conn, day, project)
    assert run is not None
    return Claim("claimed", run)


def record_sent(
    conn: sqlite3.Connection, run: DigestRunRow, now: float, note: str | None = None
) -> bool:
    """Mark the claimed ``run`` sent; ``note`` keeps e.g. refused recipients.

    Returns False (and changes nothing) when the claim was taken over.
    """
    cursor = conn.execute(
        "UPDATE digest_runs SET status = 'sent', error = ?, sent_at = ?,"
        " updated_at = ? WHERE id = ? AND status = 'sending' AND attempts = ?",
        (note, now, now, run.id, run.attempts),
    )
    return cursor.rowcount == 1


def record_failed(
    conn: sqlite3.Connection, run: DigestRunRow, error: str, now: float
) -> bool:
    """Mark the claimed ``run`` failed with ``error``; a later run may retry it.

    Returns False (and changes nothing) when the claim was taken over.
    """
    cursor = conn.execute(
        "UPDATE digest_runs SET status = 'failed', error = ?, updated_at = ?"
        " WHERE id = ? AND status = 'sending' AND attempts = ?",
        (error, now, run.id, run.attempts),
    )
    return cursor.rowcount == 1
