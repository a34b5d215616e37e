"""The Scheduler: enqueues each project's scheduled recipes when they fall due.

On every look at the wall clock the Scheduler reads the projects'
``schedules`` and the last fire of each (ledger table ``schedule_fires``),
fires what is due through :func:`crafting_table.enqueue.enqueue` (trigger
``schedule``, the project's default branch), and sleeps until the next
occurrence, but never longer than :data:`MAX_NAP`: trio's clock stands
still while the machine is suspended, and a registration or an update
must be noticed without a message. Occurrences are computed by
:mod:`crafting_table.schedules` in each schedule's own time zone.

Missed runs: after a gap (the service was down, the machine slept) a
schedule fires once for the newest occurrence it missed, never once per
missed occurrence. A schedule seen for the first time counts from its
project's last update, so one registered just before its first occurrence
still fires it.

Each fire is recorded before its job is enqueued, in a write that only
moves the record forward: two looks racing (a ``Tick`` during the
schedule) cannot both fire, and a crash between the two loses that one
run rather than repeating it after the restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import trio

from actors.kernel import Actor
from crafting_table.enqueue import enqueue
from crafting_table.errors import CraftingError
from crafting_table.ledger import Ledger
from crafting_table.ledger import projects as project_store
from crafting_table.ledger import schedules as schedule_store
from crafting_table.ledger.projects import ProjectRow
from crafting_table.messages import Ref, Tick
from crafting_table.models import Schedule
from crafting_table.schedules import latest_due, next_fire, schedule_key

logger = logging.getLogger(__name__)

WallClock = Callable[[], datetime]

# The longest sleep before the wall clock is read again (see the module
# docstring): a schedule fires at most this late after a suspend or a
# registration made just before its time.
MAX_NAP = 60.0


def utc_now() -> datetime:
    """The wall clock, aware and in UTC."""
    return datetime.now(UTC)


async def keep_schedules(
    now: WallClock,
    look: Callable[[], Awaitable[datetime | None]],
    *,
    max_nap: float = MAX_NAP,
) -> NoReturn:
    """Call ``look()`` for ever, sleeping until the time it answers.

    ``look`` fires what is due and answers the next occurrence of any
    schedule (aware), or None when there is none; the sleep that follows
    lasts until then by ``now()``, capped at ``max_nap`` seconds of trio's
    clock. A look that raises :class:`CraftingError` is logged and tried
    again after ``max_nap``.
    """
    while True:
        try:
            upcoming = await look()
        except CraftingError as exc:
            logger.error("schedules could not be read: %s", exc.message)
            upcoming = None
        left = max_nap
        if upcoming is not None:
            # Both in UTC: Python subtracts two datetimes of one zone as
            # wall times, an hour off across a clock change.
            delta = upcoming.astimezone(UTC) - now().astimezone(UTC)
            left = delta.total_seconds()
        await trio.sleep(max(0.0, min(left, max_nap)))


@dataclass(frozen=True, slots=True)
class SchedulerStatistics:
    """A snapshot for ``/healthz``."""

    name: str
    handled: int
    failed: int
    schedules: int
    fired: int
    next_run: str | None
    last_error: str | None


class Scheduler(Actor):
    """Fires the projects' schedules; see the module docstring."""

    name = "scheduler"

    def __init__(
        self,
        ledger: Ledger,
        runner: Ref,
        wall_clock: WallClock | None = None,
        *,
        max_nap: float = MAX_NAP,
    ) -> None:
        super().__init__()
        self.ledger = ledger
        self.runner = runner
        self.wall_clock = wall_clock or utc_now
        self.max_nap = max_nap
        self.schedules = 0
        self.fired = 0
        self.next_run: datetime | None = None
        self.last_error: str | None = None
        self._lock = trio.Lock()

    async def started(self) -> None:
        """Start the schedule; its first look fires what was missed."""
        self.nursery.start_soon(self._keep)

    async def handle(self, message: object) -> Any:
        """Dispatch one message: ``Tick`` looks at the clock now."""
        match message:
            case Tick():
                await self.look()
                return None
            case _:
                return await super().handle(message)

    def statistics(self) -> SchedulerStatistics:
        """Counters and the next fire."""
        return SchedulerStatistics(
            name=self.name,
            handled=self.handled,
            failed=self.failed,
            schedules=self.schedules,
            fired=self.fired,
            next_run=self.next_run.isoformat() if self.next_run else None,
            last_error=self.last_error,
        )

    async def _keep(self) -> None:
        await keep_schedules(self.wall_clock, self.look, max_nap=self.max_nap)

    async def look(self) -> datetime | None:
        """Fire every schedule that is due; answer the next fire of any (UTC)."""
        async with self._lock:
            now = self.wall_clock().astimezone(UTC)
            projects = await self.ledger.read(project_store.list_all)
            fires = await self.ledger.read(schedule_store.last_fires)
            seen: set[tuple[str, str]] = set()
            upcoming: datetime | None = None
            for project in projects:
                for schedule in project.spec.schedules:
                    key = _key(schedule)
                    seen.add((project.name, key))
                    last = fires.get((project.name, key))
                    when = await self._one(project, schedule, key, last, now)
                    if when is not None and (upcoming is None or when < upcoming):
                        upcoming = when
            if set(fires) - seen:
                await self.ledger.write(schedule_store.forget, seen)
            self.schedules = len(seen)
            self.next_run = upcoming
            return upcoming

    async def _one(
        self,
        project: ProjectRow,
        schedule: Schedule,
        key: str,
        last: float | None,
        now: datetime,
    ) -> datetime | None:
        """Fire one schedule if due; answer its next occurrence."""
        # A schedule never fired counts from its project's last update.
        since = min(now.timestamp(), project.updated_at) if last is None else last
        last_fire = datetime.fromtimestamp(since, UTC)
        due = latest_due(schedule.cron, schedule.tz, last_fire, now)
        if due is not None:
            await self._fire(project, schedule, key, due)
        elif last is None:
            await self.ledger.write(
                schedule_store.record, project.name, key, last_fire.timestamp()
            )
        return next_fire(schedule.cron, schedule.tz, max(now, last_fire))

    async def _fire(
        self, project: ProjectRow, schedule: Schedule, key: str, due: datetime
    ) -> None:
        claimed = await self.ledger.write(
            schedule_store.record, project.name, key, due.timestamp()
        )
        if not claimed:
            return
        # The schedule's own default (the root among several), resolved
        # here: enqueue refuses a missing subproject when there are several.
        target = schedule.target(project.spec.subprojects)
        try:
            job = await enqueue(
                self.ledger,
                self.runner,
                project,
                recipe=schedule.recipe,
                subproject=schedule.subproject if target is None else target.path,
                ref=project.spec.default_branch,
                sha=None,
                trigger="schedule",
            )
        except CraftingError as exc:
            # The fire stays recorded: retrying on every look would repeat
            # an error the project's owner has to fix.
            self.last_error = exc.message
            logger.warning(
                "schedule %r (%s) of project %s could not enqueue %s: %s",
                schedule.cron,
                schedule.tz,
                project.name,
                schedule.recipe,
                exc.message,
                extra={"project": project.name},
            )
            return
        self.fired += 1
        logger.info(
            "job %s (%s) enqueued by schedule %r (%s) due at %s",
            job.id,
            project.name,
            schedule.cron,
            schedule.tz,
            due.isoformat(),
        )


def _key(schedule: Schedule) -> str:
    return schedule_key(
        schedule.cron, schedule.tz, schedule.recipe, schedule.subproject
    )
