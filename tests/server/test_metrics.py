"""``/metrics`` on the real service, read back with prometheus-client's parser."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from tests.digest_service import running
from tests.support import Repo, enqueue, register, run_job, wait_job

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback is a trusted proxy here, so a test can claim any address."""
    settings.trusted_proxies = ["127.0.0.1/32"]
    return settings


async def scrape(service: ServiceHandle) -> Samples:
    """Every sample of ``/metrics``, fetched without a bearer."""
    async with httpx.AsyncClient(base_url=service.url) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None when it is absent."""
    return samples.get((name, frozenset(labels.items())))


async def test_counts_after_a_known_sequence_of_jobs(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    before = await scrape(service)
    repo: Repo = make_repo()
    await register(admin, repo, test="true", lint="exit 1", build="sleep 30")

    for _ in range(2):
        await run_job(admin, "demo", recipe="test")
    await run_job(admin, "demo", recipe="lint")
    slow = await enqueue(admin, "demo", recipe="build")
    with trio.fail_after(20):
        while (await admin.get(f"/jobs/{slow}")).json()["job"]["status"] != "running":
            await trio.sleep(0.05)
    during = await scrape(service)
    await admin.post(f"/jobs/{slow}/cancel")
    await wait_job(admin, slow)
    await _patch_and_digest_rows(service)
    # A crash of the scheduler (a message it cannot handle) is a restart.
    await service.refs["scheduler"].tell(object())
    with trio.fail_after(10):
        while not value(
            await scrape(service), "crafting_actor_restarts_total", actor="scheduler"
        ):
            await trio.sleep(0.05)

    after = await scrape(service)

    assert value(before, "crafting_queue_depth") == 0
    assert value(before, "crafting_actor_restarts_total", actor="scheduler") == 0
    assert not [k for k in before if k[0] == "crafting_jobs_total"]
    assert value(during, "crafting_running_jobs") == 1
    assert value(after, "crafting_running_jobs") == 0
    assert value(after, "crafting_job_slots") == service.settings.max_jobs
    jobs = {
        dict(labels)["status"] + "/" + dict(labels)["recipe"]: n
        for (name, labels), n in after.items()
        if name == "crafting_jobs_total"
    }
    assert jobs == {"succeeded/test": 2, "failed/lint": 1, "canceled/build": 1}
    assert value(after, "crafting_job_duration_seconds_count", recipe="test") == 2
    assert (
        value(after, "crafting_job_duration_seconds_bucket", recipe="test", le="+Inf")
        == 2
    )
    build_sum = value(after, "crafting_job_duration_seconds_sum", recipe="build")
    assert build_sum is not None
    assert 0 < build_sum < 30
    # Buckets are cumulative; every finished job is in the last ones.
    buckets = [
        value(after, "crafting_job_duration_seconds_bucket", recipe="lint", le=le)
        for le in ("1.0", "5.0", "3600.0", "+Inf")
    ]
    assert buckets == sorted(buckets)
    assert buckets[-2:] == [1, 1]
    assert value(after, "crafting_findings_total", kind="recipe_fail") == 1
    assert value(after, "crafting_patch_attempts", status="pr_opened") == 1
    assert value(after, "crafting_digest_runs", status="sent") == 1
    assert value(after, "crafting_digest_runs", status="failed") == 1
    assert value(after, "crafting_actor_restarts_total", actor="scheduler") == 1
    assert value(after, "crafting_actor_restarts_total", actor="runner") == 0


async def test_the_counters_keep_a_deleted_projects_jobs_and_findings(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="true", lint="exit 1")
    await run_job(admin, "demo", recipe="test")
    await run_job(admin, "demo", recipe="lint")
    await register(admin, make_repo(name="other"), name="other", lint="exit 2")
    await run_job(admin, "other", recipe="lint")
    before = await scrape(service)

    deleted = await admin.delete("/projects/demo")
    after = await scrape(service)

    assert deleted.status_code == 200, deleted.text
    counters = [
        key
        for key in before
        if key[0].endswith(("_total", "_count", "_sum", "_bucket"))
        and key[0] != "crafting_actor_restarts_total"
    ]
    assert {key[0] for key in counters} >= {
        "crafting_jobs_total",
        "crafting_findings_total",
        "crafting_job_duration_seconds_bucket",
    }
    assert {key: after.get(key) for key in counters} == {
        key: before[key] for key in counters
    }
    assert value(after, "crafting_jobs_total", status="failed", recipe="lint") == 2
    assert value(after, "crafting_findings_total", kind="recipe_fail") == 2


async def _patch_and_digest_rows(service: ServiceHandle) -> None:
    """One patch attempt that opened a pull request, one digest sent, one failed."""

    def add(conn: Any) -> None:
        finding = conn.execute("SELECT id, job_id FROM findings").fetchone()
        now = time.time()
        conn.execute(
            "INSERT INTO patch_attempts (finding_id, job_id, project_name, owner,"
            " attempt_number, status, created_at, updated_at)"
            " VALUES (?, ?, 'demo', 'admin', 1, 'pr_opened', ?, ?)",
            (finding[0], finding[1], now, now),
        )
        for day, status in (("2026-03-01", "sent"), ("2026-03-02", "failed")):
            conn.execute(
                "INSERT INTO digest_runs (date, project_name, status, created_at,"
                " updated_at) VALUES (?, 'demo', ?, ?, ?)",
                (day, status, now, now),
            )

    await service.ledger.write(add)


@pytest.mark.parametrize(
    ("max_jobs", "per_project"),
    [(1, None), (4, 1)],
    ids=["global-slot", "project-limit"],
)
async def test_queue_depth_while_a_job_waits_behind_a_held_one(
    settings: Settings,
    make_repo: Any,
    tmp_path: Path,
    max_jobs: int,
    per_project: int | None,
) -> None:
    gate = tmp_path / "gate"
    repo: Repo = make_repo()
    spec: dict[str, Any] = {
        "name": "demo",
        "git_url": repo.url,
        "subprojects": [
            {"test": f"until [ -e {gate} ]; do sleep 0.02; done", "lint": "true"}
        ],
    }
    if per_project is not None:
        spec["max_concurrent_jobs"] = per_project
    limited = settings.model_copy(update={"max_jobs": max_jobs})

    async with running(limited) as (handle, client):
        answer = await client.post("/projects", json=spec)
        assert answer.status_code == 201, answer.text
        held = await enqueue(client, "demo", recipe="test")
        waiting = await enqueue(client, "demo", recipe="lint")
        # Once the held job runs, the only slot it may use is taken, so the
        # other job can be nowhere but in the queue.
        with trio.fail_after(20):
            while (await client.get(f"/jobs/{held}")).json()["job"][
                "status"
            ] != "running":
                await trio.sleep(0.05)
        during = await scrape(handle)
        status = (await client.get(f"/jobs/{waiting}")).json()["job"]["status"]
        gate.touch()
        await wait_job(client, held)
        await wait_job(client, waiting)
        after = await scrape(handle)

    assert status == "queued"
    assert value(during, "crafting_queue_depth") == 1
    assert value(during, "crafting_running_jobs") == 1
    assert value(during, "crafting_job_slots") == max_jobs
    assert value(after, "crafting_queue_depth") == 0
    assert value(after, "crafting_running_jobs") == 0
    assert value(after, "crafting_jobs_total", status="succeeded", recipe="lint") == 1


async def test_metrics_are_for_the_lan_only(service: ServiceHandle) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        outside = await client.get("/metrics", headers={"X-Forwarded-For": "8.8.8.8"})
        inside = await client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})

    assert outside.status_code == 403
    assert inside.status_code == 200


async def test_counts_survive_a_restart(settings: Settings, make_repo: Any) -> None:
    repo: Repo = make_repo()
    seen = []
    for round_ in range(2):
        async with running(settings) as (handle, client):
            if round_ == 0:
                await register(client, repo, test="true")
                await run_job(client, "demo", recipe="test")
            samples = await scrape(handle)
            seen.append(
                value(samples, "crafting_jobs_total", status="succeeded", recipe="test")
            )

    assert seen == [1, 1]
