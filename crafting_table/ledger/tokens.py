"""Bearer tokens: stored as SHA-256 hashes, never in clear."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Literal

from crafting_table.errors import Conflict


@dataclass(frozen=True, slots=True)
class TokenRow:
    """One token as the ledger keeps it."""

    id: int
    name: str
    token_hash: str
    is_admin: bool
    ip_cidrs: list[str]
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


def _row(row: sqlite3.Row) -> TokenRow:
    return TokenRow(
        id=row["id"],
        name=row["name"],
        token_hash=row["token_hash"],
        is_admin=bool(row["is_admin"]),
        ip_cidrs=json.loads(row["ip_cidrs_json"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def mint(
    conn: sqlite3.Connection,
    name: str,
    token_hash: str,
    is_admin: bool,
    ip_cidrs: list[str],
    now: float,
) -> TokenRow:
    """Store a new token, or give a revoked name a new bearer.

    Re-minting a revoked name is how a bearer is rotated: the name keeps
    the projects it owns. An active token of the same name is a
    :class:`Conflict`.
    """
    existing = conn.execute("SELECT * FROM tokens WHERE name = ?", (name,)).fetchone()
    if existing is not None and existing["revoked_at"] is None:
        raise Conflict(
            f"a token named {name!r} exists; revoke it first to rotate it, "
            "or pick another name",
            name=name,
        )
    cidrs = json.dumps(ip_cidrs)
    if existing is None:
        conn.execute(
            "INSERT INTO tokens (name, token_hash, is_admin, ip_cidrs_json, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, token_hash, int(is_admin), cidrs, now),
        )
    else:
        conn.execute(
            "UPDATE tokens SET token_hash = ?, is_admin = ?, ip_cidrs_json = ?,"
            " created_at = ?, last_used_at = NULL, revoked_at = NULL WHERE name = ?",
            (token_hash, int(is_admin), cidrs, now, name),
        )
    row = conn.execute("SELECT * FROM tokens WHERE name = ?", (name,)).fetchone()
    return _row(row)


def by_hash(conn: sqlite3.Connection, token_hash: str) -> TokenRow | None:
    """The active token with this hash, or None."""
    row = conn.execute(
        "SELECT * FROM tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (token_hash,),
    ).fetchone()
    return _row(row) if row else None


def list_all(conn: sqlite3.Connection) -> list[TokenRow]:
    """Every token, revoked ones included, by name."""
    return [_row(r) for r in conn.execute("SELECT * FROM tokens ORDER BY name")]


def revoke_checked(
    conn: sqlite3.Connection, name: str, now: float
) -> Literal["missing", "last_admin", "revoked"]:
    """Revoke ``name`` unless it is missing or the last active admin token."""
    row = conn.execute(
        "SELECT is_admin FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)
    ).fetchone()
    if row is None:
        return "missing"
    if row["is_admin"] and count_admins(conn) <= 1:
        return "last_admin"
    revoke(conn, name, now)
    return "revoked"


def revoke(conn: sqlite3.Connection, name: str, now: float) -> bool:
    """Revoke the active token ``name``; False when there is none."""
    cursor = conn.execute(
        "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        (now, name),
    )
    return cursor.rowcount == 1


def touch(conn: sqlite3.Connection, token_id: int, now: float) -> None:
    """Record that the token was used."""
    conn.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, token_id))


def is_active_admin(conn: sqlite3.Connection, name: str) -> bool:
    """True when an unrevoked admin token is called ``name``."""
    row = conn.execute(
        "SELECT 1 FROM tokens WHERE name = ? AND is_admin = 1 AND revoked_at IS NULL",
        (name,),
    ).fetchone()
    return row is not None


def count_admins(conn: sqlite3.Connection) -> int:
    """How many active admin tokens exist."""
    row = conn.execute(
        "SELECT COUNT(*) FROM tokens WHERE is_admin = 1 AND revoked_at IS NULL"
    ).fetchone()
    return int(row[0])
