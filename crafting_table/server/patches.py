"""``/jobs/{id}/patches`` and ``/patches``: the patch loop's attempts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import validate_querystring, validate_response

from crafting_table.errors import NotConfigured, NotFound
from crafting_table.ledger import patches as patch_store
from crafting_table.models import PatchStatus, Strict
from crafting_table.server.access import caller, owner_filter, visible_job
from crafting_table.server.app import context

blueprint = Blueprint("patches", __name__)

# SQLite integers are 64-bit; a larger id cannot exist and must not reach it.
MAX_ID = 2**63 - 1


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


class PatchQuery(Strict):
    """Query string of ``GET /patches``."""

    project: str | None = None
    status: PatchStatus | None = None
    limit: int = Field(default=50, ge=1, le=500)
    before: int | None = None


@blueprint.post("/jobs/<job_id>/patches")
async def trigger(job_id: str) -> dict[str, Any]:
    """Start a patch attempt on one of the job's findings.

    Answers 503 naming the missing settings while the patch loop is off.
    """
    await visible_job(job_id)
    missing = context().settings.patcher_missing()
    if missing:
        raise NotConfigured(
            f"the patch loop is off: set {', '.join(missing)}", missing=missing
        )
    raise NotConfigured("the patch loop is not available in this build")


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
@validate_response(PatchAnswer)
async def show(attempt_id: int) -> PatchAnswer:
    """One patch attempt; 404 when missing or not the caller's."""
    row = await context().ledger.read(patch_store.get, attempt_id)
    token = caller()
    if row is None or not (token.is_admin or row.owner == token.name):
        raise NotFound(f"no patch attempt with id {attempt_id}")
    return PatchAnswer(attempt=PatchOut(**row.to_dict()))
