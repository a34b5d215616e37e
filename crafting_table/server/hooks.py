"""``/hooks/gitea/{project}`` and ``/hooks/github/{project}``: forge webhooks.

No bearer here (the LAN gate still applies): the forge proves itself with
the project's ``webhook_secret``. The signature is checked on the raw body
before anything is parsed; a bad or missing one, a project without a
secret, and a project that does not exist all get the same 401, so the
endpoint tells nobody which projects exist.

A push to a branch enqueues the project's ``on_push`` recipes at the
pushed commit (see :func:`crafting_table.webhooks.plan_push`), trigger
``push``; with ``cancel_superseded`` the still-queued jobs of an earlier
push to the same branch are canceled. A ping answers 200 and runs nothing,
as do other events, tags and branch deletions. Every answer echoes the
delivery id the forge sent. A delivery id seen before is a replay and
runs nothing.

A delivery may be ``CRAFTING_MAX_HOOK_BODY_BYTES`` long (25 MiB by default,
what GitHub sends at most), not the API's ``CRAFTING_MAX_BODY_BYTES``; the
request class applies that limit to every path under ``/hooks/``. A longer
one is a 413 and runs nothing.
"""

from __future__ import annotations

import logging
import time

import trio
from quart import Blueprint, request
from quart_schema import validate_response

from crafting_table.enqueue import enqueue
from crafting_table.errors import Unauthorized
from crafting_table.ledger import deliveries as delivery_store
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.ledger.projects import ProjectRow
from crafting_table.messages import CancelJob
from crafting_table.models import HookAnswer
from crafting_table.server.app import context
from crafting_table.webhooks import (
    SIGNATURE_HEADERS,
    Forge,
    Push,
    delivery_id,
    event_name,
    parse_push,
    plan_push,
    signature_valid,
)

logger = logging.getLogger(__name__)

blueprint = Blueprint("hooks", __name__)

DAY = 86400.0


@blueprint.post("/hooks/gitea/<name>")
@validate_response(HookAnswer)
async def gitea(name: str) -> HookAnswer:
    """Receive a Gitea delivery for project ``name``.

    Signed with ``X-Gitea-Signature`` (hex HMAC-SHA256 of the body under
    the project's webhook_secret); 401 when it does not verify. Answers
    what the delivery enqueued or canceled, or why it ran nothing.
    """
    return await _receive("gitea", name)


@blueprint.post("/hooks/github/<name>")
@validate_response(HookAnswer)
async def github(name: str) -> HookAnswer:
    """Receive a GitHub delivery for project ``name``.

    Signed with ``X-Hub-Signature-256: sha256=<hex>`` (HMAC-SHA256 of the
    body under the project's webhook_secret); 401 when it does not verify.
    Answers what the delivery enqueued or canceled, or why it ran nothing.
    """
    return await _receive("github", name)


async def _receive(forge: Forge, name: str) -> HookAnswer:
    ctx = context()
    # The bytes exactly as signed: not cached, not decoded, no form parsing
    # (get_data's cache, as_text and parse_form_data, in that order).
    body = await request.get_data(False, False, False)
    project = await ctx.ledger.read(project_store.get, name)
    secret = project.spec.webhook_secret if project is not None else None
    header = request.headers.get(SIGNATURE_HEADERS[forge])
    if project is None or not signature_valid(forge, secret, body, header):
        raise Unauthorized(
            f"the {SIGNATURE_HEADERS[forge]} signature is missing or does not "
            "match; give the forge the same secret as the project's webhook_secret "
            "(a project without one takes no webhooks: set it with "
            "PUT /projects/<name>)"
        )

    event = event_name(forge, request.headers)
    # Read for every event, so that every answer echoes it: a forge's
    # "test" or "ping" button shows the answer beside the delivery it sent.
    delivery = delivery_id(forge, request.headers)
    if event == "ping":
        return HookAnswer(event=event, delivery=delivery, note="pong")
    if event != "push":
        return HookAnswer(
            event=event or "unknown",
            delivery=delivery,
            note=f"event {event!r} runs nothing; only push events run recipes",
        )

    push = parse_push(forge, body)
    answer = HookAnswer(event=event, delivery=delivery, ref=push.ref, sha=push.after)
    if delivery is not None:
        fresh = await ctx.ledger.write(
            delivery_store.claim,
            forge,
            delivery,
            project.name,
            time.time(),
            ctx.settings.webhook_retention_days * DAY,
        )
        if not fresh:
            logger.info(
                "%s delivery %s to %s is a replay; nothing runs",
                forge,
                delivery,
                project.name,
                extra={"project": project.name, "delivery": delivery},
            )
            return answer.model_copy(
                update={"replayed": True, "note": "delivery seen before"}
            )
    try:
        return await _run_push(project, push, answer)
    except BaseException:
        if delivery is not None:
            # Shielded: the forge will redeliver after this failure, and the
            # redelivery must not be taken for a replay.
            with trio.CancelScope(shield=True):
                await ctx.ledger.write(delivery_store.release, forge, delivery)
        raise


async def _run_push(project: ProjectRow, push: Push, answer: HookAnswer) -> HookAnswer:
    ctx = context()
    if push.branch is None:
        return answer.model_copy(update={"note": "not a branch; nothing runs"})
    if push.deleted:
        return answer.model_copy(update={"note": "branch deleted; nothing runs"})
    if not project.spec.on_push:
        return answer.model_copy(
            update={"note": "the project's on_push is empty; nothing runs"}
        )
    plan = plan_push(project.spec, push)
    if not plan:
        return answer.model_copy(
            update={"note": "no subproject with an on_push recipe was touched"}
        )

    jobs: list[JobRow] = []
    for path, recipe in plan:
        jobs.append(
            await enqueue(
                ctx.ledger,
                ctx.runner,
                project,
                recipe=recipe,
                subproject=path,
                ref=push.branch,
                sha=push.after,
                trigger="push",
            )
        )
    canceled: list[str] = []
    if project.spec.cancel_superseded:
        for job in jobs:
            canceled.extend(await _cancel_superseded(job))
    logger.info(
        "push of %s to %s/%s: %d job(s) enqueued, %d superseded job(s) canceled",
        push.after[:12],
        project.name,
        push.branch,
        len(jobs),
        len(canceled),
        extra={"project": project.name, "job_ids": [j.id for j in jobs]},
    )
    return answer.model_copy(
        update={"enqueued": [j.to_out() for j in jobs], "canceled": canceled}
    )


async def _cancel_superseded(newer: JobRow) -> list[str]:
    """Cancel the still-queued jobs ``newer`` supersedes; return their ids."""
    ctx = context()
    canceled = []
    for job_id in await ctx.ledger.read(job_store.superseded, newer):
        # Through the Runner, which also ends the live feed of anyone
        # watching the job; one that started meanwhile is left to finish.
        reason = f"superseded by job {newer.id}, of a newer push to {newer.ref}"
        outcome = await ctx.runner.ask(
            CancelJob(job_id=job_id, queued_only=True, reason=reason)
        )
        if outcome == "canceled":
            canceled.append(job_id)
            logger.info(
                "job %s (%s) canceled: superseded by job %s",
                job_id,
                newer.project_name,
                newer.id,
            )
    return canceled
