"""``/projects/{name}/jobs`` and ``/jobs``: enqueue, list, show, cancel."""

from __future__ import annotations

import json
from typing import Any

import trio
from quart import Blueprint, Response
from quart_schema import (
    document_response,
    operation_id,
    validate_querystring,
    validate_request,
    validate_response,
)

from crafting_table.enqueue import enqueue
from crafting_table.errors import Conflict
from crafting_table.joblog import file_size, read_tail
from crafting_table.ledger import jobs as job_store
from crafting_table.messages import CancelJob
from crafting_table.models import (
    TERMINAL_STATUSES,
    JobAnswer,
    JobEnqueued,
    JobIn,
    JobList,
    JobOnly,
    JobQuery,
)
from crafting_table.server.access import owner_filter, visible_job, visible_project
from crafting_table.server.app import context

blueprint = Blueprint("jobs", __name__)


def json_answer(body: dict[str, Any], status: int = 200) -> Response:
    """A JSON answer built from plain data, without a model's validation."""
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


TAIL_LINES = 200


@blueprint.post("/projects/<name>/jobs")
@validate_request(JobIn)
@validate_response(JobEnqueued, 201)
async def create(name: str, data: JobIn) -> tuple[JobEnqueued, int]:
    """Enqueue a recipe run of one subproject at a branch, tag or commit.

    Without ``ref`` or ``sha`` the project's default branch runs, and the
    job's ``ref`` names it. Without
    ``subproject`` the project's only subproject runs; when it has several
    that is a 422 listing their paths. A subproject or recipe the project
    does not define is a 422 naming it.
    """
    project = await visible_project(name)
    ctx = context()
    row = await enqueue(
        ctx.ledger,
        ctx.runner,
        project,
        recipe=data.recipe,
        subproject=data.subproject,
        ref=data.ref,
        sha=data.sha,
    )
    return JobEnqueued(job_id=row.id, job=row.to_out()), 201


@blueprint.get("/jobs")
@validate_querystring(JobQuery)
@document_response(JobList)
async def list_jobs(query_args: JobQuery) -> Response:
    """The caller's jobs (all for an admin), newest first.

    ``next`` is the ``before`` cursor of the following page, if any.
    """
    q = query_args
    rows = await context().ledger.read(
        job_store.list_visible,
        owner=owner_filter(),
        project=q.project,
        status=q.status,
        recipe=q.recipe,
        before=q.before,
        limit=q.limit + 1,
    )
    page = rows[: q.limit]
    following = page[-1].id if len(rows) > q.limit else None
    # Encoded here rather than through the JobList model: a page of jobs is
    # the API's hottest answer, and its fields come from our own ledger.
    return json_answer(
        {"ok": True, "jobs": [r.to_dict() for r in page], "next": following}
    )


@blueprint.get("/jobs/<job_id>")
@operation_id("show_job")
@document_response(JobAnswer)
async def show(job_id: str) -> Response:
    """A job and the last 200 lines of its log.

    ``log_bytes`` of a job under way is its log's size now; the ledger
    records it once the job has ended.
    """
    row = await visible_job(job_id)
    path = context().settings.data_dir / row.log_path
    tail = await read_tail(path, TAIL_LINES)
    job = row.to_dict()
    if row.status == "running":
        job["log_bytes"] = await trio.to_thread.run_sync(file_size, path)
    return json_answer({"ok": True, "job": job, "log_tail": tail})


@blueprint.post("/jobs/<job_id>/cancel")
@validate_response(JobOnly)
async def cancel(job_id: str) -> JobOnly:
    """Cancel a queued or running job and answer with its final state.

    A running recipe gets SIGTERM, then SIGKILL after the grace period;
    this answer waits for that. A job that already ended is a 409.
    """
    row = await visible_job(job_id)
    ctx = context()
    outcome = None
    if row.status not in TERMINAL_STATUSES:
        outcome = await ctx.runner.ask(CancelJob(job_id=job_id))
    if outcome is None:
        row = await visible_job(job_id)
        raise Conflict(
            f"job {job_id!r} already ended with status {row.status!r}; "
            f"POST /jobs/{job_id}/retry runs it again"
        )
    with trio.move_on_after(ctx.settings.kill_grace_secs + 20):
        while row.status not in TERMINAL_STATUSES:
            await trio.sleep(0.05)
            row = await visible_job(job_id)
    return JobOnly(job=row.to_out())


@blueprint.post("/jobs/<job_id>/retry")
@validate_response(JobEnqueued, 201)
async def retry(job_id: str) -> tuple[JobEnqueued, int]:
    """Enqueue a finished job again: same recipe snapshot, ref and commit.

    The new job has trigger ``retry`` and ``retry_of`` naming this one; it
    runs the recipe as it was when this job was enqueued, whatever the
    project says now, at the commit this job ran (or its ref, when it
    failed before resolving one). A job still queued or running is a 409.
    """
    row = await visible_job(job_id)
    if row.status not in TERMINAL_STATUSES:
        raise Conflict(
            f"job {job_id!r} is still {row.status}; retry it once it has ended"
        )
    project = await visible_project(row.project_name)
    ctx = context()
    new = await enqueue(
        ctx.ledger,
        ctx.runner,
        project,
        recipe=row.recipe,
        subproject=row.subproject,
        ref=row.ref,
        sha=row.sha,
        trigger="retry",
        retry_of=row.id,
        snapshot=row.snapshot,
    )
    return JobEnqueued(job_id=new.id, job=new.to_out()), 201
