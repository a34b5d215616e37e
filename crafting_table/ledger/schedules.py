"""The last fire of every schedule, so a restart neither repeats nor bursts.

Rows are keyed by project and :func:`crafting_table.schedules.schedule_key`;
they go with their project. A key the Scheduler no longer finds in any
project (the schedule was edited or removed) is pruned by :func:`forget`.
"""

from __future__ import annotations

import sqlite3


def last_fires(conn: sqlite3.Connection) -> dict[tuple[str, str], float]:
    """Every recorded fire: ``(project, key) -> timestamp``."""
    rows = conn.execute(
        "SELECT project_name, schedule_key, last_fire FROM schedule_fires"
    )
    return {(r[0], r[1]): float(r[2]) for r in rows}


def record(conn: sqlite3.Connection, project: str, key: str, when: float) -> bool:
    """Set a schedule's last fire to ``when``, never moving it back.

    Returns False when the project is gone or a fire at or after ``when``
    is already recorded: the caller lost a race and must not enqueue.
    """
    if conn.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone():
        cursor = conn.execute(
            "INSERT INTO schedule_fires (project_name, schedule_key, last_fire)"
            " VALUES (?, ?, ?)"
            " ON CONFLICT (project_name, schedule_key) DO UPDATE"
            " SET last_fire = excluded.last_fire"
            " WHERE schedule_fires.last_fire < excluded.last_fire",
            (project, key, when),
        )
        return cursor.rowcount == 1
    return False


def forget(conn: sqlite3.Connection, keep: set[tuple[str, str]]) -> int:
    """Delete the rows of schedules not in ``keep``; return how many."""
    stale = [k for k in last_fires(conn) if k not in keep]
    for project, key in stale:
        conn.execute(
            "DELETE FROM schedule_fires WHERE project_name = ? AND schedule_key = ?",
            (project, key),
        )
    return len(stale)
