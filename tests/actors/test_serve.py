"""Starting and stopping the whole service."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table.config import Settings
from tests.support import Repo, enqueue, register


async def test_first_boot_writes_the_admin_bearer_privately(
    service: ServiceHandle,
) -> None:
    path = service.settings.data_dir / "admin-bearer.txt"

    assert path.read_text().strip() == service.admin_bearer
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_restart_keeps_the_bearer(settings: Settings) -> None:
    async with trio.open_nursery() as nursery:
        first: ServiceHandle = await nursery.start(run_service, settings)
        await first.aclose()
        second: ServiceHandle = await nursery.start(run_service, settings)
        await second.aclose()

    assert first.admin_bearer is not None
    assert second.admin_bearer is None
    bearer = (settings.data_dir / "admin-bearer.txt").read_text().strip()
    assert bearer == first.admin_bearer


async def test_cancelling_the_service_mid_job_ends_promptly(
    settings: Settings, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    started = tmp_path / "started"

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            handle: ServiceHandle = await nursery.start(run_service, settings)
            headers = {"Authorization": f"Bearer {handle.admin_bearer}"}
            async with httpx.AsyncClient(base_url=handle.url, headers=headers) as api:
                await register(api, repo, test=f"touch {started}; sleep 600")
                job_id = await enqueue(api, "demo", recipe="test")
            while not started.exists():
                await trio.sleep(0.05)
            # Not an orderly stop: everything is cancelled at once.
            nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_service, settings)
        status = await handle.ledger.read(
            lambda conn: conn.execute(
                "SELECT status FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()[0]
        )
        await handle.aclose()
    assert status in ("canceled", "failed")
