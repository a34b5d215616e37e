"""Patch attempts: one row per attempt at one finding."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

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
