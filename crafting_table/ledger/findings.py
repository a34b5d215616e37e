"""Findings: written with a job's terminal status, read per job."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crafting_table.ledger import jobs as job_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.parsers.base import Finding


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One stored finding."""

    id: int
    job_id: str
    kind: str
    severity: str | None
    file: str | None
    line: int | None
    column: int | None
    code: str | None
    message: str
    suggested_fix: str | None
    fingerprint: str
    identity: str
    outside: bool
    tool: str | None
    raw_json: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """The API shape of this finding (without its state)."""
        from crafting_table.models import iso

        return {
            "id": self.id,
            "job_id": self.job_id,
            "kind": self.kind,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
            "suggested_fix": self.suggested_fix,
            "fingerprint": self.fingerprint,
            "identity": self.identity,
            "outside": self.outside,
            "tool": self.tool,
            "raw_json": self.raw_json,
            "created_at": iso(self.created_at),
        }


def _row(row: sqlite3.Row) -> FindingRow:
    return FindingRow(
        id=row["id"],
        job_id=row["job_id"],
        kind=row["kind"],
        severity=row["severity"],
        file=row["file"],
        line=row["line"],
        column=row["col"],
        code=row["code"],
        message=row["message"],
        suggested_fix=row["suggested_fix"],
        fingerprint=row["fingerprint"],
        identity=row["identity"],
        outside=bool(row["outside"]),
        tool=row["tool"],
        raw_json=row["raw_json"],
        created_at=row["created_at"],
    )


def finish_with_findings(
    conn: sqlite3.Connection,
    job_id: str,
    *,
    findings: Sequence[Finding],
    identities: Sequence[str],
    status: str,
    exit_code: int | None,
    error: str | None,
    log_bytes: int,
    now: float,
) -> JobRow | None:
    """Store a job's findings and its terminal status in one transaction.

    Returns None (and stores nothing) when the job is gone or already
    terminal. Whether its tool stopped short is decided here, once, by
    :func:`stopped_short`.
    """
    current = job_store.get(conn, job_id)
    if current is None or current.status not in ("queued", "running"):
        return None
    short = stopped_short(current.recipe, status, findings)
    conn.executemany(
        "INSERT INTO findings (job_id, kind, severity, file, line, col, code, message,"
        " suggested_fix, fingerprint, identity, outside, tool, raw_json, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                job_id,
                f.kind,
                f.severity,
                f.file,
                f.line,
                f.column,
                f.code,
                f.message,
                f.suggested_fix,
                f.fingerprint,
                identity,
                int(f.outside),
                f.tool,
                json.dumps(f.raw, ensure_ascii=False, default=str),
                now,
            )
            for f, identity in zip(findings, identities, strict=True)
        ],
    )
    return job_store.finish(
        conn,
        job_id,
        status=status,
        exit_code=exit_code,
        error=error,
        log_bytes=log_bytes,
        findings_count=len(findings),
        now=now,
        parsed=True,
        stopped_short=short,
    )


# Codes of errors after which the tool checks no further, as opposed to the
# name of a rule it checked: rustc's own error codes (E0425; a denied lint
# keeps its lint name), go vet's type-check failures, mypy's and ruff's
# syntax errors. Errors with no code at all are compiler errors too (rustc's
# syntax errors, gcc, javac, eslint's parse errors): the linters the parsers
# read name the rule of each finding.
_STOPPING_CODE = re.compile(r"E\d{4}|typecheck|syntax|invalid-syntax")


def stopped_short(recipe: str, status: str, findings: Sequence[Finding]) -> str | None:
    """Why a run's tool did not get to look at everything, or None.

    A run stops short when it reached its deadline (``timed_out``), when it
    failed with nothing but a ``recipe_fail`` to explain it (the tool
    crashed, was missing, or failed before printing results), at a test
    module that could not be collected (pytest runs no test then), or at a
    compile error: in a build or test recipe any error-level diagnostic
    (the tests did not build, so none ran; a build stops at its first
    failing unit), in a lint or audit recipe one whose code is absent or a
    compiler's (see ``_STOPPING_CODE``), since a linter's own rules, even
    denied ones, are findings of a tool that did run. What such a run did
    not report, it may not have reached: nothing counts as fixed by it, and
    it is no baseline (see :func:`jobs.previous_finished`).
    """
    if status == "timed_out":
        return "the recipe reached its deadline"
    for f in findings:
        if f.kind == "recipe_fail":
            return f"the recipe failed ({f.code}) before its tool reported results"
        if _collection_error(f):
            return f"a collection error stopped the {recipe} recipe: {_where(f)}"
    for f in findings:
        if f.kind != "lint" or f.severity != "error":
            continue
        if (
            recipe in ("build", "test")
            or f.code is None
            or _STOPPING_CODE.fullmatch(f.code)
        ):
            return f"a compile error stopped the {recipe} recipe: {_where(f)}"
    return None


def _collection_error(f: Finding) -> bool:
    """A test module (or conftest) that could not be loaded: pytest stops
    before running any test, and what that module held never ran at all."""
    if f.kind != "test_fail":
        return False
    if f.tool == "junit":
        return "collection failure" in f.message
    return f.raw.get("outcome") == "ERROR" and "::" not in str(f.raw.get("test_id"))


def _where(f: Finding) -> str:
    place = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
    code = f"[{f.code}] " if f.code else ""
    return f"{code}{f.message}" + (f" at {place}" if place else "")


def for_job(
    conn: sqlite3.Connection,
    job_id: str,
    *,
    kind: str | None = None,
    severity: str | None = None,
) -> list[FindingRow]:
    """A job's findings in the order they were found, optionally filtered."""
    sql = "SELECT * FROM findings WHERE job_id = ?"
    params: list[object] = [job_id]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    if severity is not None:
        sql += " AND severity = ?"
        params.append(severity)
    return [_row(r) for r in conn.execute(sql + " ORDER BY id", params)]


def get(conn: sqlite3.Connection, finding_id: int) -> FindingRow | None:
    """One finding by id, or None."""
    row = conn.execute("SELECT * FROM findings WHERE id = ?", (finding_id,)).fetchone()
    return _row(row) if row else None


def identities_of(conn: sqlite3.Connection, job_id: str) -> set[str]:
    """The identities of a job's findings."""
    rows = conn.execute("SELECT identity FROM findings WHERE job_id = ?", (job_id,))
    return {r[0] for r in rows}


@dataclass(frozen=True, slots=True)
class Comparison:
    """A job's findings against the previous run; see :func:`compare`."""

    states: list[tuple[FindingRow, str]]
    fixed: list[FindingRow]
    previous: JobRow | None
    # Why ``fixed`` is empty whatever the previous run had, or None.
    fixed_withheld: str | None


def compare(conn: sqlite3.Connection, job: JobRow) -> Comparison:
    """A job's findings against the previous run of the same recipe and ref.

    The previous run is :func:`jobs.previous_finished`'s: the last earlier
    job of the same project, subproject, recipe and ref whose recipe ran
    and whose tool did not stop short. A finding is new when its identity
    was neither among the previous run's nor among those of the runs that
    stopped short since (:func:`jobs.stopped_since`: a compile error that
    stays through several broken runs is new only in the first), else
    persisting. A
    previous finding is fixed when its identity is not among this run's,
    unless this run stopped short (:func:`stopped_short`): it could not
    have seen what it did not reach, so ``fixed`` is empty and
    ``fixed_withheld`` says why. Without a previous run nothing is fixed.
    """
    current = for_job(conn, job.id)
    previous = job_store.previous_finished(conn, job)
    before = for_job(conn, previous.id) if previous else []
    known = {f.identity for f in before}
    for seen in job_store.stopped_since(conn, job, previous):
        known |= identities_of(conn, seen)
    now = {f.identity for f in current}
    states = [(f, "persisting" if f.identity in known else "new") for f in current]
    withheld = job.stopped_short or _unfinished(job)
    fixed = [] if withheld else [f for f in before if f.identity not in now]
    return Comparison(states, fixed, previous, withheld)


def _unfinished(job: JobRow) -> str | None:
    """Why ``job`` cannot have fixed anything although its tool did not stop
    short, or None: it is still under way, or its tool never finished."""
    if job.status in ("queued", "running"):
        return f"the job is {job.status}"
    if job.status == "canceled":
        return "the job was canceled before its tool finished"
    if job.exit_code is None or job.exit_code < 0:
        return "the recipe did not run to its end"
    if not job.parsed:
        return "the job's log was not parsed into findings"
    return None


def with_state(
    conn: sqlite3.Connection, job: JobRow
) -> tuple[list[tuple[FindingRow, str]], list[FindingRow], JobRow | None]:
    """:func:`compare` as ``(findings with their state, fixed, previous)``."""
    seen = compare(conn, job)
    return seen.states, seen.fixed, seen.previous
