"""The GC actor: stale worktrees, quiet clones, folders of deleted projects."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from crafting_table.messages import GetStats, Tick
from tests.support import Repo, register, run_job


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Everything older than a minute is stale; the timer itself stays idle."""
    settings.gc_interval_secs = 3600
    settings.worktree_max_age_secs = 60
    settings.clone_quiet_secs = 60
    settings.log_retention_days = 1
    return settings


def age(path: Path, seconds: float) -> None:
    """Backdate ``path``'s modification time."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


async def collect(service: ServiceHandle) -> dict[str, Any]:
    """Run one GC pass now and return the GC's statistics."""
    gc = service.refs["gc"]
    before = (await gc.ask(GetStats()))["runs"]
    await gc.tell(Tick())
    with trio.fail_after(30):
        while (stats := await gc.ask(GetStats()))["runs"] == before:
            await trio.sleep(0.02)
    return stats


async def test_stale_worktrees_and_deleted_projects_go(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="true")
    await run_job(admin, "demo", recipe="test")
    folder = service.settings.workspace_dir / "demo"
    stale = folder / "0stale"
    fresh = folder / "0fresh"
    for path in (stale, fresh):
        path.mkdir()
        (path / "file").write_text("x")
    age(stale, 3600)
    orphan = service.settings.workspace_dir / "gone-project" / ".cache"
    orphan.mkdir(parents=True)

    stats = await collect(service)

    assert not stale.exists()
    assert fresh.exists()
    assert not orphan.parent.exists()
    assert (folder / ".cache").exists()
    assert stats["worktrees_removed"] == 1


async def test_quiet_clones_are_collected_once(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="true")
    await run_job(admin, "demo", recipe="test")
    await service.ledger.write(
        lambda conn: conn.execute("UPDATE jobs SET created_at = created_at - 3600")
    )

    first = await collect(service)
    second = await collect(service)

    assert first["clones_collected"] == 1
    assert second["clones_collected"] == 1


async def test_old_logs_expire(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo kept")
    old = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    new = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    await service.ledger.write(
        lambda conn: conn.execute(
            "UPDATE jobs SET finished_at = finished_at - 2 * 86400 WHERE id = ?", (old,)
        )
    )

    stats = await collect(service)

    logs = service.settings.data_dir / "logs" / "demo"
    assert not (logs / f"{old}.log").exists()
    assert (logs / f"{new}.log").exists()
    assert stats["logs_removed"] == 1
