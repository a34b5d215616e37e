"""The Notifier: its schedule on a mock clock, its sending in the real service."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trio

from actors.notifier import DISABLED_LINE, keep_schedule
from crafting_table.config import Settings
from crafting_table.messages import PatchDrafted, Tick
from tests.digest_service import (
    DigestClock,
    current_day,
    digest_health,
    mail_settings,
    notifier_stats,
    register_notified,
    running,
    schedule_ran,
)
from tests.mailserver import free_port, mail_server
from tests.support import Repo, run_job

LA = ZoneInfo("America/Los_Angeles")
HOUR = 3600.0


class FollowingClock:
    """A wall clock that moves with trio's clock, plus a skew the test sets.

    The skew stands for time the machine spent suspended: the wall clock
    moved on, trio's clock did not.
    """

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.origin = trio.current_time()
        self.skew = timedelta()

    def __call__(self) -> datetime:
        elapsed = timedelta(seconds=trio.current_time() - self.origin)
        return self.start + elapsed + self.skew


async def _run_schedule(
    clock: FollowingClock,
    seconds: float,
    answers: dict[date, list[bool]] | None = None,
    during: Any = None,
    retry_interval: float = 900.0,
) -> list[tuple[date, datetime]]:
    fired: list[tuple[date, datetime]] = []

    async def fire(day: date) -> bool:
        fired.append((day, clock()))
        pending = (answers or {}).get(day)
        return pending.pop(0) if pending else True

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: keep_schedule(clock, LA, fire, retry_interval=retry_interval)
            )
            if during is not None:
                await during(clock)
    return fired


def la(text: str) -> datetime:
    """A Los Angeles wall time (first one when ambiguous), as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=LA).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (
            "2026-03-07T05:00",
            [
                ("2026-03-06", "2026-03-07T13:00"),
                ("2026-03-07", "2026-03-07T14:00"),
                ("2026-03-08", "2026-03-08T13:00"),
                ("2026-03-09", "2026-03-09T13:00"),
            ],
        ),
        (
            "2026-10-31T07:00",
            [
                ("2026-10-31", "2026-10-31T14:00"),
                ("2026-11-01", "2026-11-01T14:00"),
                ("2026-11-02", "2026-11-02T14:00"),
            ],
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_the_schedule_fires_at_six_across_dst(
    autojump_clock: trio.testing.MockClock,
    start: str,
    expected: list[tuple[str, str]],
) -> None:
    clock = FollowingClock(la(start))
    # Long enough to reach the last expected send, short of the next one.
    span = datetime.fromisoformat(expected[-1][1]).replace(tzinfo=UTC) - clock()
    fired = await _run_schedule(clock, span.total_seconds() + HOUR)

    assert [d.isoformat() for d, _ in fired] == [d for d, _ in expected]
    # The first fires at once (a start after 06:00 catches up); the rest
    # at 06:00 local, to the second.
    for (_, at), (_, wanted) in zip(fired[1:], expected[1:], strict=True):
        target = datetime.fromisoformat(wanted).replace(tzinfo=UTC)
        assert abs(at - target) < timedelta(seconds=1)


async def test_a_suspend_across_six_fires_within_a_nap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FollowingClock(la("2026-05-04T03:00"))
    woke: list[datetime] = []

    async def suspend(clock: FollowingClock) -> None:
        await trio.sleep(10 * 60)
        # Five hours pass on the wall while trio's clock stands still.
        clock.skew += timedelta(hours=5)
        woke.append(clock())

    fired = await _run_schedule(clock, 2 * HOUR, during=suspend)

    assert [d.isoformat() for d, _ in fired] == ["2026-05-03", "2026-05-04"]
    assert fired[1][1] - woke[0] <= timedelta(seconds=60)


async def test_an_unsettled_day_is_retried_then_left(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FollowingClock(la("2026-05-04T07:00"))
    answers = {date(2026, 5, 4): [False, False, True]}

    fired = await _run_schedule(clock, 5 * HOUR, answers, retry_interval=HOUR)

    days = [d.isoformat() for d, _ in fired]
    offsets = [round((at - fired[0][1]).total_seconds() / HOUR) for _, at in fired]
    assert days == ["2026-05-04"] * 3
    assert offsets == [0, 1, 2]


async def test_a_clock_set_back_never_fires_an_older_day(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = FollowingClock(la("2026-05-04T07:00"))

    async def set_back(clock: FollowingClock) -> None:
        await trio.sleep(60)
        clock.skew -= timedelta(days=2)

    fired = await _run_schedule(clock, HOUR, during=set_back)

    assert [d.isoformat() for d, _ in fired] == ["2026-05-04"]


# -- the real service -------------------------------------------------------


async def test_a_start_after_six_sends_once_and_a_second_start_sends_nothing(
    settings: Settings, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    with mail_server() as sink:
        config = mail_settings(settings, sink.port)
        day = current_day(config.digest_tz)

        # Up before 06:00: the job runs, the digest is not due yet.
        early = DigestClock.at_send_time(config.digest_tz, day, -timedelta(hours=1))
        async with running(config, early) as (_, client):
            await schedule_ran(client)
            await register_notified(client, repo, on=["nightly_summary"])
            await run_job(client, "demo", recipe="audit")
            early_run = await client.post(
                "/admin/digest/run-now", json={"date": day.isoformat()}
            )
        assert sink.count() == 0
        [not_due] = early_run.json()["results"]
        assert not_due["status"] == "skipped"
        assert not_due["reason"].startswith("not due until")

        # Down at 06:00, back at 07:00: that day's digest goes out now.
        late = DigestClock.at_send_time(config.digest_tz, day, timedelta(hours=1))
        async with running(config, late) as (_, client):
            await schedule_ran(client)
            await sink.wait_for(1)
            health = await digest_health(client)
        assert health["last_result"]["status"] == "sent"
        assert health["last_result"]["date"] == day.isoformat()

        # Another start the same day: nothing more.
        later = DigestClock.at_send_time(config.digest_tz, day, timedelta(hours=5))
        async with running(config, later) as (_, client):
            await schedule_ran(client)
            answer = await client.get(f"/digests/{day.isoformat()}")

    assert sink.count() == 1
    [digest] = answer.json()["digests"]
    assert digest["delivery"]["status"] == "sent"
    assert digest["delivery"]["attempts"] == 1


async def test_concurrent_run_now_calls_send_exactly_once(
    settings: Settings, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    results: list[dict[str, Any]] = []
    with mail_server() as sink:
        config = mail_settings(settings, sink.port)
        day = current_day(config.digest_tz)
        clock = DigestClock.at_send_time(config.digest_tz, day, timedelta(hours=1))
        async with running(config, clock) as (_, client):
            await schedule_ran(client)
            await register_notified(client, repo)
            await run_job(client, "demo", recipe="audit")

            async def run_now() -> None:
                answer = await client.post(
                    "/admin/digest/run-now", json={"date": day.isoformat()}
                )
                assert answer.status_code == 200, answer.text
                results.extend(answer.json()["results"])

            async with trio.open_nursery() as nursery:
                for _ in range(6):
                    nursery.start_soon(run_now)
            dry = await client.post(
                "/admin/digest/run-now", json={"date": day.isoformat(), "dry_run": True}
            )

    assert sink.count() == 1
    assert sorted(r["status"] for r in results) == ["already_sent"] * 5 + ["sent"]
    assert {r["digest"]["delivery"]["status"] for r in results} == {"sent"}
    [preview] = dry.json()["results"]
    assert preview["status"] == "skipped"
    assert preview["reason"].startswith("dry run; it was sent at ")


async def test_a_server_that_is_down_leaves_a_failed_run_retried_later(
    settings: Settings, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    port = free_port()
    config = mail_settings(settings, port)
    day = current_day(config.digest_tz).isoformat()
    clock = DigestClock.at_send_time(config.digest_tz, current_day(config.digest_tz))
    async with running(config, clock) as (_, client):
        await schedule_ran(client)
        await register_notified(client, repo)
        await run_job(client, "demo", recipe="audit")

        down = await client.post("/admin/digest/run-now", json={"date": day})
        failed = (await client.get(f"/digests/{day}")).json()["digests"][0]
        with mail_server(port=port) as sink:
            up = await client.post("/admin/digest/run-now", json={"date": day})
        sent = (await client.get(f"/digests/{day}")).json()["digests"][0]
        health = await digest_health(client)

    [first] = down.json()["results"]
    [second] = up.json()["results"]
    assert first["status"] == "failed"
    assert "refused" in first["error"].lower()
    assert failed["delivery"]["status"] == "failed"
    assert failed["delivery"]["attempts"] == 1
    assert failed["delivery"]["error"] == first["error"]
    assert second["status"] == "sent"
    assert sent["delivery"]["status"] == "sent"
    assert sent["delivery"]["attempts"] == 2
    assert sink.count() == 1
    assert health["last_result"]["status"] == "sent"


async def test_a_refused_recipient_fails_the_run_with_the_reply(
    settings: Settings, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    with mail_server(refuse={"gone@example.com"}) as sink:
        config = mail_settings(settings, sink.port)
        day = current_day(config.digest_tz)
        clock = DigestClock.at_send_time(config.digest_tz, day, timedelta(minutes=1))
        async with running(config, clock) as (_, client):
            await schedule_ran(client)
            await register_notified(client, repo, email=["gone@example.com"])
            await run_job(client, "demo", recipe="audit")
            answer = await client.post("/admin/digest/run-now", json={})
            shown = await client.get(f"/digests/{day.isoformat()}")

    [result] = answer.json()["results"]
    [digest] = shown.json()["digests"]
    assert answer.json()["date"] == day.isoformat()
    assert result["status"] == "failed"
    assert "gone@example.com: 550 5.1.1" in result["error"]
    assert digest["delivery"]["status"] == "failed"
    assert "550 5.1.1" in digest["delivery"]["error"]
    assert digest["delivery"]["sent_at"] is None
    assert sink.count() == 0


async def test_the_mail_arrives_whole_over_starttls_with_a_private_ca(
    settings: Settings, make_repo: Any, tmp_path: Path
) -> None:
    import ssl

    import trustme

    authority = trustme.CA()
    pem = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server)
    repo: Repo = make_repo()

    with mail_server(starttls=server) as sink:
        config = mail_settings(settings, sink.port, smtp_tls=True, smtp_ca_file=pem)
        day = current_day(config.digest_tz)
        clock = DigestClock.at_send_time(config.digest_tz, day, timedelta(hours=2))
        async with running(config, clock) as (_, client):
            await schedule_ran(client)
            await register_notified(
                client, repo, email=["ops@example.com", "dev@example.com"]
            )
            job = await run_job(client, "demo", recipe="audit")
            answer = await client.post("/admin/digest/run-now", json={})

    assert answer.json()["results"][0]["status"] == "sent"
    [received] = sink.messages
    message = received.parsed()
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    job_id = job["job"]["id"]
    assert received.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert received.mail_from == "crafting-table@example.com"
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "ops@example.com, dev@example.com"
    assert message["From"] == "crafting-table@example.com"
    assert day.isoformat() in message["Subject"]
    assert message["Date"] is not None
    assert text is not None
    assert page is not None
    assert f"https://ct.example.com/jobs/{job_id}/findings" in text.get_content()
    assert f'href="https://ct.example.com/jobs/{job_id}"' in page.get_content()
    assert "recipe_fail 1" in text.get_content()


async def test_a_tick_runs_the_due_digest(settings: Settings, make_repo: Any) -> None:
    repo: Repo = make_repo()
    with mail_server() as sink:
        config = mail_settings(settings, sink.port)
        day = current_day(config.digest_tz)
        clock = DigestClock.at_send_time(config.digest_tz, day, timedelta(hours=1))
        async with running(config, clock) as (handle, client):
            await schedule_ran(client)
            await register_notified(client, repo)
            await run_job(client, "demo", recipe="audit")
            assert sink.count() == 0
            await handle.refs["notifier"].tell(Tick())
            await sink.wait_for(1)


async def test_the_notifier_hears_parsed_jobs_and_drafted_patches(
    settings: Settings, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    async with running(settings) as (handle, client):
        await register_notified(client, repo)
        await run_job(client, "demo", recipe="test")
        await run_job(client, "demo", recipe="audit")
        await handle.refs["notifier"].tell(PatchDrafted(attempt_id=1, project="demo"))
        with trio.fail_after(10):
            while True:
                stats = await notifier_stats(client)
                if stats["jobs_heard"] == 2 and stats["patches_heard"] == 1:
                    break
                await trio.sleep(0.02)


@pytest.mark.parametrize(
    ("smtp_host", "lines"),
    [(None, 1), ("127.0.0.1", 0)],
    ids=["unset", "set"],
)
async def test_the_disabled_line_is_logged_once_when_smtp_is_unset(
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    smtp_host: str | None,
    lines: int,
) -> None:
    caplog.set_level(logging.INFO)
    config = settings.model_copy(
        update={"smtp_host": smtp_host, "smtp_port": free_port()}
    )
    async with running(config) as (_, client):
        health = await digest_health(client)
        await client.post("/admin/digest/run-now", json={"dry_run": True})
        await client.get("/digests/2026-04-29")

    logged = [r for r in caplog.records if r.getMessage() == DISABLED_LINE]
    assert len(logged) == lines
    assert health["enabled"] is (smtp_host is not None)
    if smtp_host is None:
        assert health["reason"] == "CRAFTING_SMTP_HOST not set"
        assert health["next_run"] is None
