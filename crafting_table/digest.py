"""The daily digest: which jobs it shows, and the mail that shows them.

Pure functions over ledger rows (:mod:`crafting_table.ledger.digests`): no
network, no clock, no ledger access, so the same rows always give the same
digest. :func:`compose` selects a project's jobs by its ``notify.on``
events and builds the :class:`~crafting_table.models.ProjectDigest` that
``GET /digests/{date}`` answers with; :func:`build_message` turns one into
a ``multipart/alternative`` mail with a plain-text and an HTML part.

Anything that comes from a repository or a tool (project names, finding
messages, file names, branches) is untrusted here: it is HTML-escaped in
the HTML part, and nothing of it reaches a header with a line break in it.

Usage::

    rows = await ledger.read(digests.activity, start, end)
    for activity in rows:
        digest = compose(activity, day, settings.public_url, settings.secrets())
        if digest.recipients and digest.jobs:
            message = build_message(digest, sender="ct@example.com", now=now)
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import quote, unquote, urlsplit

from crafting_table.ledger.digests import JobActivity, PatchSummary, ProjectActivity
from crafting_table.ledger.findings import FindingRow
from crafting_table.ledger.jobs import JobRow
from crafting_table.models import (
    DigestFinding,
    DigestJob,
    DigestPatch,
    NotifyEvent,
    ProjectDigest,
    iso,
)
from crafting_table.redact import Redactor

# A digest is read on a phone over breakfast: past these counts it says how
# many more there are and links to the API instead of listing them.
MAX_JOBS = 100
MAX_NEW_FINDINGS = 20
MAX_CVES = 20
# Longer finding messages are cut; the API has them whole.
MAX_MESSAGE_CHARS = 300

FAILED_STATUSES = frozenset({"failed", "timed_out"})
WARNING_SEVERITIES = frozenset({"warning", "warn"})

# Every control character, and the Unicode line and paragraph separators:
# none of them may reach a header, and in a one-line field of the body
# they would break the layout.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
# The one address form a digest sends to: no display name, no comments,
# no spaces, nothing a header parser could read as a second address.
_ADDRESS = re.compile(r"^[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+$")


# -- selection --------------------------------------------------------------


def _has_warning(activity: JobActivity) -> bool:
    return any(f.severity in WARNING_SEVERITIES for f, _ in activity.findings)


def _has_cve(activity: JobActivity) -> bool:
    return any(f.kind == "cve" for f, _ in activity.findings)


def _has_drafted_patch(activity: JobActivity) -> bool:
    return any(p.drafted for p in activity.patches)


def _is(recipe: str, statuses: Iterable[str]) -> Callable[[JobActivity], bool]:
    wanted = frozenset(statuses)
    return lambda a: a.job.recipe == recipe and a.job.status in wanted


# What each ``notify.on`` event means for one job of the window.
EVENT_TESTS: dict[NotifyEvent, Callable[[JobActivity], bool]] = {
    "audit_pass": _is("audit", {"succeeded"}),
    "audit_fail": _is("audit", FAILED_STATUSES),
    "test_fail": _is("test", FAILED_STATUSES),
    "lint_warn": lambda a: a.job.recipe == "lint" and _has_warning(a),
    "cve_found": _has_cve,
    "patch_drafted": _has_drafted_patch,
    "nightly_summary": lambda a: True,
}


def job_events(
    activity: JobActivity, events: Iterable[NotifyEvent]
) -> list[NotifyEvent]:
    """The events among ``events`` that ``activity`` fires, in that order.

    A job that is in the window only for a patch attempt on it (an older
    job) fires ``patch_drafted`` and nothing else: its run was reported in
    its own day's digest.
    """
    fired = []
    for event in events:
        if not activity.in_window and event != "patch_drafted":
            continue
        if EVENT_TESTS[event](activity):
            fired.append(event)
    return fired


def select(
    activity: ProjectActivity,
) -> list[tuple[JobActivity, list[NotifyEvent]]]:
    """The project's jobs that fire one of its ``notify.on`` events, oldest first.

    A project without recipients selects nothing.
    """
    notify = activity.project.spec.notify
    if not notify.email:
        return []
    events = notify.events()
    chosen = []
    for job in activity.jobs:
        fired = job_events(job, events)
        if fired:
            chosen.append((job, fired))
    return chosen


# -- the digest as data -----------------------------------------------------


class Links:
    """Addresses of API objects under CRAFTING_PUBLIC_URL (None without it)."""

    def __init__(self, public_url: str | None) -> None:
        self.base = public_url.rstrip("/") if public_url else None

    def _to(self, path: str) -> str | None:
        return f"{self.base}{path}" if self.base else None

    def job(self, job_id: str) -> str | None:
        """``/jobs/{id}``."""
        return self._to(f"/jobs/{quote(job_id, safe='')}")

    def findings(self, job_id: str) -> str | None:
        """``/jobs/{id}/findings``."""
        return self._to(f"/jobs/{quote(job_id, safe='')}/findings")

    def patch(self, attempt_id: int) -> str | None:
        """``/patches/{id}``."""
        return self._to(f"/patches/{attempt_id}")


def one_line(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with control characters and line breaks turned into spaces.

    Cut to ``limit`` characters with an ellipsis. This is what makes a
    value safe for a header, and tidy for a one-line field of the body.
    """
    flat = " ".join(_CONTROL.sub(" ", text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_recipients(addresses: Iterable[str]) -> list[str]:
    """The plain ``local@domain`` addresses among ``addresses``, deduplicated.

    Registration already refuses malformed addresses; this is the last
    line before a header, so anything else is dropped rather than trusted.
    """
    out: list[str] = []
    for address in addresses:
        if _ADDRESS.match(address) and address.lower() not in map(str.lower, out):
            out.append(address)
    return out


def _finding(row: FindingRow, state: str) -> DigestFinding:
    return DigestFinding(
        id=row.id,
        kind=row.kind,
        severity=row.severity,
        file=row.file,
        line=row.line,
        code=row.code,
        message=row.message,
        suggested_fix=row.suggested_fix,
        fingerprint=row.fingerprint,
        state="new" if state == "new" else "persisting",
    )


def _patch(row: PatchSummary, links: Links) -> DigestPatch:
    return DigestPatch(
        id=row.id,
        finding_id=row.finding_id,
        attempt_number=row.attempt_number,
        status=row.status,
        branch=row.branch,
        pr_url=row.pr_url,
        error=row.error,
        url=links.patch(row.id),
    )


def _duration(job: JobRow) -> float | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return round(job.finished_at - job.started_at, 3)


def _why(job: JobRow) -> str | None:
    """Why the job did not succeed, as far as the service knows."""
    if job.status == "succeeded":
        return None
    if job.error:
        return job.error
    if job.status == "timed_out":
        return f"reached its deadline of {job.timeout_secs} s"
    if job.status == "canceled":
        return "canceled"
    return None


def digest_job(
    activity: JobActivity, events: list[NotifyEvent], links: Links
) -> DigestJob:
    """One selected job as the digest shows it."""
    job = activity.job
    new = [_finding(f, s) for f, s in activity.findings if s == "new"]
    cves = [_finding(f, s) for f, s in activity.findings if f.kind == "cve"]
    counts = Counter(f.kind for f, _ in activity.findings)
    return DigestJob(
        id=job.id,
        status=job.status,
        recipe=job.recipe,
        subproject=job.subproject,
        ref=job.ref,
        sha=job.sha,
        trigger=job.trigger,
        error=_why(job),
        duration_secs=_duration(job),
        finished_at=iso(job.finished_at),
        events=events,
        findings_count=job.findings_count,
        counts=dict(sorted(counts.items())),
        new_findings=new[:MAX_NEW_FINDINGS],
        more_new_findings=max(0, len(new) - MAX_NEW_FINDINGS),
        cves=cves[:MAX_CVES],
        patches=[_patch(p, links) for p in activity.patches],
        url=links.job(job.id),
        findings_url=links.findings(job.id),
    )


def subject_for(project: str, day: date, jobs: list[DigestJob]) -> str:
    """The subject line: project, date, and the counts that matter most."""
    total = len(jobs)
    failed = sum(1 for j in jobs if j.status in FAILED_STATUSES)
    cves = sum(j.counts.get("cve", 0) for j in jobs)
    new = sum(len(j.new_findings) + j.more_new_findings for j in jobs)
    parts = [f"{total} job{'s' if total != 1 else ''}"]
    if failed:
        parts.append(f"{failed} failed")
    if new:
        parts.append(f"{new} new finding{'s' if new != 1 else ''}")
    if cves:
        parts.append(f"{cves} CVE{'s' if cves != 1 else ''}")
    return one_line(
        f"[crafting-table] {project} digest {day.isoformat()}: {', '.join(parts)}"
    )


def url_secrets(git_url: str) -> list[str]:
    """The secret in ``git_url``'s credentials, decoded; empty without.

    The password, or the user name when it stands alone (then it is the
    token), as :meth:`crafting_table.gitcmd.Credentials.secrets` decides.
    """
    try:
        parts = urlsplit(git_url)
    except ValueError:
        return []
    secret = parts.password or parts.username
    return [unquote(secret)] if secret else []


def compose(
    activity: ProjectActivity,
    day: date,
    public_url: str | None = None,
    secrets: Iterable[str] = (),
) -> ProjectDigest:
    """The digest of ``day`` for one project (jobs empty when nothing fired).

    Every string in it is masked (:class:`~crafting_table.redact.Redactor`)
    for ``secrets`` (the service's own), the credentials of the project's
    git_url, and anything shaped like a bearer or a URL's credentials.
    Findings need it: a report file a recipe wrote never passed through
    the masking of the job's log, and bearers are masked nowhere else.
    """
    project = activity.project
    links = Links(public_url)
    jobs = [digest_job(a, fired, links) for a, fired in select(activity)]
    redactor = Redactor([*secrets, *url_secrets(project.spec.git_url)])
    digest = ProjectDigest(
        project=project.name,
        date=day.isoformat(),
        recipients=safe_recipients(project.spec.notify.email),
        events=project.spec.notify.events(),
        # The subject counts every selected job; the body lists the first.
        subject=subject_for(project.name, day, jobs),
        jobs=jobs[:MAX_JOBS],
        more_jobs=max(0, len(jobs) - MAX_JOBS),
    )
    return redactor.model(digest)


# -- the digest as mail -----------------------------------------------------


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(no commit)"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _where(finding: DigestFinding) -> str:
    if not finding.file:
        return ""
    return f"{finding.file}:{finding.line}" if finding.line else finding.file


def _finding_text(finding: DigestFinding) -> str:
    parts = [f"[{finding.kind}]"]
    if finding.code:
        parts.append(one_line(finding.code, 80))
    where = _where(finding)
    if where:
        parts.append(one_line(where, 200))
    text = " ".join(parts) + " - " + one_line(finding.message)
    return f"{text} ({finding.fingerprint})"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "none"


def render_text(digest: ProjectDigest) -> str:
    """The plain-text part: one block per job, links when known."""
    lines = [
        f"crafting-table digest for {one_line(digest.project)}, {digest.date}",
        f"Events: {', '.join(digest.events)}",
        "",
    ]
    for job in digest.jobs:
        lines.append(
            f"{job.status.upper()}  {job.recipe}  {one_line(job.subproject, 200)}"
            f"  @ {_short(job.sha)} ({_origin(job)})  ({_seconds(job.duration_secs)})"
        )
        if job.error:
            lines.append(f"  error: {one_line(job.error, 500)}")
        lines.append(f"  selected by: {', '.join(job.events)}")
        lines.append(f"  findings: {_counts_text(job.counts)}")
        if job.new_findings:
            lines.append("  new since the previous run:")
            lines.extend(f"    {_finding_text(f)}" for f in job.new_findings)
            if job.more_new_findings:
                lines.append(f"    ... and {job.more_new_findings} more")
        if job.cves:
            lines.append("  CVEs:")
            for cve in job.cves:
                fix = one_line(cve.suggested_fix) or "no fix known"
                lines.append(f"    {_finding_text(cve)} (fix: {fix})")
        if job.patches:
            lines.append("  patch attempts:")
            for patch in job.patches:
                target = one_line(patch.pr_url or patch.url or "", 500)
                lines.append(
                    f"    #{patch.id} attempt {patch.attempt_number}: "
                    f"{patch.status} {target}".rstrip()
                )
        lines.append(f"  see: crafting-table job show {job.id}")
        if job.url:
            # No page to open: the API answers these with a bearer token.
            lines.append(f"  API (with a bearer token): {job.url}")
            lines.append(f"    and {job.findings_url}")
        lines.append("")
    if digest.more_jobs:
        lines.append(f"... and {digest.more_jobs} more job(s); see GET /jobs.")
    return "\n".join(lines).rstrip() + "\n"


def _origin(job: DigestJob) -> str:
    """Where the commit came from and what started the job: ``main, push``."""
    return f"{one_line(job.ref, 200) if job.ref else 'no branch'}, {job.trigger}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _link(url: str | None, label: str) -> str:
    if not url:
        return _e(label)
    return f'<a href="{_e(url)}">{_e(label)}</a>'


def _finding_html(finding: DigestFinding, with_fix: bool = False) -> str:
    where = _where(finding)
    text = f"<code>[{_e(finding.kind)}]</code> "
    if finding.code:
        text += f"<code>{_e(finding.code)}</code> "
    if where:
        text += f"{_e(where)} "
    text += f"&ndash; {_e(one_line(finding.message))}"
    text += f" <small>({_e(finding.fingerprint)})</small>"
    if with_fix:
        text += f" <em>fix: {_e(finding.suggested_fix or 'no fix known')}</em>"
    return f"<li>{text}</li>"


def _job_html(job: DigestJob) -> list[str]:
    head = (
        f"<strong>{_e(job.status.upper())}</strong> {_e(job.recipe)} "
        f"<code>{_e(job.subproject)}</code> @ <code>{_e(_short(job.sha))}</code> "
        f"({_e(_origin(job))}) ({_e(_seconds(job.duration_secs))})"
    )
    out = [
        "<li>",
        f"<p><code>{_e(job.id)}</code>: {head}</p>",
    ]
    if job.error:
        out.append(f"<p>error: {_e(one_line(job.error, 500))}</p>")
    out.append(
        f"<p>selected by: {_e(', '.join(job.events))}; findings: "
        f"{_e(_counts_text(job.counts))}</p>"
    )
    see = f"<code>crafting-table job show {_e(job.id)}</code>"
    if job.url:
        see += (
            f"; API, with a bearer token: {_link(job.url, 'job')}, "
            f"{_link(job.findings_url, 'findings')}"
        )
    out.append(f"<p>see: {see}</p>")
    if job.new_findings:
        out.append("<p>new since the previous run:</p><ul>")
        out.extend(_finding_html(f) for f in job.new_findings)
        if job.more_new_findings:
            out.append(f"<li>&hellip; and {job.more_new_findings} more</li>")
        out.append("</ul>")
    if job.cves:
        out.append("<p>CVEs:</p><ul>")
        out.extend(_finding_html(f, with_fix=True) for f in job.cves)
        out.append("</ul>")
    if job.patches:
        out.append("<p>patch attempts:</p><ul>")
        for patch in job.patches:
            pr = (
                f" &ndash; {_link(patch.pr_url, 'pull request')}"
                if patch.pr_url
                else ""
            )
            out.append(
                f"<li>{_link(patch.url, f'#{patch.id}')} attempt "
                f"{patch.attempt_number}: {_e(patch.status)}{pr}</li>"
            )
        out.append("</ul>")
    out.append("</li>")
    return out


def render_html(digest: ProjectDigest) -> str:
    """The HTML part: the same content as the text, every value escaped."""
    title = one_line(f"crafting-table digest for {digest.project}, {digest.date}")
    body = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Events: {_e(', '.join(digest.events))}</p>",
        "<ul>",
    ]
    for job in digest.jobs:
        body.extend(_job_html(job))
    body.append("</ul>")
    if digest.more_jobs:
        body.append(f"<p>&hellip; and {digest.more_jobs} more job(s).</p>")
    body.append("</body></html>")
    return "\n".join(body) + "\n"


def build_message(digest: ProjectDigest, *, sender: str, now: datetime) -> EmailMessage:
    """The digest as a ``multipart/alternative`` mail, ready for SMTP.

    ``now`` (aware) is the Date header. Header values pass through
    :func:`one_line` and the recipients through :func:`safe_recipients`,
    so no stored value can add a header; the default email policy folds
    and encodes what remains.
    """
    message = EmailMessage()
    message["Subject"] = one_line(digest.subject, 400)
    message["From"] = one_line(sender, 320)
    message["To"] = ", ".join(safe_recipients(digest.recipients))
    message["Date"] = format_datetime(now)
    domain = sender.rpartition("@")[2] or "crafting-table.invalid"
    message["Message-ID"] = make_msgid("digest", domain=one_line(domain, 200))
    # RFC 3834: an automatic message, so responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_text(digest))
    message.add_alternative(render_html(digest), subtype="html")
    return message
