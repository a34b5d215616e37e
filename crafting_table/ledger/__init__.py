"""The SQLite ledger: one file, WAL, one writer, many readers.

Usage::

    ledger = await Ledger.open(path)
    job = await ledger.read(jobs.get, job_id)
    await ledger.write(jobs.cancel_queued, job_id, now, "canceled while queued")
    await ledger.aclose()

The query functions live in the sibling modules (``tokens``, ``projects``,
``jobs``, ...) as plain synchronous functions taking a connection, so they
are testable without trio. :meth:`Ledger.read` and :meth:`Ledger.write` run
them on a worker thread: the trio thread never blocks on SQLite. Writes go
through a single connection, one at a time, each function in its own
``BEGIN IMMEDIATE`` transaction, so a function is all or nothing. Readers
use a small pool of their own connections and see the last committed state
(WAL), never a half-done write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import trio

from crafting_table.errors import LedgerError
from crafting_table.ledger.schema import MIGRATIONS

P = ParamSpec("P")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
READERS = 8
# A ledger call that takes longer than this is stuck, not slow: the busy
# timeout above is 10 s, and no query we run scans more than a project.
CALL_DEADLINE = 60.0


def connect(path: Path) -> sqlite3.Connection:
    """Open one connection with the pragmas every connection needs."""
    try:
        conn = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open the ledger at {str(path)!r}: {exc}") from exc
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this file has not seen; return the new version."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise LedgerError(
            f"the ledger is at schema version {version}, newer than this "
            f"crafting-table ({len(MIGRATIONS)}); upgrade crafting-table"
        )
    for number in range(version, len(MIGRATIONS)):
        script = MIGRATIONS[number]
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                f"PRAGMA user_version = {number + 1};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerError(f"migration {number + 1} failed: {exc}") from exc
    return len(MIGRATIONS)


class Ledger:
    """The service's SQLite ledger; see the module docstring for the rules."""

    def __init__(self, path: Path, writer: sqlite3.Connection) -> None:
        self.path = path
        self._writer = writer
        self._write_lock = trio.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._reader_slots = trio.Semaphore(READERS)
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> Ledger:
        """Open (creating if needed) and migrate the ledger at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)

        def _open() -> sqlite3.Connection:
            conn = connect(path)
            migrate(conn)
            return conn

        writer = await trio.to_thread.run_sync(_open)
        return cls(path, writer)

    async def write(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, ...)`` in one write transaction and return its result.

        The transaction commits when ``fn`` returns and rolls back when it
        raises. sqlite3 errors come back as :class:`LedgerError`; errors of
        our own tree pass through unchanged.
        """
        self._check_open()
        with trio.fail_after(CALL_DEADLINE):
            async with self._write_lock:
                return await trio.to_thread.run_sync(
                    _in_transaction,
                    self._writer,
                    fn,
                    args,
                    kwargs,
                    abandon_on_cancel=False,
                )

    async def read(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(conn, ...)`` on a reader connection and return its result."""
        self._check_open()
        with trio.fail_after(CALL_DEADLINE):
            async with self._reader_slots:
                conn = self._readers.pop() if self._readers else None
                return await trio.to_thread.run_sync(
                    _read_on, self.path, conn, fn, args, kwargs, self._readers
                )

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerError("the ledger is closed")

    async def aclose(self) -> None:
        """Close every connection; later calls raise :class:`LedgerError`."""
        self._closed = True
        async with self._write_lock:
            connections = [self._writer, *self._readers]
            self._readers.clear()
            for conn in connections:
                await trio.to_thread.run_sync(conn.close)


def _in_transaction(
    conn: sqlite3.Connection,
    fn: Callable[..., T],
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> T:
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn, *args, **kwargs)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger write failed: {exc}") from exc
    return result


def _read_on(
    path: Path,
    conn: sqlite3.Connection | None,
    fn: Callable[..., T],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    pool: list[sqlite3.Connection],
) -> T:
    # Runs on a worker thread. A connection whose call failed inside SQLite
    # is closed rather than pooled: it may sit in an odd state.
    if conn is None:
        conn = connect(path)
    try:
        result = fn(conn, *args, **kwargs)
    except sqlite3.Error as exc:
        conn.close()
        raise LedgerError(f"ledger read failed: {exc}") from exc
    except BaseException:
        pool.append(conn)
        raise
    pool.append(conn)
    return result
