"""Webhook deliveries already handled, so a replayed one does nothing.

A forge retries a delivery it thinks failed, and anyone who captured one
can send it again: both arrive with the delivery id of the first. The
webhook handler claims the id before it enqueues anything; a second claim
of the same id finds the row and the delivery is answered as a replay.
Rows older than the retention are pruned on each claim, which is where
the table grows.
"""

from __future__ import annotations

import sqlite3


def claim(
    conn: sqlite3.Connection,
    forge: str,
    delivery_id: str,
    project: str,
    now: float,
    retention_secs: float,
) -> bool:
    """Record a delivery; False when its id was seen before (a replay)."""
    conn.execute(
        "DELETE FROM webhook_deliveries WHERE received_at < ?",
        (now - retention_secs,),
    )
    cursor = conn.execute(
        "INSERT OR IGNORE INTO webhook_deliveries"
        " (forge, delivery_id, project_name, received_at) VALUES (?, ?, ?, ?)",
        (forge, delivery_id, project, now),
    )
    return cursor.rowcount == 1


def release(conn: sqlite3.Connection, forge: str, delivery_id: str) -> None:
    """Forget a claimed delivery whose handling failed, so a retry runs."""
    conn.execute(
        "DELETE FROM webhook_deliveries WHERE forge = ? AND delivery_id = ?",
        (forge, delivery_id),
    )


def count(conn: sqlite3.Connection) -> int:
    """How many deliveries are remembered."""
    return int(conn.execute("SELECT COUNT(*) FROM webhook_deliveries").fetchone()[0])
