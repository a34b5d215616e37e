"""Recipe identities: the slot that gives each project its own uid and gid.

With ``CRAFTING_RECIPE_USER`` set, a project's recipes run as uid and gid
``CRAFTING_RECIPE_UID_BASE + slot`` (see :mod:`crafting_table.containment`).
A slot is given on a project's first job and kept while the project lives;
deleting the project deletes its row, and its slot is never given again
(``AUTOINCREMENT``), so a new project never inherits what an old one left
owned by its uid.
"""

from __future__ import annotations

import sqlite3


def slot(conn: sqlite3.Connection, project: str) -> int | None:
    """The project's slot, or None when it has none yet."""
    row = conn.execute(
        "SELECT slot FROM recipe_identities WHERE project_name = ?", (project,)
    ).fetchone()
    return int(row[0]) if row else None


def assign(conn: sqlite3.Connection, project: str) -> int | None:
    """The project's slot, given now when it has none; None when it is gone."""
    if conn.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone():
        conn.execute(
            "INSERT OR IGNORE INTO recipe_identities (project_name) VALUES (?)",
            (project,),
        )
    return slot(conn, project)
