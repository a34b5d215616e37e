"""The Notifier: hears of every parsed job and drafted patch, sends the digest.

One digest per project per day, due at 06:00 in ``CRAFTING_DIGEST_TZ``
(:mod:`crafting_table.digest_schedule`). The schedule sleeps on trio's
clock but decides on the wall clock, read again after every nap of at most
:data:`MAX_NAP`: trio's clock stands still while the machine is suspended,
so one long sleep until 06:00 could wake hours late. Whenever the latest
due digest has not been settled by this incarnation it is run, so a
service that starts (or wakes) after 06:00 sends that day's digest then;
``digest_runs`` makes a second start the same day send nothing.

Sending goes through the ledger's claim (see
:mod:`crafting_table.ledger.digests`): a row is ``sending`` before the mail
leaves and ``sent`` only once the server accepted it. Failed sends are
retried by the schedule every :data:`RETRY_INTERVAL`, at most
:data:`SCHEDULED_ATTEMPTS` times in all, and by any later run-now.

A ``RunDigest`` (run-now) is handled in the actor's turn, one at a time;
``JobParsed`` and ``PatchDrafted`` wait behind it in the bounded inbox.
The schedule runs beside the inbox in the actor's nursery, so a scheduled
send and a run-now can overlap: the claim decides which one sends.

Without ``CRAFTING_SMTP_HOST`` the schedule stays off; run-now and
``GET /digests/{date}`` still render.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import trio

from actors.kernel import Actor
from crafting_table import mailer
from crafting_table.config import Settings
from crafting_table.digest import build_message, compose
from crafting_table.digest_schedule import due_date, next_send, send_time, window, zone
from crafting_table.errors import CraftingError
from crafting_table.ledger import Ledger
from crafting_table.ledger import digests as digest_store
from crafting_table.ledger.digests import DigestRunRow
from crafting_table.messages import JobParsed, PatchDrafted, RunDigest, Tick
from crafting_table.models import DigestOutcome, ProjectDigest, RunNowAnswer, iso
from crafting_table.redact import Redactor

logger = logging.getLogger(__name__)

WallClock = Callable[[], datetime]

DISABLED_LINE = "digest disabled — CRAFTING_SMTP_HOST not set"
# The longest sleep before the wall clock is read again (see the module
# docstring): a digest is at most this late after a suspend.
MAX_NAP = 60.0
# A 'sending' row older than this is a send that died with its process.
# Far above the mailer's own bound (8 commands x 30 s), so a slow but
# live send is never taken over.
STALE_AFTER = 30 * 60.0
# A mail server down at 06:00 is often back within the hour.
RETRY_INTERVAL = 15 * 60.0
SCHEDULED_ATTEMPTS = 4


def utc_now() -> datetime:
    """The wall clock, aware and in UTC."""
    return datetime.now(UTC)


def announce(settings: Settings) -> None:
    """Log, once per service start, that the digest is off when it is."""
    if not settings.smtp_host:
        logger.info(DISABLED_LINE)


@dataclass(frozen=True, slots=True)
class LastDigest:
    """The most recent digest outcome."""

    date: str
    project: str
    status: str
    at: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class NotifierStatistics:
    """A snapshot for ``/healthz``."""

    name: str
    handled: int
    failed: int
    enabled: bool
    disabled_reason: str | None
    tz: str
    next_run: str | None
    jobs_heard: int
    patches_heard: int
    digests_sent: int
    digests_failed: int
    last_result: LastDigest | None


async def keep_schedule(
    now: WallClock,
    tz: ZoneInfo,
    fire: Callable[[date], Awaitable[bool]],
    *,
    on_next: Callable[[datetime], None] = lambda _: None,
    max_nap: float = MAX_NAP,
    retry_interval: float = RETRY_INTERVAL,
) -> NoReturn:
    """Call ``fire(day)`` for each due digest date, for ever.

    ``fire`` answers True when the day is settled; otherwise it is fired
    again every ``retry_interval`` seconds (of trio's clock) until it is
    settled or the next day falls due. ``on_next`` hears the next send
    time after each look at the clock. A wall clock that goes back never
    fires a day older than one already settled.
    """
    settled: date | None = None
    attempted: date | None = None
    retry_at = -math.inf
    while True:
        due = due_date(now(), tz)
        pending = settled is None or due > settled
        if pending and (due != attempted or trio.current_time() >= retry_at):
            attempted = due
            if await fire(due):
                settled = due
            else:
                retry_at = trio.current_time() + retry_interval
        current = now()
        upcoming = next_send(current, tz)
        on_next(upcoming)
        # Both in UTC: Python subtracts datetimes of one zone as wall times,
        # which is an hour off across a clock change.
        left = (upcoming.astimezone(UTC) - current.astimezone(UTC)).total_seconds()
        await trio.sleep(max(0.0, min(left, max_nap)))


class Notifier(Actor):
    """Records job and patch events and sends the digest; see the module docstring."""

    name = "notifier"

    def __init__(
        self, settings: Settings, ledger: Ledger, wall_clock: WallClock | None = None
    ) -> None:
        super().__init__()
        self.settings = settings
        self.ledger = ledger
        self.wall_clock = wall_clock or utc_now
        self.tz = zone(settings.digest_tz)
        self.smtp = (
            mailer.SmtpConfig.from_settings(settings) if settings.smtp_host else None
        )
        self.next_run: datetime | None = None
        self.jobs_heard = 0
        self.patches_heard = 0
        self.digests_sent = 0
        self.digests_failed = 0
        self.last_result: LastDigest | None = None
        # A server's reply is kept and shown (ledger, API, /healthz, log);
        # one that echoes the login must not carry the password along.
        self.redactor = Redactor(settings.secrets())

    async def started(self) -> None:
        """Load the last outcome, then start the schedule when mail is on."""
        latest = await self.ledger.read(digest_store.latest_run)
        if latest is not None:
            self.last_result = _last_of(latest)
        if self.smtp is not None:
            self.nursery.start_soon(self._schedule)

    async def handle(self, message: object) -> Any:
        """Dispatch one message."""
        match message:
            case JobParsed():
                self.jobs_heard += 1
                return None
            case PatchDrafted():
                self.patches_heard += 1
                return None
            case RunDigest():
                return await self.run_digest(
                    message.day, project=message.project, dry_run=message.dry_run
                )
            case Tick():
                if self.smtp is not None:
                    await self._scheduled(due_date(self.wall_clock(), self.tz))
                return None
            case _:
                return await super().handle(message)

    def statistics(self) -> NotifierStatistics:
        """Counters, the schedule and the last outcome."""
        return NotifierStatistics(
            name=self.name,
            handled=self.handled,
            failed=self.failed,
            enabled=self.smtp is not None,
            disabled_reason=None if self.smtp else "CRAFTING_SMTP_HOST not set",
            tz=self.settings.digest_tz,
            next_run=self.next_run.isoformat() if self.next_run else None,
            jobs_heard=self.jobs_heard,
            patches_heard=self.patches_heard,
            digests_sent=self.digests_sent,
            digests_failed=self.digests_failed,
            last_result=self.last_result,
        )

    # -- the schedule -------------------------------------------------------

    async def _schedule(self) -> None:
        await keep_schedule(
            self.wall_clock, self.tz, self._scheduled, on_next=self._set_next
        )

    def _set_next(self, when: datetime) -> None:
        self.next_run = when

    async def _scheduled(self, day: date) -> bool:
        # A ledger that fails now may work in a quarter of an hour: the
        # schedule retries, rather than crash the actor into a restart loop.
        try:
            outcomes = await self._run_day(
                day, project=None, dry_run=False, max_attempts=SCHEDULED_ATTEMPTS
            )
        except CraftingError as exc:
            logger.error("digest %s could not run: %s", day, exc.message)
            return False
        return all(settled for _, settled in outcomes)

    # -- one run ------------------------------------------------------------

    async def run_digest(
        self, day: date | None, *, project: str | None = None, dry_run: bool = False
    ) -> RunNowAnswer:
        """Render the digest of ``day`` (default: the latest due) and send it.

        Nothing is sent on a dry run, without recipients or jobs, before
        the date's send time, or when mail is off; each project's outcome
        says which. A digest that failed before is tried again.
        """
        day = day or due_date(self.wall_clock(), self.tz)
        outcomes = await self._run_day(
            day, project=project, dry_run=dry_run, max_attempts=None
        )
        start, end = window(day, self.tz)
        return RunNowAnswer(
            date=day.isoformat(),
            window_start=start.isoformat(),
            window_end=end.isoformat(),
            dry_run=dry_run,
            results=[o for o, _ in outcomes],
        )

    async def _run_day(
        self,
        day: date,
        *,
        project: str | None,
        dry_run: bool,
        max_attempts: int | None,
    ) -> list[tuple[DigestOutcome, bool]]:
        start, end = window(day, self.tz)
        rows = await self.ledger.read(
            digest_store.activity, start.timestamp(), end.timestamp(), project
        )
        out = []
        for activity in rows:
            digest = compose(
                activity, day, self.settings.public_url, self.settings.secrets()
            )
            out.append(await self._one(day, digest, dry_run, max_attempts))
        return out

    async def _one(
        self,
        day: date,
        digest: ProjectDigest,
        dry_run: bool,
        max_attempts: int | None,
    ) -> tuple[DigestOutcome, bool]:
        """One project's outcome, and whether the schedule is done with it."""
        outcome = DigestOutcome(
            project=digest.project,
            status="skipped",
            recipients=digest.recipients,
            subject=digest.subject,
            digest=digest,
        )

        def skipped(reason: str, settled: bool = True) -> tuple[DigestOutcome, bool]:
            return outcome.model_copy(update={"reason": reason}), settled

        now = self.wall_clock()
        due = send_time(day, self.tz)
        if not digest.recipients:
            return skipped("no recipients: notify.email is empty")
        if dry_run:
            return skipped("dry run")
        if self.smtp is None:
            return skipped("mail is off: CRAFTING_SMTP_HOST is not set")
        if now.timestamp() < due.timestamp():
            return skipped(
                f"not due until {due.isoformat()}; use dry_run to preview it"
            )
        if not digest.jobs:
            return skipped("nothing to report: no job fired a notify.on event")
        return await self._send(day, digest, outcome, now, max_attempts)

    async def _send(
        self,
        day: date,
        digest: ProjectDigest,
        outcome: DigestOutcome,
        now: datetime,
        max_attempts: int | None,
    ) -> tuple[DigestOutcome, bool]:
        assert self.smtp is not None
        message = build_message(digest, sender=self.smtp.sender, now=now)
        claim = await self.ledger.write(
            digest_store.claim,
            day.isoformat(),
            digest.project,
            recipients=digest.recipients,
            subject=digest.subject,
            now=now.timestamp(),
            stale_after=STALE_AFTER,
            max_attempts=max_attempts,
        )
        match claim.outcome:
            case "sent":
                return outcome.model_copy(update={"status": "already_sent"}), True
            case "busy":
                reason = "another run is sending it right now"
                return outcome.model_copy(update={"reason": reason}), False
            case "exhausted":
                update = {
                    "status": "failed",
                    "error": claim.run.error,
                    "reason": f"gave up after {claim.run.attempts} attempts; "
                    "POST /admin/digest/run-now tries again",
                }
                return outcome.model_copy(update=update), True

        try:
            refused = await mailer.send(self.smtp, message, digest.recipients)
        except CraftingError as exc:
            error = self.redactor.text(exc.message)
            await self._record(claim.run, day, sent=False, text=error)
            update = {"status": "failed", "error": error}
            return outcome.model_copy(update=update), False

        note = None
        if refused:
            note = "refused: " + "; ".join(f"{a}: {r}" for a, r in refused.items())
            note = self.redactor.text(note)
        await self._record(claim.run, day, sent=True, text=note)
        return outcome.model_copy(update={"status": "sent", "error": note}), True

    async def _record(
        self, run: DigestRunRow, day: date, *, sent: bool, text: str | None
    ) -> None:
        now = self.wall_clock().timestamp()
        # Shielded: the server has given its answer. Lost to a cancellation,
        # the row would look like a send that died, and after the stale
        # limit the digest would go out a second time.
        with trio.CancelScope(shield=True):
            if sent:
                kept = await self.ledger.write(digest_store.record_sent, run, now, text)
            else:
                kept = await self.ledger.write(
                    digest_store.record_failed, run, text or "unknown error", now
                )
        if not kept:
            logger.warning(
                "digest %s of project %s: another run took the claim over; "
                "this outcome (%s) is not recorded",
                day,
                run.project_name,
                "sent" if sent else "failed",
            )
        if sent:
            self.digests_sent += 1
            logger.info(
                "digest %s of project %s sent to %d recipient(s)",
                day,
                run.project_name,
                len(run.recipients),
            )
        else:
            self.digests_failed += 1
            logger.warning(
                "digest %s of project %s failed: %s", day, run.project_name, text
            )
        self.last_result = LastDigest(
            date=day.isoformat(),
            project=run.project_name,
            status="sent" if sent else "failed",
            at=iso(now),
            error=text,
        )


def _last_of(row: DigestRunRow) -> LastDigest:
    return LastDigest(
        date=row.date,
        project=row.project_name,
        status=row.status,
        at=iso(row.updated_at),
        error=row.error,
    )


def digest_health(notifier: Notifier | None, settings: Settings) -> dict[str, Any]:
    """The ``digest`` section of ``/healthz``."""
    enabled = bool(settings.smtp_host)
    section: dict[str, Any] = {
        "enabled": enabled,
        "reason": None if enabled else "CRAFTING_SMTP_HOST not set",
        "tz": settings.digest_tz,
        "next_run": None,
        "last_result": None,
    }
    if notifier is not None:
        stats = notifier.statistics()
        section["next_run"] = stats.next_run
        if stats.last_result is not None:
            section["last_result"] = asdict(stats.last_result)
    return section
