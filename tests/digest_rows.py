"""Writing projects, finished jobs, findings and patch attempts into a ledger.

Jobs go through the same ledger functions the Runner and the Parser use
(insert, claim, finish with findings), at chosen times, so a digest window
can be filled without waiting for real jobs. Patch attempts are written
with plain SQL: the patch loop's ledger module is not part of this tree.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from crafting_table.ledger import Ledger
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.models import ProjectIn
from crafting_table.parsers.base import Finding
from crafting_table.parsers.identity import identities


async def add_project(
    ledger: Ledger,
    name: str = "demo",
    email: list[str] | None = None,
    on: list[str] | None = None,
) -> None:
    """Register a project with one root subproject and every recipe."""
    spec = ProjectIn.model_validate(
        {
            "name": name,
            "git_url": "https://git.example.com/org/demo.git",
            "subprojects": [
                {
                    "path": ".",
                    "build": "make",
                    "test": "make test",
                    "lint": "make lint",
                    "audit": "make audit",
                }
            ],
            "notify": {
                "email": ["ops@example.com"] if email is None else email,
                "on": on or [],
            },
        }
    )
    await ledger.write(project_store.insert, spec, "admin", 1.0)


def _finish(
    conn: sqlite3.Connection,
    project: str,
    recipe: str,
    status: str,
    finished_at: float,
    found: list[Finding],
    trigger: str,
    sha: str | None,
) -> JobRow:
    created = finished_at - 30
    job_id = job_store.new_job_id(created)
    job_store.insert(
        conn,
        job_id=job_id,
        project=project,
        owner="admin",
        subproject=".",
        recipe=recipe,
        ref=None,
        sha=sha,
        snapshot={"recipe": recipe, "command": f"make {recipe}"},
        log_path=f"logs/{project}/{job_id}.log",
        now=created,
        trigger=trigger,
    )
    job_store.claim(conn, job_id, "mark", created + 1)
    row = finding_store.finish_with_findings(
        conn,
        job_id,
        findings=found,
        identities=identities(found, lambda _file, _line: None),
        status=status,
        exit_code=0 if status == "succeeded" else 1,
        error=None,
        log_bytes=0,
        now=finished_at,
    )
    assert row is not None
    return row


async def add_job(
    ledger: Ledger,
    recipe: str,
    status: str,
    finished_at: float,
    findings: list[Finding] | None = None,
    *,
    project: str = "demo",
    trigger: str = "api",
    sha: str | None = "0123456789abcdef0123",
) -> JobRow:
    """A job of ``project`` that finished at ``finished_at`` with ``findings``."""
    return await ledger.write(
        _finish,
        project,
        recipe,
        status,
        finished_at,
        list(findings or []),
        trigger,
        sha,
    )


def _insert_patch(conn: sqlite3.Connection, values: dict[str, Any]) -> int:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cursor = conn.execute(
        f"INSERT INTO patch_attempts ({columns}) VALUES ({marks})",  # noqa: S608
        list(values.values()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def first_finding_id(ledger: Ledger, job_id: str) -> int:
    """The id of the job's first finding."""
    rows = await ledger.read(finding_store.for_job, job_id)
    return rows[0].id


async def add_patch(
    ledger: Ledger,
    job: JobRow,
    *,
    status: str,
    created_at: float,
    diff: str | None = "--- a/x\n+++ b/x\n",
    pr_url: str | None = None,
    attempt_number: int = 1,
) -> int:
    """A patch attempt on the job's first finding; returns its id."""
    finding_id = await first_finding_id(ledger, job.id)
    return await ledger.write(
        _insert_patch,
        {
            "finding_id": finding_id,
            "job_id": job.id,
            "project_name": job.project_name,
            "owner": job.owner,
            "attempt_number": attempt_number,
            "status": status,
            "branch": f"crafting-table/auto/{finding_id}-{attempt_number}",
            "diff": diff,
            "pr_url": pr_url,
            "created_at": created_at,
            "updated_at": created_at,
        },
    )


def lint(severity: str, code: str = "F401", message: str = "unused import") -> Finding:
    """A lint finding at ``app.py:3``."""
    return Finding(
        kind="lint",
        severity=severity,  # type: ignore[arg-type]
        message=message,
        file="app.py",
        line=3,
        code=code,
        tool="ruff",
    )


def cve(code: str = "PYSEC-2023-74", fix: str | None = "bump to 2.31.0") -> Finding:
    """A vulnerability finding with a suggested fix."""
    return Finding(
        kind="cve",
        severity="error",
        message=f"requests is affected by {code}",
        file="requirements.txt",
        code=code,
        suggested_fix=fix,
        tool="pip-audit",
    )


def recipe_fail() -> Finding:
    """The generic parser's row for a recipe that exited non-zero."""
    return Finding(
        kind="recipe_fail",
        severity="error",
        message="recipe exited with status 1",
        code="exit_1",
        tool="generic",
    )
