"""Schedules through the API: checked at registration, fired by the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import trio

from crafting_table.config import Settings
from crafting_table.messages import Tick
from tests.digest_service import DigestClock, running
from tests.support import Repo, wait_job


def body(repo_url: str, *schedules: dict[str, Any]) -> dict[str, Any]:
    """A project with two subprojects and the given schedules."""
    return {
        "name": "timed",
        "git_url": repo_url,
        "subprojects": [
            {"path": ".", "test": "echo scheduled-run"},
            {"path": "docs", "build": "true"},
        ],
        "schedules": list(schedules),
    }


@pytest.mark.parametrize(
    ("schedule", "field", "fragment"),
    [
        pytest.param(
            {"cron": "0 3 * *", "recipe": "test"},
            "schedules.0.cron",
            "field(s)",
            id="cron-fields",
        ),
        pytest.param(
            {"cron": "0 25 * * *", "recipe": "test"},
            "schedules.0.cron",
            "hour",
            id="cron-hour",
        ),
        pytest.param(
            {"cron": "0 3 * * *", "tz": "Moon/Base", "recipe": "test"},
            "schedules.0.tz",
            "not a time zone",
            id="tz",
        ),
        pytest.param(
            {"cron": "0 3 * * *", "recipe": "deploy"},
            "schedules.0.recipe",
            "",
            id="unknown-recipe-name",
        ),
        pytest.param(
            {"cron": "0 3 * * *", "recipe": "lint", "subproject": "."},
            "schedules",
            "defines no 'lint' recipe",
            id="recipe-not-defined",
        ),
        pytest.param(
            {"cron": "0 3 * * *", "recipe": "test", "subproject": "nope"},
            "schedules",
            "'nope' is not a subproject",
            id="unknown-subproject",
        ),
    ],
)
async def test_bad_schedules_are_422_naming_the_field(
    admin: httpx.AsyncClient,
    make_repo: Any,
    schedule: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    repo: Repo = make_repo()

    answer = await admin.post("/projects", json=body(repo.url, schedule))

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]["problems"][0]["field"] == field
    assert fragment in error["message"]
    assert (await admin.get("/projects")).json()["projects"] == []


async def test_schedules_are_shown_normalised(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    schedule = {"cron": " 0  3 * * 1-5 ", "tz": "Europe/Paris", "recipe": "test"}

    answer = await admin.post("/projects", json=body(repo.url, schedule))

    assert answer.status_code == 201, answer.text
    assert answer.json()["project"]["schedules"] == [
        {
            "cron": "0 3 * * 1-5",
            "tz": "Europe/Paris",
            "recipe": "test",
            "subproject": None,
        }
    ]


async def test_the_service_fires_a_schedule(settings: Settings, make_repo: Any) -> None:
    repo: Repo = make_repo()
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    clock = DigestClock(start)
    schedule = {"cron": "*/5 * * * *", "tz": "UTC", "recipe": "test", "subproject": "."}

    async with running(settings, clock) as (handle, client):
        registered = await client.post("/projects", json=body(repo.url, schedule))
        assert registered.status_code == 201, registered.text
        scheduler = handle.refs["scheduler"]
        await scheduler.tell(Tick())
        # The next multiple of five minutes, and a little more.
        clock.value = start + timedelta(minutes=5 - start.minute % 5, seconds=3)
        await scheduler.tell(Tick())

        jobs = await _wait_jobs(client, 1)
        done = await wait_job(client, jobs[0]["id"])
        assert (done["job"]["trigger"], done["job"]["ref"]) == ("schedule", "main")
        assert done["job"]["status"] == "succeeded"
        assert "scheduled-run" in done["log_tail"]
        health = (await client.get("/healthz")).json()
        [stats] = [a for a in health["actors"] if a["name"] == "scheduler"]
        assert stats["actor"]["fired"] == 1


async def _wait_jobs(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    with trio.fail_after(20):
        while True:
            jobs: list[dict[str, Any]] = (await client.get("/jobs")).json()["jobs"]
            if len(jobs) >= count:
                return jobs
            await trio.sleep(0.05)


async def test_a_schedule_names_its_subproject_like_a_job(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    schedule = {"cron": "0 3 * * *", "recipe": "build", "subproject": "docs/"}

    answer = await admin.post("/projects", json=body(repo.url, schedule))

    assert answer.status_code == 201, answer.text
    assert answer.json()["project"]["schedules"][0]["subproject"] == "docs"


async def test_a_schedule_naming_no_subproject_needs_a_root_among_several(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    project = body(repo.url, {"cron": "0 3 * * *", "recipe": "build"})
    project["subprojects"] = [
        {"path": "docs", "build": "true"},
        {"path": "api", "build": "true"},
    ]

    answer = await admin.post("/projects", json=project)

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["details"]["problems"][0]["field"] == "schedules"
    message = error["message"]
    assert "schedule 0 names no subproject and this project has several" in message
