"""Cron expressions in a time zone: checks, next fires and missed runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crafting_table.schedules import (
    check_cron,
    check_tz,
    latest_due,
    next_fire,
    schedule_key,
)

LA = ZoneInfo("America/Los_Angeles")


def utc(text: str) -> datetime:
    """A UTC instant written without its zone."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def la(text: str, fold: int = 0) -> datetime:
    """A Los Angeles wall time (``fold=1``: the second of a repeated hour)."""
    return datetime.fromisoformat(text).replace(tzinfo=LA, fold=fold)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("30 2 * * *", "30 2 * * *", id="daily"),
        pytest.param("  */15   *  * * MON-FRI ", "*/15 * * * MON-FRI", id="blanks"),
        pytest.param("0 9 1,15 jan-jun *", "0 9 1,15 jan-jun *", id="names"),
    ],
)
def test_good_cron(value: str, expected: str) -> None:
    assert check_cron(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param("* * * *", "4 field(s)", id="four-fields"),
        pytest.param("0 * * * * *", "6 field(s)", id="seconds-field"),
        pytest.param("@daily", "1 field(s)", id="nickname"),
        pytest.param("", "0 field(s)", id="empty"),
        pytest.param("61 * * * *", "minute", id="bad-minute"),
        pytest.param("0 24 * * *", "hour", id="bad-hour"),
        pytest.param("0 0 31 2 *", "day-of-month", id="never"),
    ],
)
def test_bad_cron(value: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        check_cron(value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param("America/Los_Angeles", True, id="iana"),
        pytest.param("UTC", True, id="utc"),
        pytest.param("Mars/Olympus_Mons", False, id="unknown"),
        pytest.param("../etc/passwd", False, id="path"),
        pytest.param("", False, id="empty"),
    ],
)
def test_time_zones(value: str, ok: bool) -> None:
    if ok:
        assert check_tz(value) == value
    else:
        with pytest.raises(ValueError, match="not a time zone"):
            check_tz(value)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        # Spring forward, 2026-03-08: 02:00 PST becomes 03:00 PDT.
        pytest.param(
            "30 2 * * *", la("2026-03-07T12:00"), la("2026-03-08T03:00"), id="in-gap"
        ),
        pytest.param(
            "30 2 * * *",
            la("2026-03-08T03:00"),
            la("2026-03-09T02:30"),
            id="after-gap",
        ),
        pytest.param(
            "0 * * * *", la("2026-03-08T01:00"), la("2026-03-08T03:00"), id="hourly-gap"
        ),
        pytest.param(
            "0 6 * * *", la("2026-03-07T06:00"), la("2026-03-08T06:00"), id="23h-day"
        ),
        # Fall back, 2026-11-01: 02:00 PDT becomes 01:00 PST.
        pytest.param(
            "30 1 * * *",
            la("2026-11-01T01:30"),
            la("2026-11-02T01:30"),
            id="fixed-time-once",
        ),
        pytest.param(
            "*/30 * * * *",
            la("2026-11-01T01:30"),
            la("2026-11-01T01:00", fold=1),
            id="wildcard-hour-twice",
        ),
        pytest.param(
            "0 6 * * *", la("2026-10-31T06:00"), la("2026-11-01T06:00"), id="25h-day"
        ),
        pytest.param(
            "0 0 1 1 *", utc("2026-06-01T00:00"), utc("2027-01-01T00:00"), id="utc"
        ),
    ],
)
def test_next_fire(cron: str, after: datetime, expected: datetime) -> None:
    tz = "UTC" if after.tzinfo is UTC else "America/Los_Angeles"

    found = next_fire(cron, tz, after)

    assert found is not None
    assert found.tzinfo is UTC
    assert found == expected.astimezone(UTC)


def test_the_hour_after_the_gap_is_one_real_hour_on() -> None:
    one = next_fire("0 * * * *", "America/Los_Angeles", la("2026-03-08T00:30"))
    two = next_fire("0 * * * *", "America/Los_Angeles", la("2026-03-08T01:00"))

    assert one is not None
    assert two is not None
    assert two - one == timedelta(hours=1)


@pytest.mark.parametrize(
    ("cron", "last", "now", "expected"),
    [
        pytest.param(
            "0 * * * *",
            utc("2026-05-01T00:00"),
            utc("2026-05-04T07:20"),
            utc("2026-05-04T07:00"),
            id="three-days-missed-fires-the-newest-only",
        ),
        pytest.param(
            "0 * * * *",
            utc("2026-05-04T07:00"),
            utc("2026-05-04T07:59:59"),
            None,
            id="already-fired",
        ),
        pytest.param(
            "0 8 * * *",
            utc("2026-05-04T07:00"),
            utc("2026-05-04T08:00"),
            utc("2026-05-04T08:00"),
            id="exactly-on-time",
        ),
        pytest.param(
            "0 8 * * *",
            utc("2026-05-04T07:00"),
            utc("2026-05-04T07:59:59.500"),
            None,
            id="half-a-second-early",
        ),
        pytest.param(
            "0 8 * * *",
            utc("2026-05-05T09:00"),
            utc("2026-05-04T08:30"),
            None,
            id="clock-went-back",
        ),
    ],
)
def test_latest_due(
    cron: str, last: datetime, now: datetime, expected: datetime | None
) -> None:
    assert latest_due(cron, "UTC", last, now) == expected


def test_latest_due_across_fall_back_fires_the_first_pass_only() -> None:
    tz = "America/Los_Angeles"
    first = latest_due("30 1 * * *", tz, la("2026-11-01T00:00"), la("2026-11-01T01:45"))
    second = latest_due(
        "30 1 * * *", tz, la("2026-11-01T01:30"), la("2026-11-01T01:45", fold=1)
    )

    assert first == la("2026-11-01T01:30").astimezone(UTC)
    assert second is None


def test_schedule_keys() -> None:
    base = schedule_key("30 2 * * *", "UTC", "test", None)

    assert base == schedule_key(" 30  2 * * * ", "UTC", "test", None)
    assert (
        len(
            {
                base,
                schedule_key("30 3 * * *", "UTC", "test", None),
                schedule_key("30 2 * * *", "Europe/Paris", "test", None),
                schedule_key("30 2 * * *", "UTC", "lint", None),
                schedule_key("30 2 * * *", "UTC", "test", "api"),
            }
        )
        == 5
    )
