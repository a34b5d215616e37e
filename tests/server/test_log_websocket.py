"""The live log over a websocket: liveness, where a token may not go, watchers.

Liveness is shown without timing: the recipe prints a line, then waits for
a file that the test creates only once a watcher has received that line,
so the line can only have come while the recipe still ran.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from actors.serve import ServiceHandle, run_service
from crafting_table.config import Settings
from crafting_table.joblog import LogFeed
from crafting_table.messages import WatchLog
from tests.support import Repo, enqueue, register, wait_job


def gated(gate: Path) -> str:
    """A recipe that prints 'first', waits until ``gate`` exists, prints 'second'."""
    return f"echo first; until [ -e {gate} ]; do sleep 0.02; done; echo second"


def ws_url(service: ServiceHandle, job_id: str, query: str = "") -> str:
    return service.url.replace("http://", "ws://") + f"/jobs/{job_id}/log/ws{query}"


def bearer_header(service: ServiceHandle) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", f"Bearer {service.admin_bearer}".encode())]


async def watch(
    url: str,
    headers: list[tuple[bytes, bytes]],
    lines: list[str],
    seen_first: trio.Event,
) -> dict[str, Any]:
    """Collect every line into ``lines`` (setting ``seen_first`` on 'first');
    return the final message."""
    async with open_websocket_url(url, extra_headers=headers) as ws:
        while True:
            message = json.loads(await ws.get_message())
            if message["type"] == "end":
                return dict(message)
            lines.extend(message["lines"])
            if "first" in message["lines"]:
                seen_first.set()


async def test_lines_arrive_while_the_recipe_runs(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    repo: Repo = make_repo()
    await register(admin, repo, test=gated(gate))
    job_id = await enqueue(admin, "demo", recipe="test")
    lines: list[str] = []
    seen_first = trio.Event()
    final: dict[str, Any] = {}

    async def watcher() -> None:
        final.update(
            await watch(
                ws_url(service, job_id), bearer_header(service), lines, seen_first
            )
        )

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher)
            await seen_first.wait()
            # The recipe is held at its gate: the job runs, 'second' is unsaid.
            assert "second" not in lines
            job = (await admin.get(f"/jobs/{job_id}")).json()["job"]
            assert job["status"] == "running"
            # The header lines are on disk already, before the recipe's own.
            assert job["log_bytes"] > 0
            gate.touch()

    assert lines.index("first") < lines.index("second")
    assert final["status"] == "succeeded"
    assert final["exit_code"] == 0
    assert lines == (await admin.get(f"/jobs/{job_id}/log")).text.splitlines()


@pytest.mark.parametrize("name", ["token", "access_token", "bearer"])
async def test_token_in_the_query_string_is_refused(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any, name: str
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo done")
    job_id = await enqueue(admin, "demo", recipe="test")
    await wait_job(admin, job_id)
    url = ws_url(service, job_id, f"?{name}={service.admin_bearer}")

    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(url):
            pass

    assert rejected.value.status_code == 401
    assert rejected.value.body is not None
    assert json.loads(rejected.value.body)["error"]["code"] == "unauthorized"


async def test_every_watcher_gets_every_line_from_one_feed(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    repo: Repo = make_repo()
    await register(admin, repo, test=f"seq 1 300; {gated(gate)}; seq 301 600")
    job_id = await enqueue(admin, "demo", recipe="test")
    watchers = 3
    seen: list[tuple[list[str], trio.Event]] = [
        ([], trio.Event()) for _ in range(watchers)
    ]
    finals: list[dict[str, Any]] = []

    async def watcher(lines: list[str], seen_first: trio.Event) -> None:
        url = ws_url(service, job_id)
        finals.append(await watch(url, bearer_header(service), lines, seen_first))

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for lines, seen_first in seen:
                nursery.start_soon(watcher, lines, seen_first)
            for _, seen_first in seen:
                await seen_first.wait()
            # One feed for the job, whoever asks, shared by every watcher.
            runner = service.refs["runner"]
            feed: LogFeed = await runner.ask(WatchLog(job_id=job_id))
            assert feed is await runner.ask(WatchLog(job_id=job_id))
            assert feed.watchers == watchers
            gate.touch()

    log = (await admin.get(f"/jobs/{job_id}/log")).text.splitlines()
    numbers = [str(n) for n in range(1, 601)]
    for lines, _ in seen:
        assert lines == log
        assert [line for line in lines if line.isdigit()] == numbers
    assert [final["status"] for final in finals] == ["succeeded"] * watchers


async def test_a_wrap_up_cut_short_still_ends_the_job_for_its_watchers(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    nursery: trio.Nursery,
    make_repo: Any,
    tmp_path: Path,
) -> None:
    # No time at all for the wrap-up: it is cut at its first pause, before
    # the log is closed or the job has its terminal row.
    monkeypatch.setattr("actors.runner.FINISH_TIMEOUT", 0.0)
    settings.max_jobs = 1
    service: ServiceHandle = await nursery.start(run_service, settings)
    gate = tmp_path / "gate"
    repo: Repo = make_repo()
    async with httpx.AsyncClient(
        base_url=service.url,
        headers={"Authorization": f"Bearer {service.admin_bearer}"},
        timeout=30,
    ) as admin:
        await register(admin, repo, test=gated(gate))
        job_id = await enqueue(admin, "demo", recipe="test")
        lines: list[str] = []
        seen_first = trio.Event()
        final: dict[str, Any] = {}

        async def watcher() -> None:
            url = ws_url(service, job_id)
            final.update(await watch(url, bearer_header(service), lines, seen_first))

        with trio.fail_after(60):
            async with trio.open_nursery() as watchers:
                watchers.start_soon(watcher)
                await seen_first.wait()
                gate.touch()
            job = (await wait_job(admin, job_id))["job"]
            # The slot is free again: the next job runs.
            following = await enqueue(admin, "demo", recipe="test")
            await wait_job(admin, following)
        log = (await admin.get(f"/jobs/{job_id}/log")).text
        await service.aclose()

    assert final["status"] == job["status"] == "succeeded"
    assert "wrap-up was cut short" in job["error"]
    assert lines == log.splitlines()
    assert "succeeded exit 0" in log.splitlines()[-1]
