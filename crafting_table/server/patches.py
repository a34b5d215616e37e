"""``/jobs/{id}/patches`` and ``/patches``: the patch loop's attempts.

Starting an attempt is asked of the Patcher, which owns the attempt
numbers and the attempts' lives; reading them is done here, in the front
end, straight from the ledger.
"""

from __future__ import annotations

import trio
from pydantic import BaseModel, Field, ValidationError
from quart import Blueprint, request
from quart_schema import (
    document_request,
    operation_id,
    validate_querystring,
    validate_response,
)

from crafting_table.errors import ApiError, NotConfigured, NotFound, Unprocessable
from crafting_table.ledger import patches as patch_store
from crafting_table.ledger.patches import PatchRow
from crafting_table.messages import PatchRequest
from crafting_table.models import PatchStatus, Query, Strict
from crafting_table.server.access import caller, owner_filter, visible_job
from crafting_table.server.app import context
from crafting_table.server.errors import describe_validation

blueprint = Blueprint("patches", __name__)

# SQLite integers are 64-bit; a larger id cannot exist and must not reach it.
MAX_ID = 2**63 - 1
ENDED = frozenset({"apply_failed", "verify_failed", "pr_opened", "failed"})
# The Patcher answers a request after a few ledger reads and one write.
ASK_TIMEOUT = 30.0
POLL_INTERVAL = 0.2


class PatchOut(BaseModel):
    """One patch attempt."""

    id: int
    finding_id: int
    job_id: str
    project: str
    owner: str
    attempt_number: int
    status: PatchStatus
    branch: str | None
    diff: str | None
    explanation: str | None
    confidence: float | None
    verify_job_id: str | None
    pr_url: str | None
    error: str | None
    created_at: str | None
    updated_at: str | None


class PatchAnswer(BaseModel):
    """Answer carrying one attempt."""

    ok: bool = True
    attempt: PatchOut


class PatchList(BaseModel):
    """Answer of ``GET /patches``; ``next`` is the ``before`` cursor."""

    ok: bool = True
    patches: list[PatchOut]
    next: int | None = None


class PatchQuery(Query):
    """Query string of ``GET /patches``."""

    project: str | None = None
    status: PatchStatus | None = None
    limit: int = Field(default=50, ge=1, le=500)
    before: int | None = None


class PatchIn(Strict):
    """Body of ``POST /jobs/{id}/patches`` (optional: ``{}`` or none at all).

    Without ``finding_id`` the patch loop picks the finding the way its
    post-job hook does.
    """

    finding_id: int | None = Field(default=None, ge=1)


@blueprint.post("/jobs/<job_id>/patches")
@document_request(PatchIn)
@validate_response(PatchAnswer, 200)
@validate_response(PatchAnswer, 202)
async def trigger(job_id: str) -> tuple[PatchAnswer, int]:
    """Start a patch attempt on one of the job's findings and wait for it.

    Answers 200 with the attempt once it ended (``pr_opened``,
    ``apply_failed``, ``verify_failed`` or ``failed``), or 202 with its
    current status when it is still under way after
    CRAFTING_PATCHER_ANSWER_WAIT_SECS; poll ``/patches/{id}`` then. 503
    names the missing settings while the patch loop is off; 422 when
    ``finding_id`` is not an actionable finding of this job; 409 when the
    finding had CRAFTING_PATCHER_MAX_ATTEMPTS attempts, or the job has
    nothing to patch.
    """
    job = await visible_job(job_id)
    ctx = context()
    missing = ctx.settings.patcher_missing()
    if missing:
        raise NotConfigured(
            f"the patch loop is off: set {', '.join(missing)}", missing=missing
        )
    if ctx.patcher is None:
        raise NotConfigured("the patch loop is not running in this service")
    data = await _patch_body()
    answer = await ctx.patcher.ask(
        PatchRequest(job_id=job.id, finding_id=data.finding_id), timeout=ASK_TIMEOUT
    )
    if isinstance(answer, ApiError):
        raise answer
    row = await _settled(answer, ctx.settings.patcher_answer_wait_secs)
    status = 200 if row.status in ENDED else 202
    return PatchAnswer(attempt=PatchOut(**row.to_dict())), status


async def _patch_body() -> PatchIn:
    raw = await request.get_data(as_text=False)
    if not raw.strip():
        return PatchIn()
    body = await request.get_json()
    try:
        return PatchIn.model_validate(body)
    except ValidationError as exc:
        message, problems = describe_validation(exc)
        raise Unprocessable(message, problems=problems) from exc


async def _settled(attempt_id: int, wait: float) -> PatchRow:
    """The attempt once it ended, or as it stands after ``wait`` seconds."""
    ledger = context().ledger
    with trio.move_on_after(wait):
        while True:
            row = await ledger.read(patch_store.get, attempt_id)
            if row is None:
                raise NotFound(f"no patch attempt with id {attempt_id}")
            if row.status in ENDED:
                return row
            await trio.sleep(POLL_INTERVAL)
    row = await ledger.read(patch_store.get, attempt_id)
    if row is None:
        raise NotFound(f"no patch attempt with id {attempt_id}")
    return row


@blueprint.get("/patches")
@validate_querystring(PatchQuery)
@validate_response(PatchList)
async def list_patches(query_args: PatchQuery) -> PatchList:
    """The caller's patch attempts (all for an admin), newest first."""
    q = query_args
    rows = await context().ledger.read(
        patch_store.list_visible,
        owner=owner_filter(),
        project=q.project,
        status=q.status,
        before=q.before,
        limit=q.limit + 1,
    )
    page = rows[: q.limit]
    return PatchList(
        patches=[PatchOut(**r.to_dict()) for r in page],
        next=page[-1].id if len(rows) > q.limit else None,
    )


@blueprint.get(f"/patches/<int(max={MAX_ID}):attempt_id>")
@operation_id("show_patch")
@validate_response(PatchAnswer)
async def show(attempt_id: int) -> PatchAnswer:
    """One patch attempt; 404 when missing or not the caller's."""
    row = await context().ledger.read(patch_store.get, attempt_id)
    token = caller()
    if row is None or not (token.is_admin or row.owner == token.name):
        raise NotFound(f"no patch attempt with id {attempt_id}")
    return PatchAnswer(attempt=PatchOut(**row.to_dict()))
