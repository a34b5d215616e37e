"""When a project's schedules fire: 5-field cron expressions in a time zone.

Everything here is a pure function of aware datetimes, so any day (a clock
change included) can be checked without waiting for it. Occurrences are
computed in the schedule's own zone by cronsim, which follows Debian cron
across daylight-saving changes: a fixed time that falls in the spring-forward
gap runs once right after the gap, a fixed time that happens twice on the
fall-back day runs once (the first time), and a schedule with a wildcard
hour (``*/15 * * * *``) runs on both passes through the repeated hour.
Every comparison is made in UTC, since two datetimes of one zone compare as
wall times whichever side of a clock change they are on.

The Scheduler keeps, per schedule, the last occurrence it fired. After a
look at the clock :func:`latest_due` names at most one occurrence to fire,
the newest one since the last fire: a service that was down for a week
fires a missed daily schedule once, not seven times.

Usage::

    check_cron("30 2 * * *")
    due = latest_due("30 2 * * *", "America/Los_Angeles", last_fire, now)
    upcoming = next_fire("30 2 * * *", "America/Los_Angeles", now)
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def check_cron(value: str) -> str:
    """``value`` with its blanks normalised, or ValueError saying what is wrong.

    Accepts the five classic fields (minute, hour, day of month, month, day
    of week) with lists, ranges, steps and month or weekday names. A sixth
    (seconds) field and ``@daily``-style names are refused: the first would
    let one schedule flood the queue, the second is not portable.
    """
    parts = value.split()
    if len(parts) != len(FIELDS):
        raise ValueError(
            f"cron {value!r} has {len(parts)} field(s); write five: "
            f"{', '.join(FIELDS)}, e.g. '30 2 * * *' for 02:30 every day"
        )
    normal = " ".join(parts)
    try:
        CronSim(normal, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValueError(
            f"cron {value!r} is not a valid expression ({exc}); "
            "e.g. '30 2 * * *' for 02:30 every day"
        ) from None
    return normal


def check_tz(value: str) -> str:
    """``value`` if it names an IANA time zone, else ValueError."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"tz {value!r} is not a time zone; use an IANA name such as "
            "'America/Los_Angeles' or 'UTC'"
        ) from None
    return value


def schedule_key(cron: str, tz: str, recipe: str, subproject: str | None) -> str:
    """A stable name for one schedule of a project, made from what it says.

    Editing any part of a schedule makes it a new schedule with no history,
    so a changed timetable never counts as a run that was missed.
    """
    text = "\n".join((" ".join(cron.split()), tz, recipe, subproject or ""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def next_fire(cron: str, tz: str, after: datetime) -> datetime | None:
    """The first occurrence strictly after ``after`` (aware), in UTC.

    None when the expression never matches again (within cronsim's
    horizon of fifty years).
    """
    start = after.astimezone(ZoneInfo(tz))
    try:
        found = next(CronSim(cron, start))
    except StopIteration:
        return None
    return found.astimezone(UTC)


def latest_due(
    cron: str, tz: str, last_fire: datetime, now: datetime
) -> datetime | None:
    """The newest occurrence in ``(last_fire, now]``, in UTC, or None.

    Both arguments must be aware. However many occurrences the span holds,
    only the newest is named: see the module docstring.
    """
    # Iterating backwards from a second past now starts at the newest
    # occurrence at or before now; cronsim drops sub-second parts, so a
    # candidate can still lie up to a second ahead and is skipped.
    now_utc = now.astimezone(UTC)
    start = (now + timedelta(seconds=1)).astimezone(ZoneInfo(tz))
    for candidate in CronSim(cron, start, reverse=True):
        found = candidate.astimezone(UTC)
        if found <= now_utc:
            return found if found > last_fire.astimezone(UTC) else None
    return None
