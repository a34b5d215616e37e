"""``/healthz``: what it says about the service and its queue, without a token."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import httpx
import trio

from actors.serve import ServiceHandle
from tests.support import Repo, enqueue, wait_job


async def health(service: ServiceHandle) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service.url) as anonymous:
        answer = await anonymous.get("/healthz")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def queue_reads(
    service: ServiceHandle, queued: int, running: int
) -> dict[str, Any]:
    """Poll ``/healthz`` until its queue shows these numbers; return the body."""
    with trio.fail_after(30):
        while True:
            body = await health(service)
            runner = body["runner"]
            if (runner["queued"], runner["running"]) == (queued, running):
                return body
            await trio.sleep(0.05)


async def test_healthz_shows_version_uptime_and_the_queue(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    repo: Repo = make_repo()
    # One job at a time for the project: the second job waits in the queue
    # while the first is held at its gate.
    answer = await admin.post(
        "/projects",
        json={
            "name": "demo",
            "git_url": repo.url,
            "max_concurrent_jobs": 1,
            "subprojects": [
                {"test": f"until [ -e {gate} ]; do sleep 0.02; done", "lint": "true"}
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    first = await enqueue(admin, "demo", recipe="test")
    second = await enqueue(admin, "demo", recipe="lint")

    busy = await queue_reads(service, queued=1, running=1)
    gate.touch()
    await wait_job(admin, first)
    await wait_job(admin, second)
    await trio.sleep(0.5)
    idle = await queue_reads(service, queued=0, running=0)

    assert busy["ok"] is True
    assert busy["status"] == "ok"
    assert busy["version"] == importlib.metadata.version("crafting-table")
    assert busy["runner"]["capacity"] == service.settings.max_jobs == 4
    assert busy["runner"]["draining"] is False
    assert "error" not in busy["runner"]
    # Seconds since this service started: this test's run, not the epoch.
    assert 0 <= busy["uptime_secs"] <= idle["uptime_secs"] < 120
    assert idle["uptime_secs"] - busy["uptime_secs"] >= 0.35
    assert idle["runner"]["started"] - busy["runner"]["started"] == 1
    assert idle["runner"]["finished"] - busy["runner"]["finished"] == 2
