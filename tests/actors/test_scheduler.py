"""The Scheduler on a real ledger, with a wall clock the test moves by hand.

The Runner is a bare inbox here: the jobs the Scheduler enqueues stay in
the ledger as ``queued``, which is all these tests look at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trio

from actors.kernel import ActorRef, Inbox
from actors.scheduler import Scheduler, keep_schedules
from crafting_table.errors import LedgerError
from crafting_table.ledger import Ledger
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger import schedules as schedule_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.messages import GetStats, Tick
from crafting_table.models import ProjectIn
from crafting_table.schedules import schedule_key

LA = ZoneInfo("America/Los_Angeles")


def la(text: str, fold: int = 0) -> datetime:
    """A Los Angeles wall time as an aware UTC instant."""
    local = datetime.fromisoformat(text).replace(tzinfo=LA, fold=fold)
    return local.astimezone(UTC)


class StepClock:
    """A wall clock that stands still until the test sets it."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def __call__(self) -> datetime:
        return self.value


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    """A real ledger file."""
    opened = await Ledger.open(tmp_path / "ledger.sqlite3")
    yield opened
    await opened.aclose()


def spec(
    *schedules: dict[str, Any],
    name: str = "nightly",
    subprojects: list[dict[str, Any]] | None = None,
) -> ProjectIn:
    """A project (by default one root with a test and a lint recipe) and the
    given schedules."""
    root = {"path": ".", "test": "true", "lint": "true"}
    return ProjectIn.model_validate(
        {
            "name": name,
            "git_url": "https://git.example.com/team/nightly.git",
            "subprojects": subprojects or [root],
            "schedules": list(schedules),
        }
    )


async def add_project(ledger: Ledger, project: ProjectIn, updated: datetime) -> None:
    """Store ``project`` as registered (last updated) at ``updated``."""
    await ledger.write(project_store.insert, project, "admin", updated.timestamp())


async def scheduled_jobs(ledger: Ledger) -> list[JobRow]:
    """The jobs the Scheduler enqueued, oldest first."""
    rows = await ledger.read(
        job_store.list_visible,
        owner=None,
        project=None,
        status=None,
        recipe=None,
        before=None,
        limit=1000,
    )
    return list(reversed(rows))


class Harness:
    """A running Scheduler, its clock, and a way to make it look now."""

    def __init__(self, ledger: Ledger, clock: StepClock, ref: ActorRef) -> None:
        self.ledger = ledger
        self.clock = clock
        self.ref = ref

    async def look(self) -> dict[str, Any]:
        """Make the Scheduler look at the clock; return its statistics after."""
        await self.ref.tell(Tick())
        # The inbox is served in order: this answer comes after the look.
        return await self.ref.ask(GetStats(), timeout=10)

    async def walk(
        self, until: datetime, probes: tuple[datetime, ...] = ()
    ) -> list[datetime]:
        """Step the clock from fire to fire (and to each probe) until ``until``.

        Returns the clock's time at each job enqueued.
        """
        fired: list[datetime] = []
        seen = len(await scheduled_jobs(self.ledger))
        while True:
            stats = await self.look()
            count = len(await scheduled_jobs(self.ledger))
            fired.extend([self.clock.value] * (count - seen))
            seen = count
            upcoming = [p for p in probes if p > self.clock.value]
            if stats["next_run"] is not None:
                upcoming.append(datetime.fromisoformat(stats["next_run"]))
            step = min(upcoming, default=until + timedelta(seconds=1))
            if step > until:
                return fired
            self.clock.value = step


async def start(nursery: trio.Nursery, ledger: Ledger, clock: StepClock) -> Harness:
    """Run a Scheduler (a new incarnation each call) on ``ledger``."""
    runner = Inbox("runner")
    inbox = Inbox("scheduler")
    # A long nap: the test's Ticks decide when it looks, not trio's clock.
    actor = Scheduler(ledger, runner.ref(), wall_clock=clock, max_nap=3600)
    nursery.start_soon(actor.run, inbox.receive)
    return Harness(ledger, clock, inbox.ref())


@pytest.mark.parametrize(
    ("cron", "start_at", "until", "expected", "probes"),
    [
        pytest.param(
            "30 2 * * *",
            la("2026-03-07T12:00"),
            la("2026-03-09T12:00"),
            [la("2026-03-08T03:00"), la("2026-03-09T02:30")],
            (),
            id="spring-forward-time-in-the-gap-runs-after-it",
        ),
        pytest.param(
            "0 * * * *",
            la("2026-03-08T00:30"),
            la("2026-03-08T04:30"),
            [
                la("2026-03-08T01:00"),
                la("2026-03-08T03:00"),
                la("2026-03-08T04:00"),
            ],
            (),
            id="spring-forward-hourly-skips-the-missing-hour",
        ),
        pytest.param(
            "30 1 * * *",
            la("2026-10-31T12:00"),
            la("2026-11-02T12:00"),
            [la("2026-11-01T01:30"), la("2026-11-02T01:30")],
            (la("2026-11-01T01:30", fold=1), la("2026-11-01T01:45", fold=1)),
            id="fall-back-fixed-time-runs-once",
        ),
        pytest.param(
            "*/30 * * * *",
            la("2026-11-01T00:45"),
            la("2026-11-01T02:10"),
            [
                la("2026-11-01T01:00"),
                la("2026-11-01T01:30"),
                la("2026-11-01T01:00", fold=1),
                la("2026-11-01T01:30", fold=1),
                la("2026-11-01T02:00"),
            ],
            (),
            id="fall-back-wildcard-hour-runs-both-passes",
        ),
    ],
)
async def test_schedules_across_dst(
    nursery: trio.Nursery,
    ledger: Ledger,
    cron: str,
    start_at: datetime,
    until: datetime,
    expected: list[datetime],
    probes: tuple[datetime, ...],
) -> None:
    schedule = {"cron": cron, "tz": "America/Los_Angeles", "recipe": "test"}
    await add_project(ledger, spec(schedule), start_at - timedelta(minutes=1))
    harness = await start(nursery, ledger, StepClock(start_at))

    fired = await harness.walk(until, probes)

    assert fired == expected
    jobs = await scheduled_jobs(ledger)
    assert {(j.trigger, j.ref, j.recipe, j.status) for j in jobs} == {
        ("schedule", "main", "test", "queued")
    }


async def test_a_missed_run_fires_once_on_start_never_a_burst(
    nursery: trio.Nursery, ledger: Ledger
) -> None:
    schedule = {"cron": "0 * * * *", "tz": "UTC", "recipe": "lint"}
    now = datetime(2026, 5, 4, 7, 20, tzinfo=UTC)
    await add_project(ledger, spec(schedule), now - timedelta(days=30))
    key = schedule_key("0 * * * *", "UTC", "lint", None)
    # The service last fired it three days ago, then went down.
    last = now - timedelta(days=3, minutes=20)
    await ledger.write(schedule_store.record, "nightly", key, last.timestamp())
    clock = StepClock(now)

    first = await start(nursery, ledger, clock)
    await first.look()
    # A restart in the same hour fires nothing more.
    second = await start(nursery, ledger, clock)
    stats = await second.look()

    jobs = await scheduled_jobs(ledger)
    assert [j.recipe for j in jobs] == ["lint"]
    fires = await ledger.read(schedule_store.last_fires)
    assert fires[("nightly", key)] == datetime(2026, 5, 4, 7, tzinfo=UTC).timestamp()
    assert stats["next_run"] == "2026-05-04T08:00:00+00:00"

    clock.value = datetime(2026, 5, 4, 8, 0, 5, tzinfo=UTC)
    await second.look()
    assert len(await scheduled_jobs(ledger)) == 2


async def test_a_new_schedule_counts_from_its_registration(
    nursery: trio.Nursery, ledger: Ledger
) -> None:
    registered = datetime(2026, 5, 4, 2, 59, 50, tzinfo=UTC)
    schedule = {"cron": "0 3 * * *", "tz": "UTC", "recipe": "test"}
    await add_project(ledger, spec(schedule), registered)
    # The first look comes after 03:00, which fell after the registration.
    harness = await start(
        nursery, ledger, StepClock(datetime(2026, 5, 4, 3, 0, 40, tzinfo=UTC))
    )

    await harness.look()

    assert len(await scheduled_jobs(ledger)) == 1


async def test_a_new_schedule_does_not_fire_what_came_before_it(
    nursery: trio.Nursery, ledger: Ledger
) -> None:
    registered = datetime(2026, 5, 4, 3, 30, tzinfo=UTC)
    schedule = {"cron": "0 3 * * *", "tz": "UTC", "recipe": "test"}
    await add_project(ledger, spec(schedule), registered)
    harness = await start(
        nursery, ledger, StepClock(datetime(2026, 5, 4, 4, 0, tzinfo=UTC))
    )

    stats = await harness.look()

    assert await scheduled_jobs(ledger) == []
    assert stats["next_run"] == "2026-05-05T03:00:00+00:00"
    assert stats["schedules"] == 1


async def test_a_schedule_naming_no_subproject_runs_the_root_among_several(
    nursery: trio.Nursery, ledger: Ledger
) -> None:
    now = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)
    schedule = {"cron": "0 3 * * *", "tz": "UTC", "recipe": "test"}
    subprojects = [{"path": "docs", "test": "true"}, {"path": ".", "test": "true"}]
    project = spec(schedule, subprojects=subprojects)
    await add_project(ledger, project, now - timedelta(days=1))
    harness = await start(nursery, ledger, StepClock(now))

    stats = await harness.look()

    assert [j.subproject for j in await scheduled_jobs(ledger)] == ["."]
    assert stats["last_error"] is None


async def test_an_edited_schedule_forgets_the_old_one(
    nursery: trio.Nursery, ledger: Ledger
) -> None:
    now = datetime(2026, 5, 4, 4, 0, tzinfo=UTC)
    old = {"cron": "0 3 * * *", "tz": "UTC", "recipe": "test"}
    await add_project(ledger, spec(old), now - timedelta(days=1))
    harness = await start(nursery, ledger, StepClock(now))
    await harness.look()
    new = {"cron": "0 5 * * *", "tz": "UTC", "recipe": "lint"}
    await ledger.write(project_store.replace, spec(new), now.timestamp())

    stats = await harness.look()

    fires = await ledger.read(schedule_store.last_fires)
    assert list(fires) == [("nightly", schedule_key("0 5 * * *", "UTC", "lint", None))]
    assert stats["next_run"] == "2026-05-04T05:00:00+00:00"


async def test_the_loop_sleeps_until_the_next_fire(
    autojump_clock: trio.testing.MockClock,
) -> None:
    origin = trio.current_time()
    wall = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    answers: list[datetime | Exception | None] = [
        wall + timedelta(seconds=30),
        wall + timedelta(hours=3),
        LedgerError("the ledger is closed"),
        None,
    ]
    looked: list[float] = []

    def now() -> datetime:
        return wall + timedelta(seconds=trio.current_time() - origin)

    async def look() -> datetime | None:
        looked.append(round(trio.current_time() - origin, 3))
        answer = answers.pop(0) if answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer

    with trio.move_on_after(30 + 60 + 60 + 60 + 1):
        await keep_schedules(now, look, max_nap=60)

    # At once; at the answered time; then naps of at most 60 s, also
    # after a failed look and when nothing is scheduled.
    assert looked == [0.0, 30.0, 90.0, 150.0, 210.0]
