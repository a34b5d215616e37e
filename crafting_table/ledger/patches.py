"""Patch attempts: one row per attempt at one finding.

An attempt is written ``drafting`` by :func:`start`, moves on with
:func:`advance` while it is under way (``drafting``, ``verifying``,
``pushing``) and ends in ``apply_failed``, ``verify_failed``,
``pr_opened`` or ``failed``; an ended attempt never changes again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from crafting_table.errors import Conflict
from crafting_table.ledger.pages import newest_first


@dataclass(frozen=True, slots=True)
class PatchRow:
    """One patch attempt as the ledger keeps it."""

    id: int
    finding_id: int
    job_id: str
    project_name: str
    owner: str
    attempt_number: int
    status: str
    branch: str | None
    diff: str | None
    explanation: str | None
    confidence: float | None
    verify_job_id: str | None
    pr_url: str | None
    error: str | None
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """The API shape (timestamps in ISO 8601)."""
        from crafting_table.models import iso

        data = asdict(self)
        data["project"] = data.pop("project_name")
        data["created_at"] = iso(self.created_at)
        data["updated_at"] = iso(self.updated_at)
        return data


def _row(row: sqlite3.Row) -> PatchRow:
    return PatchRow(**{key: row[key] for key in row.keys()})  # noqa: SIM118


def get(conn: sqlite3.Connection, attempt_id: int) -> PatchRow | None:
    """One attempt by id, or None."""
    row = conn.execute(
        "SELECT * FROM patch_attempts WHERE id = ?", (attempt_id,)
    ).fetchone()
    return _row(row) if row else None


def list_visible(
    conn: sqlite3.Connection,
    *,
    owner: str | None,
    project: str | None,
    status: str | None,
    before: int | None,
    limit: int,
) -> list[PatchRow]:
    """Attempts newest first; ``owner=None`` means every owner (admin)."""
    filters = {"owner": owner, "project_name": project, "status": status}
    return [
        _row(r) for r in newest_first(conn, "patch_attempts", filters, before, limit)
    ]


def for_job(conn: sqlite3.Connection, job_id: str) -> list[PatchRow]:
    """Every attempt made on a job's findings, oldest first."""
    rows = conn.execute(
        "SELECT * FROM patch_attempts WHERE job_id = ? ORDER BY id", (job_id,)
    )
    return [_row(r) for r in rows]


IN_FLIGHT = ("drafting", "verifying", "pushing")
"""Statuses of an attempt that is still under way."""


def attempts_by_finding(conn: sqlite3.Connection, job_id: str) -> dict[int, int]:
    """How many attempts each of a job's findings has had."""
    rows = conn.execute(
        "SELECT finding_id, COUNT(*) FROM patch_attempts WHERE job_id = ?"
        " GROUP BY finding_id",
        (job_id,),
    )
    return {int(r[0]): int(r[1]) for r in rows}


def settled_identities(
    conn: sqlite3.Connection, project: str, max_attempts: int
) -> set[str]:
    """Identities of a project's findings that automatic attempts leave alone.

    A finding that persists from run to run is a new row each time, with
    the same identity. Without this, every nightly run would attempt it
    afresh: these are the identities with an attempt under way or a pull
    request opened, or with ``max_attempts`` attempts in all.
    """
    rows = conn.execute(
        "SELECT f.identity, COUNT(*),"
        " SUM(a.status IN ('drafting', 'verifying', 'pushing', 'pr_opened'))"
        " FROM patch_attempts AS a JOIN findings AS f ON f.id = a.finding_id"
        " WHERE a.project_name = ? GROUP BY f.identity",
        (project,),
    )
    return {r[0] for r in rows if r[2] or r[1] >= max_attempts}


def start(
    conn: sqlite3.Connection,
    *,
    finding_id: int,
    job_id: str,
    project: str,
    owner: str,
    branch: str,
    max_attempts: int,
    now: float,
) -> PatchRow:
    """Record a new attempt (``drafting``) with the next attempt number.

    Raises :class:`Conflict` naming the limit when the finding has had
    ``max_attempts`` attempts, or naming the attempt under way when it has
    one. The checks and the insert share one transaction, so two requests
    cannot both take the last attempt or both start at once.
    """
    busy = conn.execute(
        "SELECT id FROM patch_attempts WHERE finding_id = ?"
        " AND status IN ('drafting', 'verifying', 'pushing')",
        (finding_id,),
    ).fetchone()
    if busy is not None:
        raise Conflict(
            f"finding {finding_id} has patch attempt {busy[0]} under way; "
            f"follow it at /patches/{busy[0]}",
            attempt_id=busy[0],
        )
    made = conn.execute(
        "SELECT COALESCE(MAX(attempt_number), 0) FROM patch_attempts"
        " WHERE finding_id = ?",
        (finding_id,),
    ).fetchone()[0]
    if made >= max_attempts:
        raise Conflict(
            f"finding {finding_id} has had {made} patch attempts, the limit "
            f"(CRAFTING_PATCHER_MAX_ATTEMPTS={max_attempts}); fix it by hand",
            limit=max_attempts,
        )
    cursor = conn.execute(
        "INSERT INTO patch_attempts (finding_id, job_id, project_name, owner,"
        " attempt_number, status, branch, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'drafting', ?, ?, ?)",
        (finding_id, job_id, project, owner, made + 1, branch, now, now),
    )
    row = get(conn, int(cursor.lastrowid or 0))
    assert row is not None
    return row


_UPDATABLE = ("diff", "explanation", "confidence", "verify_job_id", "pr_url", "error")


def advance(
    conn: sqlite3.Connection,
    /,
    attempt_id: int,
    *,
    status: str,
    now: float,
    **fields: object,
) -> PatchRow | None:
    """Move an attempt that is still under way to ``status``, setting ``fields``.

    ``fields`` may name diff, explanation, confidence, verify_job_id,
    pr_url and error. Returns None, changing nothing, when the attempt is
    gone or already ended.
    """
    unknown = set(fields) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)} on a patch attempt")
    names = [name for name in _UPDATABLE if name in fields]
    assignments = "".join(f", {name} = ?" for name in names)
    cursor = conn.execute(
        f"UPDATE patch_attempts SET status = ?, updated_at = ?{assignments}"  # noqa: S608
        " WHERE id = ? AND status IN ('drafting', 'verifying', 'pushing')",
        (status, now, *(fields[name] for name in names), attempt_id),
    )
    return get(conn, attempt_id) if cursor.rowcount == 1 else None


def keeping_refs(conn: sqlite3.Connection, cutoff: float) -> set[int]:
    """Ids of the attempts whose private ref must stay.

    Those under way, and those ended at or after ``cutoff``; an attempt
    that ended before it, or whose row is gone, needs its ref no more.
    """
    rows = conn.execute(
        "SELECT id FROM patch_attempts"
        " WHERE status IN ('drafting', 'verifying', 'pushing') OR updated_at >= ?",
        (cutoff,),
    )
    return {int(r[0]) for r in rows}


def abandon_unfinished(conn: sqlite3.Connection, reason: str, now: float) -> int:
    """Fail every attempt still under way (its process is gone); return how many."""
    cursor = conn.execute(
        "UPDATE patch_attempts SET status = 'failed', error = ?, updated_at = ?"
        " WHERE status IN ('drafting', 'verifying', 'pushing')",
        (reason, now),
    )
    return cursor.rowcount
