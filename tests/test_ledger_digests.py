"""``digest_runs`` claims and the window query, on a real ledger file."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from crafting_table.ledger import Ledger
from crafting_table.ledger import digests as store
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger.digests import Claim
from tests.digest_rows import add_job, add_patch, add_project, cve, lint

DAY = "2026-04-29"
STALE = 600.0
T0 = 1_777_000_000.0


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    """A fresh ledger file."""
    opened = await Ledger.open(tmp_path / "ledger.sqlite3")
    yield opened
    await opened.aclose()


async def _claim(
    ledger: Ledger, now: float, max_attempts: int | None = None, project: str = "p"
) -> Claim:
    return await ledger.write(
        store.claim,
        DAY,
        project,
        recipients=["ops@example.com"],
        subject="s",
        now=now,
        stale_after=STALE,
        max_attempts=max_attempts,
    )


async def test_first_claim_marks_the_row_sending(ledger: Ledger) -> None:
    claim = await _claim(ledger, T0)

    assert claim.outcome == "claimed"
    assert claim.run.status == "sending"
    assert claim.run.attempts == 1
    assert claim.run.recipients == ["ops@example.com"]


@pytest.mark.parametrize(
    ("close", "later", "outcome", "attempts"),
    [
        ("none", 10.0, "busy", 1),
        ("none", STALE + 1, "claimed", 2),
        ("failed", 10.0, "claimed", 2),
        ("sent", 10.0, "sent", 1),
        ("sent", STALE * 10, "sent", 1),
    ],
    ids=[
        "sending-is-busy",
        "stale-sending-is-taken-over",
        "failed-is-retried",
        "sent-stays-sent",
        "sent-stays-sent-much-later",
    ],
)
async def test_what_a_second_claim_finds(
    ledger: Ledger, close: str, later: float, outcome: str, attempts: int
) -> None:
    first = await _claim(ledger, T0)
    if close == "failed":
        assert await ledger.write(store.record_failed, first.run, "550 no", T0 + 1)
    elif close == "sent":
        assert await ledger.write(store.record_sent, first.run, T0 + 1)

    second = await _claim(ledger, T0 + later)

    assert second.outcome == outcome
    assert second.run.attempts == attempts


async def test_failed_rows_keep_the_error_until_sent(ledger: Ledger) -> None:
    first = await _claim(ledger, T0)
    await ledger.write(store.record_failed, first.run, "421 try later", T0 + 1)
    failed = await ledger.read(store.get_run, DAY, "p")
    second = await _claim(ledger, T0 + 5)
    await ledger.write(store.record_sent, second.run, T0 + 6)
    sent = await ledger.read(store.get_run, DAY, "p")

    assert failed is not None
    assert sent is not None
    assert (failed.status, failed.error, failed.attempts) == (
        "failed",
        "421 try later",
        1,
    )
    assert (sent.status, sent.error, sent.attempts) == ("sent", None, 2)
    assert sent.sent_at == T0 + 6


async def test_a_limit_on_attempts_exhausts_a_failing_row(ledger: Ledger) -> None:
    for attempt in range(2):
        claim = await _claim(ledger, T0 + attempt, max_attempts=2)
        assert claim.outcome == "claimed"
        await ledger.write(store.record_failed, claim.run, "down", T0 + attempt)

    limited = await _claim(ledger, T0 + 10, max_attempts=2)
    unlimited = await _claim(ledger, T0 + 11)

    assert limited.outcome == "exhausted"
    assert unlimited.outcome == "claimed"
    assert unlimited.run.attempts == 3


async def test_a_claim_taken_over_cannot_be_closed_by_its_old_owner(
    ledger: Ledger,
) -> None:
    old = await _claim(ledger, T0)
    new = await _claim(ledger, T0 + STALE + 1)

    closed_by_old = await ledger.write(store.record_sent, old.run, T0 + STALE + 2)
    row = await ledger.read(store.get_run, DAY, "p")

    assert new.outcome == "claimed"
    assert closed_by_old is False
    assert row is not None
    assert row.status == "sending"
    assert await ledger.write(store.record_sent, new.run, T0 + STALE + 3)


async def test_concurrent_claims_grant_exactly_one(ledger: Ledger) -> None:
    outcomes: list[str] = []

    async def one() -> None:
        outcomes.append((await _claim(ledger, T0)).outcome)

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(one)

    assert sorted(outcomes) == ["busy"] * 7 + ["claimed"]


async def test_latest_run_and_runs_on(ledger: Ledger) -> None:
    assert await ledger.read(store.latest_run) is None
    await _claim(ledger, T0, project="a")
    await _claim(ledger, T0 + 5, project="b")

    latest = await ledger.read(store.latest_run)
    runs = await ledger.read(store.runs_on, DAY)

    assert latest is not None
    assert latest.project_name == "b"
    assert sorted(runs) == ["a", "b"]


# -- the window -------------------------------------------------------------

START, END = T0, T0 + 86_400


async def test_a_job_belongs_to_the_window_it_finished_in(ledger: Ledger) -> None:
    await add_project(ledger)
    before = await add_job(ledger, "test", "failed", START - 1)
    first = await add_job(ledger, "test", "failed", START)
    last = await add_job(ledger, "test", "failed", END - 0.001)
    after = await add_job(ledger, "test", "failed", END)

    [project] = await ledger.read(store.activity, START, END)

    ids = [a.job.id for a in project.jobs]
    assert ids == [first.id, last.id]
    assert before.id not in ids
    assert after.id not in ids


async def test_verify_runs_are_left_out(ledger: Ledger) -> None:
    await add_project(ledger)
    await add_job(ledger, "test", "succeeded", START + 5, trigger="verify")

    [project] = await ledger.read(store.activity, START, END)

    assert project.jobs == []


async def test_findings_carry_their_state_against_the_previous_run(
    ledger: Ledger,
) -> None:
    await add_project(ledger)
    await add_job(ledger, "lint", "failed", START - 100, [lint("warning")])
    job = await add_job(
        ledger, "lint", "failed", START + 5, [lint("warning"), lint("warning", "E501")]
    )

    [project] = await ledger.read(store.activity, START, END)

    [activity] = project.jobs
    assert activity.job.id == job.id
    assert [(f.code, state) for f, state in activity.findings] == [
        ("F401", "persisting"),
        ("E501", "new"),
    ]


def _end_without_findings(
    conn: sqlite3.Connection,
    status: str,
    exit_code: int | None,
    parsed: bool,
    at: float,
) -> str:
    job_id = job_store.new_job_id(at - 30)
    job_store.insert(
        conn,
        job_id=job_id,
        project="demo",
        owner="admin",
        subproject=".",
        recipe="lint",
        ref=None,
        sha=None,
        snapshot={"recipe": "lint", "command": "make lint"},
        log_path=f"logs/demo/{job_id}.log",
        now=at - 30,
    )
    job_store.claim(conn, job_id, "mark", at - 29)
    if parsed:
        # As the Parser ends a job: its findings (none) and status at once.
        ended = finding_store.finish_with_findings(
            conn,
            job_id,
            findings=[],
            identities=[],
            status=status,
            exit_code=exit_code,
            error=None,
            log_bytes=0,
            now=at,
        )
    else:
        # As the Runner ends a job without the Parser.
        ended = job_store.finish(
            conn,
            job_id,
            status=status,
            exit_code=exit_code,
            error="findings could not be parsed",
            log_bytes=0,
            findings_count=0,
            now=at,
        )
    assert ended is not None
    return job_id


@pytest.mark.parametrize(
    ("status", "exit_code", "parsed", "baseline"),
    [
        pytest.param("failed", None, True, False, id="failed-before-its-recipe"),
        pytest.param("canceled", None, True, False, id="canceled-while-queued"),
        pytest.param("canceled", 143, True, False, id="canceled-mid-run"),
        pytest.param("failed", -1, False, False, id="orphaned-by-a-restart"),
        pytest.param("failed", 1, False, False, id="its-parse-failed"),
        pytest.param("succeeded", 0, False, False, id="its-wrap-up-cut-short"),
        # Stopped short: what it did not reach would look fixed, then new.
        pytest.param("timed_out", 143, True, False, id="timed-out"),
        pytest.param("failed", 1, True, True, id="failed"),
        pytest.param("succeeded", 0, True, True, id="succeeded"),
    ],
)
async def test_the_previous_run_is_one_whose_recipe_ran_and_was_parsed(
    ledger: Ledger, status: str, exit_code: int | None, parsed: bool, baseline: bool
) -> None:
    await add_project(ledger)
    first = await add_job(ledger, "lint", "failed", START - 100, [lint("warning")])
    between = await ledger.write(
        _end_without_findings, status, exit_code, parsed, START - 50
    )
    job = await add_job(ledger, "lint", "failed", START + 5, [lint("warning")])

    [project] = await ledger.read(store.activity, START, END)

    [activity] = project.jobs
    assert activity.job.id == job.id
    expected = "new" if baseline else "persisting"
    assert [state for _f, state in activity.findings] == [expected]
    previous = await ledger.read(job_store.previous_finished, job)
    assert previous is not None
    assert previous.id == (between if baseline else first.id)


async def test_an_older_job_comes_with_a_patch_drafted_in_the_window(
    ledger: Ledger,
) -> None:
    await add_project(ledger)
    old = await add_job(ledger, "audit", "failed", START - 3600, [cve()])
    await add_patch(ledger, old, status="pr_opened", created_at=START - 10)
    inside = await add_patch(
        ledger, old, status="pr_opened", created_at=START + 10, attempt_number=2
    )
    await add_patch(
        ledger, old, status="pr_opened", created_at=END + 10, attempt_number=3
    )

    [project] = await ledger.read(store.activity, START, END)

    [activity] = project.jobs
    assert activity.in_window is False
    assert inside in [p.id for p in activity.patches]
    assert all(p.created_at < END for p in activity.patches)
    assert len(activity.patches) == 2


@pytest.mark.parametrize(
    ("status", "diff", "drafted"),
    [
        ("drafting", None, False),
        ("failed", None, False),
        ("failed", "--- a\n+++ b\n", True),
        ("apply_failed", None, True),
        ("verify_failed", "--- a\n+++ b\n", True),
        ("pr_opened", "--- a\n+++ b\n", True),
    ],
    ids=[
        "drafting",
        "failed-before-diff",
        "failed-after-diff",
        "apply-failed",
        "verify-failed",
        "pr-opened",
    ],
)
async def test_which_attempts_count_as_drafted(
    ledger: Ledger, status: str, diff: str | None, drafted: bool
) -> None:
    await add_project(ledger)
    job = await add_job(ledger, "audit", "failed", START + 5, [cve()])
    await add_patch(ledger, job, status=status, diff=diff, created_at=START + 6)

    [project] = await ledger.read(store.activity, START, END)

    assert project.jobs[0].patches[0].drafted is drafted


async def test_one_project_or_none(ledger: Ledger) -> None:
    await add_project(ledger, "alpha")
    await add_project(ledger, "beta")

    every = await ledger.read(store.activity, START, END)
    one = await ledger.read(store.activity, START, END, "beta")
    missing = await ledger.read(store.activity, START, END, "gamma")

    assert [p.project.name for p in every] == ["alpha", "beta"]
    assert [p.project.name for p in one] == ["beta"]
    assert missing == []
