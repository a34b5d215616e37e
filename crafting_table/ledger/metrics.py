"""What ``/metrics`` counts, read from the ledger in one go.

Counting rows at scrape time rather than in process memory keeps the
numbers right across restarts (a counter held in memory starts at zero
again) and keeps the actors free of metric bookkeeping. Finished jobs and
findings of deleted projects are counted from the ``retired_*`` tables
their deletion filled, so the counters never fall. Every query is a
grouped count over an indexed or small table; the whole read takes
milliseconds for a ledger of a hundred thousand jobs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# Upper bounds (seconds) of the job duration histogram: from a linter's
# second to a long test suite's hour.
DURATION_BUCKETS: tuple[float, ...] = (
    1.0,
    5.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)


@dataclass(frozen=True, slots=True)
class Durations:
    """One recipe's finished jobs as a histogram: cumulative bucket counts."""

    buckets: tuple[int, ...]
    count: int
    total: float


@dataclass(frozen=True, slots=True)
class LedgerFigures:
    """Counts by label, as the ledger holds them at one moment."""

    jobs: dict[tuple[str, str], int]
    durations: dict[str, Durations]
    findings: dict[str, int]
    patches: dict[str, int]
    digests: dict[str, int]


def figures(conn: sqlite3.Connection) -> LedgerFigures:
    """Read every figure in one read transaction (one consistent snapshot)."""
    conn.execute("BEGIN")
    try:
        return LedgerFigures(
            jobs=_jobs(conn),
            durations=_durations(conn),
            findings=_grouped(
                conn,
                "SELECT kind, SUM(n) FROM (SELECT kind, COUNT(*) AS n FROM findings"
                " GROUP BY kind UNION ALL SELECT kind, n FROM retired_findings)"
                " GROUP BY kind",
            ),
            patches=_grouped(
                conn, "SELECT status, COUNT(*) FROM patch_attempts GROUP BY status"
            ),
            digests=_grouped(
                conn, "SELECT status, COUNT(*) FROM digest_runs GROUP BY status"
            ),
        )
    finally:
        conn.execute("COMMIT")


def _grouped(conn: sqlite3.Connection, sql: str) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in conn.execute(sql)}


def _jobs(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        "SELECT status, recipe, COUNT(*) FROM (SELECT status, recipe FROM jobs"
        " UNION ALL SELECT status, recipe FROM retired_jobs) GROUP BY 1, 2"
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def _durations(conn: sqlite3.Connection) -> dict[str, Durations]:
    # One pass: each bucket is a conditional count over the same rows.
    counts = ", ".join(f"SUM(d <= {bound!r})" for bound in DURATION_BUCKETS)
    sql = (
        f"SELECT recipe, {counts}, COUNT(*), SUM(d) FROM"  # noqa: S608
        " (SELECT recipe, MAX(finished_at - started_at, 0) AS d FROM jobs"
        "  WHERE started_at IS NOT NULL AND finished_at IS NOT NULL"
        "  UNION ALL SELECT recipe, duration FROM retired_jobs"
        "  WHERE duration IS NOT NULL)"
        " GROUP BY recipe"
    )
    out = {}
    for row in conn.execute(sql):
        n = len(DURATION_BUCKETS)
        out[row[0]] = Durations(
            buckets=tuple(int(v or 0) for v in row[1 : n + 1]),
            count=int(row[n + 1]),
            total=float(row[n + 2] or 0.0),
        )
    return out
