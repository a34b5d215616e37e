"""06:00 in the digest zone, on ordinary days and around both clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crafting_table.digest_schedule import (
    due_date,
    next_send,
    send_time,
    window,
    zone,
)
from crafting_table.errors import ConfigError

LA = ZoneInfo("America/Los_Angeles")


def utc(text: str) -> datetime:
    """An instant written in UTC, ``YYYY-MM-DDTHH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (now in UTC, the next 06:00 in Los Angeles as UTC, its offset in hours)
NEXT_SEND_CASES = [
    # Spring forward: 2026-03-08 02:00 PST becomes 03:00 PDT.
    ("2026-03-07T15:00", "2026-03-08T13:00", -7),  # 07:00 PST, day before
    ("2026-03-08T09:30", "2026-03-08T13:00", -7),  # 01:30 PST, before the jump
    ("2026-03-08T10:30", "2026-03-08T13:00", -7),  # 03:30 PDT, after the jump
    ("2026-03-08T12:59", "2026-03-08T13:00", -7),  # 05:59 PDT
    ("2026-03-08T13:00", "2026-03-09T13:00", -7),  # 06:00 PDT itself
    ("2026-03-07T13:59", "2026-03-07T14:00", -8),  # 05:59 PST, day before
    # Fall back: 2026-11-01 02:00 PDT becomes 01:00 PST.
    ("2026-10-31T14:00", "2026-11-01T14:00", -8),  # 07:00 PDT, day before
    ("2026-11-01T08:30", "2026-11-01T14:00", -8),  # first 01:30 (PDT)
    ("2026-11-01T09:30", "2026-11-01T14:00", -8),  # second 01:30 (PST)
    ("2026-11-01T13:59", "2026-11-01T14:00", -8),  # 05:59 PST
    ("2026-11-01T14:00", "2026-11-02T14:00", -8),  # 06:00 PST itself
    ("2026-10-31T12:59", "2026-10-31T13:00", -7),  # 05:59 PDT, day before
]


@pytest.mark.parametrize(
    ("now", "expected", "offset"),
    NEXT_SEND_CASES,
    ids=[
        "spring-day-before",
        "spring-before-jump",
        "spring-after-jump",
        "spring-0559",
        "spring-at-0600",
        "spring-eve-0559",
        "fall-day-before",
        "fall-first-0130",
        "fall-second-0130",
        "fall-0559",
        "fall-at-0600",
        "fall-eve-0559",
    ],
)
def test_next_send_around_dst(now: str, expected: str, offset: int) -> None:
    upcoming = next_send(utc(now), LA)

    assert upcoming.tzinfo is LA
    assert (upcoming.hour, upcoming.minute, upcoming.second) == (6, 0, 0)
    assert upcoming.utcoffset() == timedelta(hours=offset)
    assert upcoming.astimezone(UTC) == utc(expected)
    assert upcoming > utc(now)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-03-08T12:59", date(2026, 3, 7)),
        ("2026-03-08T13:00", date(2026, 3, 8)),
        ("2026-11-01T13:59", date(2026, 10, 31)),
        ("2026-11-01T14:00", date(2026, 11, 1)),
        ("2026-11-02T07:59", date(2026, 11, 1)),  # 23:59 PST, still the 1st
    ],
    ids=["spring-0559", "spring-0600", "fall-0559", "fall-0600", "fall-late"],
)
def test_due_date_turns_at_six(now: str, expected: date) -> None:
    assert due_date(utc(now), LA) == expected


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2026, 3, 7), 24),
        (date(2026, 3, 8), 23),
        (date(2026, 3, 9), 24),
        (date(2026, 11, 1), 25),
        (date(2026, 11, 2), 24),
    ],
    ids=["before-spring", "spring", "after-spring", "fall", "after-fall"],
)
def test_windows_tile_the_timeline(day: date, hours: int) -> None:
    start, end = window(day, LA)
    following_start, _ = window(day + timedelta(days=1), LA)

    # In UTC: Python subtracts two datetimes of one zone as wall times.
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    assert end == send_time(day, LA)
    assert following_start == end


def test_a_zone_where_six_is_skipped_sends_just_after_the_gap() -> None:
    # Samoa skipped 2011-12-30 entirely; any 06:00 that does not exist
    # must still give one well-defined instant after the gap.
    apia = ZoneInfo("Pacific/Apia")
    moment = send_time(date(2011, 12, 30), apia)

    assert moment.astimezone(UTC).astimezone(apia) == moment
    assert moment.date() == date(2011, 12, 31)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd"])
def test_unknown_zones_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="CRAFTING_DIGEST_TZ"):
        zone(name)


@pytest.mark.parametrize(
    ("local", "fold", "expected"),
    [
        ("2026-11-01T01:30", 0, date(2026, 10, 31)),
        ("2026-11-01T01:30", 1, date(2026, 10, 31)),
        ("2026-11-01T06:00", 0, date(2026, 11, 1)),
        ("2026-03-08T05:59", 0, date(2026, 3, 7)),
    ],
    ids=["fall-first-0130", "fall-second-0130", "fall-0600", "spring-0559"],
)
def test_a_clock_in_the_digest_zone_gives_the_same_answers(
    local: str, fold: int, expected: date
) -> None:
    now = datetime.fromisoformat(local).replace(tzinfo=LA, fold=fold)

    assert due_date(now, LA) == expected
    assert due_date(now.astimezone(UTC), LA) == expected
    assert next_send(now, LA) == next_send(now.astimezone(UTC), LA)


def test_settings_refuse_an_unknown_zone() -> None:
    from crafting_table.config import Settings

    with pytest.raises(ValueError, match="not a time zone"):
        Settings(_env_file=None, digest_tz="Mars/Olympus")  # type: ignore[call-arg]
