"""Digest selection by ``notify.on`` and the mail it renders to.

Selection runs on a real ledger file filled through the ledger functions
the pipeline uses; rendering is checked by parsing the mail back with the
standard library, the way a mail client would.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from crafting_table.digest import build_message, compose, one_line, safe_recipients
from crafting_table.ledger import Ledger
from crafting_table.ledger import digests as store
from crafting_table.ledger import findings as findings_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.models import Notify, ProjectDigest
from tests.digest_rows import add_job, add_patch, add_project, cve, lint, recipe_fail

DAY = date(2026, 4, 29)
START = 1_777_000_000.0
END = START + 86_400
NOW = datetime(2026, 4, 29, 13, 0, tzinfo=UTC)
EVIL = "\r\nBcc: evil@example.com\r\n<script>alert('x')</script> & <b>"


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    """A fresh ledger file."""
    opened = await Ledger.open(tmp_path / "ledger.sqlite3")
    yield opened
    await opened.aclose()


async def _day_of_jobs(ledger: Ledger) -> dict[str, JobRow]:
    """One job per interesting case, all finished inside the window."""
    at = iter(range(10, 10_000, 10))
    jobs = {
        "audit-pass": await add_job(ledger, "audit", "succeeded", START + next(at)),
        "audit-fail": await add_job(
            ledger, "audit", "failed", START + next(at), [recipe_fail()]
        ),
        "audit-cve": await add_job(
            ledger, "audit", "failed", START + next(at), [cve()]
        ),
        "test-fail": await add_job(
            ledger, "test", "failed", START + next(at), [recipe_fail()]
        ),
        "test-timeout": await add_job(ledger, "test", "timed_out", START + next(at)),
        "test-pass": await add_job(ledger, "test", "succeeded", START + next(at)),
        "lint-warn": await add_job(
            ledger, "lint", "succeeded", START + next(at), [lint("warning")]
        ),
        "lint-error": await add_job(
            ledger, "lint", "failed", START + next(at), [lint("error", "E999")]
        ),
        "build-cve": await add_job(
            ledger, "build", "succeeded", START + next(at), [cve("GO-2024-1")]
        ),
        "canceled": await add_job(ledger, "build", "canceled", START + next(at)),
        "patched": await add_job(
            ledger, "lint", "failed", START + next(at), [lint("error", "F811")]
        ),
        "patch-drafting": await add_job(
            ledger, "lint", "failed", START + next(at), [lint("error", "F821")]
        ),
    }
    await add_patch(
        ledger,
        jobs["patched"],
        status="pr_opened",
        created_at=START + 5_000,
        pr_url="https://git.example.com/org/demo/pulls/7",
    )
    await add_patch(
        ledger, jobs["patch-drafting"], status="drafting", diff=None, created_at=START
    )
    return jobs


ALL = {
    "audit-pass",
    "audit-fail",
    "audit-cve",
    "test-fail",
    "test-timeout",
    "test-pass",
    "lint-warn",
    "lint-error",
    "build-cve",
    "canceled",
    "patched",
    "patch-drafting",
}


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (["audit_pass"], {"audit-pass"}),
        (["audit_fail"], {"audit-fail", "audit-cve"}),
        (["test_fail"], {"test-fail", "test-timeout"}),
        (["lint_warn"], {"lint-warn"}),
        (["cve_found"], {"audit-cve", "build-cve"}),
        (["patch_drafted"], {"patched"}),
        (["nightly_summary"], ALL),
        ([], {"audit-fail", "audit-cve", "build-cve", "patched"}),
        (["test_fail", "lint_warn"], {"test-fail", "test-timeout", "lint-warn"}),
    ],
    ids=[
        "audit_pass",
        "audit_fail",
        "test_fail",
        "lint_warn",
        "cve_found",
        "patch_drafted",
        "nightly_summary",
        "default-events",
        "two-events",
    ],
)
async def test_selection_by_notify_on(
    ledger: Ledger, on: list[str], expected: set[str]
) -> None:
    await add_project(ledger, on=on)
    jobs = await _day_of_jobs(ledger)
    names = {job.id: name for name, job in jobs.items()}

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY)

    assert {names[j.id] for j in digest.jobs} == expected
    for job in digest.jobs:
        assert job.events
        assert set(job.events) <= set(digest.events)


async def test_a_job_lists_every_event_it_fires(ledger: Ledger) -> None:
    await add_project(ledger, on=["audit_fail", "cve_found", "nightly_summary"])
    jobs = await _day_of_jobs(ledger)

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY)

    [audit_cve] = [j for j in digest.jobs if j.id == jobs["audit-cve"].id]
    assert audit_cve.events == ["audit_fail", "cve_found", "nightly_summary"]


async def test_no_recipients_selects_nothing(ledger: Ledger) -> None:
    await add_project(ledger, email=[], on=["nightly_summary"])
    await _day_of_jobs(ledger)

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY)

    assert digest.recipients == []
    assert digest.jobs == []


async def test_an_older_job_is_shown_only_for_its_new_patch(ledger: Ledger) -> None:
    await add_project(ledger, on=["nightly_summary", "audit_fail", "patch_drafted"])
    old = await add_job(ledger, "audit", "failed", START - 3600, [cve()])
    await add_patch(ledger, old, status="verify_failed", created_at=START + 60)

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY)

    [job] = digest.jobs
    assert job.id == old.id
    assert job.events == ["patch_drafted"]


async def test_job_details_counts_new_findings_cves_and_patches(
    ledger: Ledger,
) -> None:
    await add_project(ledger, on=["nightly_summary"])
    await add_job(ledger, "audit", "failed", START - 50, [cve("PYSEC-1")])
    job = await add_job(
        ledger,
        "audit",
        "failed",
        START + 50,
        [cve("PYSEC-1"), cve("PYSEC-2", fix=None), lint("warning")],
    )
    patch = await add_patch(
        ledger,
        job,
        status="pr_opened",
        created_at=START + 60,
        pr_url="https://git.example.com/org/demo/pulls/9",
    )

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY, public_url="https://ct.example.com/")

    [shown] = digest.jobs
    assert shown.counts == {"cve": 2, "lint": 1}
    assert [f.code for f in shown.new_findings] == ["PYSEC-2", "F401"]
    stored = await ledger.read(findings_store.for_job, job.id)
    assert [f.fingerprint for f in shown.new_findings] == [
        row.fingerprint for row in stored if row.code in ("PYSEC-2", "F401")
    ]
    assert [(c.code, c.suggested_fix, c.state) for c in shown.cves] == [
        ("PYSEC-1", "bump to 2.31.0", "persisting"),
        ("PYSEC-2", None, "new"),
    ]
    assert shown.duration_secs == 29.0
    assert shown.sha == job.sha
    assert shown.url == f"https://ct.example.com/jobs/{job.id}"
    assert shown.findings_url == f"https://ct.example.com/jobs/{job.id}/findings"
    [attempt] = shown.patches
    assert attempt.url == f"https://ct.example.com/patches/{patch}"
    assert attempt.pr_url == "https://git.example.com/org/demo/pulls/9"
    assert "3 new findings" not in digest.subject
    assert "2 new findings" in digest.subject
    assert "2 CVEs" in digest.subject


async def test_links_need_a_public_url(ledger: Ledger) -> None:
    await add_project(ledger, on=["nightly_summary"])
    await add_job(ledger, "test", "failed", START + 5, [recipe_fail()])

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY)
    message = build_message(digest, sender="ct@example.com", now=NOW)

    assert digest.jobs[0].url is None
    assert "http" not in message.as_string()


# -- the mail ---------------------------------------------------------------


def _parse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _parts(parsed: EmailMessage) -> tuple[str, str]:
    text = parsed.get_body(preferencelist=("plain",))
    page = parsed.get_body(preferencelist=("html",))
    assert text is not None
    assert page is not None
    return str(text.get_content()), str(page.get_content())


async def test_the_mail_has_both_parts_and_no_injected_header(
    ledger: Ledger,
) -> None:
    await add_project(ledger, on=["nightly_summary"])
    job = await add_job(
        ledger,
        "lint",
        "failed",
        START + 5,
        [lint("warning", code="X1", message=f"bad thing{EVIL}")],
    )

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY, public_url="https://ct.example.com")
    parsed = _parse(build_message(digest, sender="ct@example.com", now=NOW))
    text, page = _parts(parsed)

    assert parsed.get_content_type() == "multipart/alternative"
    assert sorted(parsed.keys()) == sorted(
        [
            "Subject",
            "From",
            "To",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "Content-Type",
            "MIME-Version",
        ]
    )
    assert parsed["Bcc"] is None
    assert parsed["To"] == "ops@example.com"
    # A subject that fits a line of its own is folded right after the
    # colon; the parser keeps the fold's space, mail clients drop it.
    assert parsed["Subject"].lstrip() == digest.subject
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;" in page
    [line] = [line for line in text.splitlines() if "bad thing" in line]
    [finding] = digest.jobs[0].new_findings
    assert line.endswith(
        "bad thing Bcc: evil@example.com <script>alert('x')</script> & <b> "
        f"({finding.fingerprint})"
    )
    assert f"({finding.fingerprint})" in page
    assert f"https://ct.example.com/jobs/{job.id}/findings" in text
    assert f'href="https://ct.example.com/jobs/{job.id}"' in page


def test_stored_values_never_reach_a_header_with_a_line_break() -> None:
    digest = ProjectDigest(
        project="evil\r\nBcc: x@example.com",
        date="2026-04-29",
        recipients=[
            "ok@example.com",
            "a@b.com\r\nBcc: x@example.com",
            "Name <n@example.com>",
            "c@d.com, e@f.com",
        ],
        events=["nightly_summary"],
        subject="Digest\r\nBcc: x@example.com\nX-Evil: 1",
        jobs=[],
    )

    message = build_message(digest, sender="ct@example.com", now=NOW)
    head, _, _ = message.as_bytes().partition(b"\n\n")
    parsed = _parse(message)
    _, page = _parts(parsed)

    assert parsed["Bcc"] is None
    assert parsed["X-Evil"] is None
    assert parsed["To"] == "ok@example.com"
    assert parsed["Subject"].lstrip() == "Digest Bcc: x@example.com X-Evil: 1"
    assert b"\nBcc:" not in head
    assert b"\nX-Evil" not in head
    assert b"\r" not in head
    assert "crafting-table digest for evil Bcc: x@example.com, 2026-04-29" in page


def test_a_non_ascii_subject_is_encoded_and_folded() -> None:
    digest = ProjectDigest(
        project="demo",
        date="2026-04-29",
        recipients=["ops@example.com"],
        events=["nightly_summary"],
        subject="Résumé ✓ " + "long words " * 20,
        jobs=[],
    )

    message = build_message(digest, sender="ct@example.com", now=NOW)
    head, _, _ = message.as_bytes().partition(b"\n\n")
    parsed = _parse(message)

    assert parsed["Subject"].lstrip() == one_line(digest.subject)
    assert b"=?utf-8?" in head
    assert all(len(line) <= 78 for line in head.split(b"\n"))
    assert all(byte < 128 for byte in head)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (["a@b.com"], ["a@b.com"]),
        (["a@b.com", "A@B.com"], ["a@b.com"]),
        (["a@b.com\r\nBcc: x@y"], []),
        (["Name <a@b.com>"], []),
        (["a@b.com, c@d.com"], []),
        (["no-at-sign"], []),
    ],
    ids=["plain", "duplicate", "crlf", "display-name", "two-in-one", "no-at"],
)
def test_safe_recipients(given: list[str], kept: list[str]) -> None:
    assert safe_recipients(given) == kept


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a\r\nb", 300, "a b"),
        ("a\u2028b\x00c", 300, "a b c"),
        ("x" * 10, 5, "xxxx…"),
        (None, 10, ""),
    ],
    ids=["crlf", "separators-and-nul", "cut", "none"],
)
def test_one_line(text: str | None, limit: int, expected: str) -> None:
    assert one_line(text, limit) == expected


def test_every_notify_event_has_a_rule() -> None:
    from typing import get_args

    from crafting_table.digest import EVENT_TESTS
    from crafting_table.models import NotifyEvent

    assert set(EVENT_TESTS) == set(get_args(NotifyEvent))


async def test_long_lists_are_cut_but_counted(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crafting_table.digest as digest_module

    monkeypatch.setattr(digest_module, "MAX_JOBS", 2)
    monkeypatch.setattr(digest_module, "MAX_NEW_FINDINGS", 1)
    await add_project(ledger, on=["nightly_summary"])
    for n in range(3):
        await add_job(
            ledger,
            "lint",
            "failed",
            START + n,
            [lint("warning", code=f"A{n}"), lint("warning", code=f"B{n}")],
        )

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY)
    text, _ = _parts(_parse(build_message(digest, sender="c@example.com", now=NOW)))

    assert len(digest.jobs) == 2
    assert digest.more_jobs == 1
    assert [len(j.new_findings) for j in digest.jobs] == [1, 1]
    assert [j.more_new_findings for j in digest.jobs] == [1, 1]
    assert "3 jobs, 3 failed, 6 new findings" in digest.subject
    assert "... and 1 more job(s)" in text


def test_an_unset_notify_on_shows_the_default_events() -> None:
    assert Notify().on == ["audit_fail", "cve_found", "patch_drafted"]
    assert Notify(on=[]).events() == Notify().on


async def test_a_job_says_its_branch_trigger_and_why_it_failed(ledger: Ledger) -> None:
    await add_project(ledger, on=["nightly_summary"])
    job = await add_job(ledger, "test", "failed", START + 5, sha=None)
    why = "unknown branch 'nobranch': no such branch in the repository"
    await ledger.write(
        lambda conn: conn.execute(
            "UPDATE jobs SET ref = 'nobranch', error = ? WHERE id = ?", (why, job.id)
        )
    )

    [activity] = await ledger.read(store.activity, START, END)
    digest = compose(activity, DAY, public_url="https://ct.example.com")
    text, page = _parts(_parse(build_message(digest, sender="a@b.c", now=NOW)))

    assert "@ (no commit) (nobranch, api)" in text
    assert f"  error: {why}" in text
    assert f"  see: crafting-table job show {job.id}" in text
    assert "with a bearer token" in text
    assert "(nobranch, api)" in page
    assert "error: unknown branch &#x27;nobranch&#x27;" in page


async def test_a_timed_out_job_says_so(ledger: Ledger) -> None:
    await add_project(ledger, on=["nightly_summary"])
    await add_job(ledger, "test", "timed_out", START + 5)

    [activity] = await ledger.read(store.activity, START, END)
    [job] = compose(activity, DAY).jobs

    assert job.error is not None
    assert job.error.startswith("reached its deadline of ")
