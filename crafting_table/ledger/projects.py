"""Projects: the owner, and the registered spec kept whole as JSON.

The spec is stored as the validated request body (credentials included),
so fields added to the model need no migration. Only ``name`` and
``owner`` are columns, because only they are queried.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from crafting_table.errors import Conflict
from crafting_table.models import STORED, ProjectIn


@dataclass(frozen=True, slots=True)
class ProjectRow:
    """One registered project."""

    name: str
    owner: str
    spec: ProjectIn
    created_at: float
    updated_at: float


def _row(row: sqlite3.Row) -> ProjectRow:
    return ProjectRow(
        name=row["name"],
        owner=row["owner"],
        spec=ProjectIn.model_validate_json(row["spec_json"], context=STORED),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def insert(
    conn: sqlite3.Connection, spec: ProjectIn, owner: str, now: float
) -> ProjectRow:
    """Register a project; a taken name is a :class:`Conflict`."""
    try:
        conn.execute(
            "INSERT INTO projects (name, owner, spec_json, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (spec.name, owner, spec.model_dump_json(), now, now),
        )
    except sqlite3.IntegrityError as exc:
        raise Conflict(
            f"a project named {spec.name!r} exists; pick another name", name=spec.name
        ) from exc
    return ProjectRow(spec.name, owner, spec, now, now)


def replace(conn: sqlite3.Connection, spec: ProjectIn, now: float) -> ProjectRow | None:
    """Store a new spec for an existing project; None when it is gone."""
    conn.execute(
        "UPDATE projects SET spec_json = ?, updated_at = ? WHERE name = ?",
        (spec.model_dump_json(), now, spec.name),
    )
    return get(conn, spec.name)


def get(conn: sqlite3.Connection, name: str) -> ProjectRow | None:
    """The project ``name``, or None."""
    row = conn.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
    return _row(row) if row else None


def list_visible(
    conn: sqlite3.Connection, owner: str | None, after: str | None, limit: int
) -> list[ProjectRow]:
    """Projects by name; ``owner=None`` means all (admin)."""
    sql = "SELECT * FROM projects WHERE name > ?"
    params: list[object] = [after or ""]
    if owner is not None:
        sql += " AND owner = ?"
        params.append(owner)
    sql += " ORDER BY name LIMIT ?"
    params.append(limit)
    return [_row(r) for r in conn.execute(sql, params)]


def list_all(conn: sqlite3.Connection) -> list[ProjectRow]:
    """Every project, by name."""
    return [_row(r) for r in conn.execute("SELECT * FROM projects ORDER BY name")]


def delete(conn: sqlite3.Connection, name: str) -> bool:
    """Delete the project; jobs, findings and attempts go with it."""
    return conn.execute("DELETE FROM projects WHERE name = ?", (name,)).rowcount == 1
