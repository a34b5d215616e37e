"""Running the whole service for digest tests, with the wall clock chosen.

Jobs run for real, so they finish at the real time; the digest that
covers them is the one dated :func:`current_day`. :class:`DigestClock`
gives the Notifier a fixed wall-clock time relative to that digest's send
time (before 06:00, or after), so whether the schedule sends is decided by
the test, not by the hour at which the suite happens to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table.config import Settings
from crafting_table.digest_schedule import due_date, send_time
from tests.support import Repo

# Two zones 16 or 17 hours apart: real time is never near 06:00 in both.
ZONES = ("America/Los_Angeles", "Asia/Tokyo")
# How far from 06:00 the real time must be for a test to use a zone: a
# test that ran across 06:00 would see its jobs in two different digests.
MARGIN = timedelta(minutes=20)


def quiet_zone() -> str:
    """A digest zone whose 06:00 is not within :data:`MARGIN` of now."""
    now = datetime.now(UTC)
    for name in ZONES:
        tz = ZoneInfo(name)
        day = now.astimezone(tz).date()
        near = [send_time(day + timedelta(days=d), tz) for d in (-1, 0, 1)]
        if all(abs(now - t.astimezone(UTC)) > MARGIN for t in near):
            return name
    raise AssertionError("unreachable: the zones are 16 hours apart")


def current_day(tz_name: str) -> date:
    """The date of the digest whose window holds the present moment."""
    return due_date(datetime.now(UTC), ZoneInfo(tz_name)) + timedelta(days=1)


class DigestClock:
    """A settable wall clock for the Notifier (aware, UTC)."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def __call__(self) -> datetime:
        """The time it is set to."""
        return self.value

    @classmethod
    def at_send_time(
        cls, tz_name: str, day: date, offset: timedelta = timedelta()
    ) -> DigestClock:
        """A clock ``offset`` after 06:00 of ``day`` in ``tz_name``."""
        moment = send_time(day, ZoneInfo(tz_name)) + offset
        return cls(moment.astimezone(UTC))


def mail_settings(settings: Settings, port: int, **changes: Any) -> Settings:
    """``settings`` with plain SMTP to loopback ``port`` and a quiet zone."""
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": False,
        "smtp_from": "crafting-table@example.com",
        "smtp_timeout_secs": 5.0,
        "digest_tz": quiet_zone(),
        "public_url": "https://ct.example.com",
    }
    values.update(changes)
    return settings.model_copy(update=values)


@asynccontextmanager
async def running(
    settings: Settings, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[tuple[ServiceHandle, httpx.AsyncClient]]:
    """The service on ``settings`` and an admin client, until the block ends.

    Starting again on the same data folder is a restart: the admin bearer
    is read from the file the first boot wrote.
    """
    async with trio.open_nursery() as nursery:
        handle: ServiceHandle = await nursery.start(
            partial(run_service, settings, wall_clock=clock)
        )
        bearer = (settings.data_dir / "admin-bearer.txt").read_text().strip()
        try:
            async with httpx.AsyncClient(
                base_url=handle.url,
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=30,
            ) as client:
                yield handle, client
        finally:
            handle.stop()


async def register_notified(
    client: httpx.AsyncClient,
    repo: Repo,
    *,
    name: str = "demo",
    email: list[str] | None = None,
    on: list[str] | None = None,
    subprojects: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Register ``repo`` with a notify block; return the project."""
    body = {
        "name": name,
        "git_url": repo.url,
        "subprojects": subprojects
        or [{"path": ".", "audit": "echo audited; exit 1", "test": "exit 0"}],
        "notify": {
            "email": ["ops@example.com"] if email is None else email,
            "on": on or [],
        },
    }
    answer = await client.post("/projects", json=body)
    assert answer.status_code == 201, answer.text
    project: dict[str, Any] = answer.json()["project"]
    return project


async def digest_health(client: httpx.AsyncClient) -> dict[str, Any]:
    """The ``digest`` section of ``/healthz``."""
    answer = await client.get("/healthz")
    assert answer.status_code == 200, answer.text
    section: dict[str, Any] = answer.json()["digest"]
    return section


async def schedule_ran(client: httpx.AsyncClient, timeout: float = 10.0) -> None:
    """Wait until the schedule's first look at the clock is over.

    The next send time is published only after the due digest was run, so
    once it shows, whatever the start was going to send has been sent.
    """
    with trio.fail_after(timeout):
        while (await digest_health(client))["next_run"] is None:
            await trio.sleep(0.02)


async def notifier_stats(client: httpx.AsyncClient) -> dict[str, Any]:
    """The Notifier's statistics as ``/healthz`` lists them."""
    answer = await client.get("/healthz")
    [child] = [a for a in answer.json()["actors"] if a["name"] == "notifier"]
    stats: dict[str, Any] = child["actor"]
    return stats
