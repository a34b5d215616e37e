"""``/digests/{date}`` and ``/admin/digest/run-now`` (admin only).

Rendering reads the ledger here, in the front end; sending is asked of the
Notifier, which owns the ``digest_runs`` claims. Both work without
``CRAFTING_SMTP_HOST`` as long as nothing is to be sent.
"""

from __future__ import annotations

from quart import Blueprint
from quart_schema import operation_id, validate_request, validate_response

from crafting_table.digest import compose
from crafting_table.digest_schedule import send_time, window, zone
from crafting_table.errors import NotConfigured, NotFound, Unprocessable
from crafting_table.ledger import digests as digest_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.digests import DigestRunRow
from crafting_table.messages import RunDigest
from crafting_table.models import (
    DigestAnswer,
    DigestDelivery,
    RunNowAnswer,
    RunNowIn,
    iso,
    parse_day,
)
from crafting_table.server.access import require_admin
from crafting_table.server.app import context

blueprint = Blueprint("digests", __name__)

# A run sends one mail per project, each bounded by the mailer's deadline;
# this only stops a request from waiting on a stuck actor for ever.
RUN_NOW_TIMEOUT = 900.0


def _delivery(row: DigestRunRow | None) -> DigestDelivery | None:
    if row is None:
        return None
    return DigestDelivery(
        status=row.status,
        attempts=row.attempts,
        error=row.error,
        sent_at=iso(row.sent_at),
        updated_at=iso(row.updated_at),
    )


@blueprint.get("/digests/<date>")
@operation_id("show_digest")
@validate_response(DigestAnswer)
async def show(date: str) -> DigestAnswer:
    """Render the digest of ``date`` (YYYY-MM-DD) for every project, as JSON.

    Lists each project with recipients: who gets it, the subject, the jobs
    its ``notify.on`` events select with their findings, and what became
    of its sending so far. Nothing is sent. A malformed date is a 422
    naming ``date``.
    """
    require_admin()
    try:
        day = parse_day(date)
    except ValueError as exc:
        problem = {"field": "date", "problem": str(exc), "type": "value_error"}
        raise Unprocessable(
            f"field 'date': {exc}", field="date", problems=[problem]
        ) from exc
    ctx = context()
    tz = zone(ctx.settings.digest_tz)
    start, end = window(day, tz)
    rows = await ctx.ledger.read(
        digest_store.activity, start.timestamp(), end.timestamp()
    )
    runs = await ctx.ledger.read(digest_store.runs_on, day.isoformat())
    digests = []
    for activity in rows:
        digest = compose(activity, day, ctx.settings.public_url, ctx.settings.secrets())
        if digest.recipients:
            delivery = _delivery(runs.get(digest.project))
            digests.append(digest.model_copy(update={"delivery": delivery}))
    return DigestAnswer(
        date=day.isoformat(),
        tz=ctx.settings.digest_tz,
        send_at=send_time(day, tz).isoformat(),
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        digests=digests,
    )


@blueprint.post("/admin/digest/run-now")
@validate_request(RunNowIn)
@validate_response(RunNowAnswer)
async def run_now(data: RunNowIn) -> RunNowAnswer:
    """Render a digest now and, unless ``dry_run``, send it.

    Answers per project ``sent``, ``already_sent``, ``failed`` (with the
    server's reply; a later run retries) or ``skipped`` (with the reason).
    Without ``date`` the latest digest whose 06:00 has passed runs; a date
    whose 06:00 is still ahead is only rendered. An unknown ``project`` is
    a 404; sending without ``CRAFTING_SMTP_HOST`` is a 503.
    """
    require_admin()
    ctx = context()
    known = data.project is None or (
        await ctx.ledger.read(project_store.get, data.project) is not None
    )
    if not known:
        raise NotFound(f"no project named {data.project!r}")
    if not data.dry_run and not ctx.settings.smtp_host:
        raise NotConfigured(
            "digest mail is off because CRAFTING_SMTP_HOST is not set; "
            'send {"dry_run": true} to render without sending',
            missing=["CRAFTING_SMTP_HOST"],
        )
    if ctx.notifier is None:
        raise NotConfigured("the notifier is not running in this service")
    message = RunDigest(day=data.date, project=data.project, dry_run=data.dry_run)
    answer: RunNowAnswer = await ctx.notifier.ask(message, timeout=RUN_NOW_TIMEOUT)
    return await _with_deliveries(answer)


async def _with_deliveries(answer: RunNowAnswer) -> RunNowAnswer:
    """``answer`` with each digest's sending so far, as ``GET /digests`` shows it.

    A dry run of a digest already sent says so in its reason.
    """
    runs = await context().ledger.read(digest_store.runs_on, answer.date)
    results = []
    for result in answer.results:
        run = runs.get(result.project)
        changes: dict[str, object] = {}
        if result.digest is not None:
            changes["digest"] = result.digest.model_copy(
                update={"delivery": _delivery(run)}
            )
        if result.reason == "dry run" and run is not None and run.status == "sent":
            changes["reason"] = f"dry run; it was sent at {iso(run.sent_at)}"
        results.append(result.model_copy(update=changes))
    return answer.model_copy(update={"results": results})
