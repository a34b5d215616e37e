"""When the daily digest is due: 06:00 local time in the digest's time zone.

Everything here is a pure function of an aware datetime, so the schedule
can be checked for any day (daylight-saving changes included) without
waiting for one. The Notifier asks :func:`due_date` after every wake-up
and sleeps until :func:`next_send`.

A digest dated D covers :func:`window` (D): from the send time of the day
before D up to the send time of D. Consecutive windows tile the timeline
without gap or overlap, so every finished job falls in exactly one digest;
on the two days a year with a clock change the window is 23 or 25 hours
long rather than a literal 24, which would leave an hour out or in twice.

Usage::

    tz = zone("America/Los_Angeles")
    day = due_date(datetime.now(UTC), tz)      # the digest to send now
    start, end = window(day, tz)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crafting_table.errors import ConfigError

SEND_HOUR = 6


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`ConfigError` when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"CRAFTING_DIGEST_TZ={name!r} is not a time zone; "
            "use an IANA name such as 'America/Los_Angeles'"
        ) from exc


def send_time(day: date, tz: ZoneInfo) -> datetime:
    """The moment the digest of ``day`` is due, as an aware local datetime.

    Where 06:00 does not exist (a zone that springs forward at that hour)
    the result is the instant 06:00 would be under the earlier offset,
    which lies just after the gap; where it exists twice, the first one.
    Both follow from PEP 495's ``fold=0``.
    """
    local = datetime.combine(day, time(SEND_HOUR), tzinfo=tz)
    # Normalise through UTC so a time in a gap carries the offset that is
    # really in force at that instant.
    return local.astimezone(UTC).astimezone(tz)


def due_date(now: datetime, tz: ZoneInfo) -> date:
    """The date of the latest digest whose send time is at or before ``now``.

    ``now`` must be aware. At 05:59 local time that is yesterday's digest;
    from 06:00 on, today's.
    """
    today = now.astimezone(tz).date()
    # Compared in UTC: two datetimes of one zone compare as wall times,
    # ignoring which side of a clock change they are on.
    if now.astimezone(UTC) >= send_time(today, tz).astimezone(UTC):
        return today
    return today - timedelta(days=1)


def next_send(now: datetime, tz: ZoneInfo) -> datetime:
    """The first send time strictly after ``now`` (aware, local to ``tz``)."""
    following = due_date(now, tz) + timedelta(days=1)
    return send_time(following, tz)


def window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The half-open span ``[start, end)`` that the digest of ``day`` covers."""
    return send_time(day - timedelta(days=1), tz), send_time(day, tz)
