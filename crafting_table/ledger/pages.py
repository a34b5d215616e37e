"""Newest-first pages of a table, filtered by equality on a few columns."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping


def newest_first(
    conn: sqlite3.Connection,
    table: str,
    filters: Mapping[str, object | None],
    before: object | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Rows of ``table`` matching every non-None filter, ``id`` descending.

    ``before`` is the cursor: only rows whose id sorts below it. ``table``
    and the filter names are ours, never a caller's input.
    """
    clauses = [
        f"{column} = ?" for column, value in filters.items() if value is not None
    ]
    params: list[object] = [value for value in filters.values() if value is not None]
    if before is not None:
        clauses.append("id < ?")
        params.append(before)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT * FROM {table} {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
    return list(conn.execute(sql, (*params, limit)))
