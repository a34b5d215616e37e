"""DELETE /projects/{name}: every row, file and process of the project goes.

Checked where they live: the SQLite file itself, the log folder, the
workspace (bare clone and worktrees) and the process table. A second
project is there to show the deletion takes nothing else with it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle
from crafting_table import procs
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import patches as patch_store
from tests.support import Repo, enqueue, register, run_job
from tests.test_runner import wait_for_file


def rows_of(ledger: Path, project: str) -> dict[str, int]:
    """How many rows of each table belong to ``project``, read from the file."""
    with sqlite3.connect(ledger) as conn:
        counts = {
            "projects": "SELECT COUNT(*) FROM projects WHERE name = ?",
            "jobs": "SELECT COUNT(*) FROM jobs WHERE project_name = ?",
            "findings": "SELECT COUNT(*) FROM findings WHERE job_id IN"
            " (SELECT id FROM jobs WHERE project_name = ?)",
            "patch_attempts": "SELECT COUNT(*) FROM patch_attempts"
            " WHERE project_name = ?",
        }
        found = {
            k: conn.execute(q, (project,)).fetchone()[0] for k, q in counts.items()
        }
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    return found


async def add_attempt(service: ServiceHandle, job_id: str, project: str) -> int:
    """Record a patch attempt at the job's first finding, as the Patcher does."""
    findings = await service.ledger.read(finding_store.for_job, job_id)
    row = await service.ledger.write(
        patch_store.start,
        finding_id=findings[0].id,
        job_id=job_id,
        project=project,
        owner="admin",
        branch=f"crafting-table/auto/{job_id}",
        max_attempts=3,
        now=time.time(),
    )
    return row.id


async def test_delete_takes_rows_logs_clone_worktrees_and_processes(
    service: ServiceHandle,
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = service.settings
    for name in ("demo", "keep"):
        repo: Repo = make_repo(name=f"{name}-repo")
        await register(
            admin,
            repo,
            name=name,
            test="exit 1",
            lint=f"echo $$ > {tmp_path / name}.pid; exec sleep 300",
        )
        failed = await run_job(admin, name, recipe="test")
        assert failed["job"]["findings_count"] == 1
        await add_attempt(service, failed["job"]["id"], name)
    # A job of the project still running when it is deleted, in its worktree.
    pid_file = tmp_path / "demo.pid"
    running = await enqueue(admin, "demo", recipe="lint")
    await wait_for_file(pid_file)
    recipe_pid = int(pid_file.read_text())
    worktree = settings.workspace_dir / "demo" / running
    assert (worktree / "README.md").exists()
    assert (settings.workspace_dir / "demo" / ".cache" / "HEAD").exists()
    assert (settings.logs_dir / "demo").is_dir()
    before = rows_of(settings.ledger_path, "demo")
    assert before == {"projects": 1, "jobs": 2, "findings": 1, "patch_attempts": 1}

    answer = await admin.delete("/projects/demo")

    assert answer.status_code == 200, answer.text
    assert answer.json()["deleted"] == "demo"
    assert rows_of(settings.ledger_path, "demo") == dict.fromkeys(before, 0)
    # The files go once the running job has been stopped.
    with trio.fail_after(30):
        while (settings.workspace_dir / "demo").exists() or (
            settings.logs_dir / "demo"
        ).exists():
            await trio.sleep(0.05)
    assert not procs.is_running(recipe_pid)
    assert (await admin.get(f"/jobs/{running}")).status_code == 404
    assert (await admin.get("/projects/demo")).status_code == 404
    assert (await admin.get("/patches")).json()["patches"][0]["project"] == "keep"
    assert rows_of(settings.ledger_path, "keep") == {
        "projects": 1,
        "jobs": 1,
        "findings": 1,
        "patch_attempts": 1,
    }
    assert (settings.workspace_dir / "keep" / ".cache" / "HEAD").exists()
    assert len(list((settings.logs_dir / "keep").iterdir())) == 1
    # The stopped job finds its row gone: nothing to warn about.
    assert [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    ] == []
