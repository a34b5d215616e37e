"""Fair queueing on the real service: projects in turn, per-project limits."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import httpx
import pytest
import trio

from crafting_table.config import Settings
from tests.support import Repo, enqueue

TERMINAL = ("succeeded", "failed", "timed_out", "canceled")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two job slots in all (CRAFTING_MAX_JOBS=2)."""
    settings.max_jobs = 2
    return settings


async def project(
    admin: httpx.AsyncClient, repo: Repo, name: str, command: str, **fields: Any
) -> None:
    """Register ``repo`` as ``name`` with one test recipe."""
    answer = await admin.post(
        "/projects",
        json={
            "name": name,
            "git_url": repo.url,
            "subprojects": [{"path": ".", "test": command}],
            **fields,
        },
    )
    assert answer.status_code == 201, answer.text


async def jobs(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every job, oldest first."""
    answer = await admin.get("/jobs", params={"limit": 500})
    found: list[dict[str, Any]] = answer.json()["jobs"]
    return list(reversed(found))


async def wait_for(
    admin: httpx.AsyncClient, job_id: str, statuses: tuple[str, ...]
) -> None:
    """Wait until the job's status is one of ``statuses``."""
    with trio.fail_after(60):
        while True:
            job = (await admin.get(f"/jobs/{job_id}")).json()["job"]
            if job["status"] in statuses:
                return
            await trio.sleep(0.05)


async def drain(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Cancel everything not finished; return every job once all have ended."""
    for job in await jobs(admin):
        if job["status"] not in TERMINAL:
            await admin.post(f"/jobs/{job['id']}/cancel")
    with trio.fail_after(60):
        while any(j["status"] not in TERMINAL for j in await jobs(admin)):
            await trio.sleep(0.05)
    return await jobs(admin)


def moment(text: str) -> datetime:
    """An API timestamp."""
    return datetime.fromisoformat(text)


async def test_a_burst_does_not_starve_another_project(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await project(admin, make_repo(name="busy"), "busy", "sleep 2")
    await project(admin, make_repo(name="quiet"), "quiet", "true")
    for _ in range(20):
        await enqueue(admin, "busy", recipe="test")
    other = await enqueue(admin, "quiet", recipe="test")

    await wait_for(admin, other, ("succeeded",))

    every = await drain(admin)
    started = sorted(
        (moment(j["started_at"]), j["id"]) for j in every if j["started_at"]
    )
    order = [job_id for _, job_id in started]
    # Two busy jobs hold both slots when the quiet job arrives; it takes
    # one of the first two slots to free up, not the 21st.
    assert order.index(other) in (2, 3), order
    assert every[-1]["id"] == other


async def test_a_project_limit_leaves_the_other_slot_to_others(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await project(
        admin, make_repo(name="one"), "limited", "sleep 0.5", max_concurrent_jobs=1
    )
    await project(admin, make_repo(name="two"), "free", "sleep 0.5")
    limited = [await enqueue(admin, "limited", recipe="test") for _ in range(3)]
    free = await enqueue(admin, "free", recipe="test")

    await wait_for(admin, limited[-1], TERMINAL)

    every = {j["id"]: j for j in await drain(admin)}
    spans = sorted(
        (moment(every[i]["started_at"]), moment(every[i]["finished_at"]))
        for i in limited
    )
    assert all(every[i]["status"] == "succeeded" for i in [*limited, free])
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "two jobs of the limited project overlapped"
    # The free project's job did not wait for the limited queue to empty.
    assert moment(every[free]["started_at"]) < spans[0][1]
