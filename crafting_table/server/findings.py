"""``/jobs/{id}/findings``: what the parsers found, and how it changed.

Each finding carries its ``state`` against the previous job of the same
project, subproject, recipe and ref whose recipe ran to the end of its
tool's analysis (a job that failed at checkout, was canceled before it
started, reached its deadline or stopped at a compile error is skipped;
see ``ledger.jobs.previous_finished``): ``new`` when its identity (kind,
file, code and the text of its source line, so line shifts do not count)
was not there before, else ``persisting``. ``?new=1`` keeps only the new
ones; ``?fixed=1`` lists instead the previous run's findings that are gone,
and is empty, with ``fixed_withheld`` saying why, when this job's tool
stopped short: what it did not reach is not fixed (see
``ledger.findings.stopped_short``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, model_validator
from quart import Blueprint, Response
from quart_schema import validate_querystring, validate_response

from crafting_table import __version__
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.models import Query
from crafting_table.parsers.base import Kind, Severity
from crafting_table.sarif_export import to_sarif
from crafting_table.server.access import visible_job
from crafting_table.server.app import context
from crafting_table.server.openapi import document_answer
from crafting_table.urls import repository_uri

blueprint = Blueprint("findings", __name__)


class FindingQuery(Query):
    """Query string of ``GET /jobs/{id}/findings``."""

    kind: Kind | None = None
    severity: Severity | None = None
    new: bool = False
    fixed: bool = False

    @model_validator(mode="after")
    def _one_comparison(self) -> FindingQuery:
        # The fixed ones are the previous run's, never new in this one: the
        # two together would always answer an empty list.
        if self.new and self.fixed:
            raise ValueError(
                "new and fixed select different findings (this run's new ones, "
                "the previous run's gone ones); ask for one at a time"
            )
        return self


class FindingOut(BaseModel):
    """One finding as the API shows it."""

    id: int
    job_id: str
    kind: str
    severity: str | None
    file: str | None
    line: int | None
    column: int | None
    code: str | None
    message: str
    suggested_fix: str | None
    fingerprint: str
    identity: str
    outside: bool
    tool: str | None
    raw_json: str
    created_at: str | None
    state: str = Field(description="new, persisting, or fixed (with ?fixed=1)")


class FindingList(BaseModel):
    """Answer of ``GET /jobs/{id}/findings``."""

    ok: bool = True
    findings: list[FindingOut]
    previous_job_id: str | None
    fixed_withheld: str | None = Field(
        default=None,
        description="why no finding counts as fixed by this job (its tool "
        "stopped before it looked at everything), or null",
    )


def _keep(row: Any, query: FindingQuery) -> bool:
    if query.kind is not None and row.kind != query.kind:
        return False
    return query.severity is None or row.severity == query.severity


async def _selected(
    job_id: str, query: FindingQuery
) -> tuple[JobRow, list[Any], finding_store.Comparison]:
    """The job, the findings ``query`` selects with their state, and the
    comparison they come from."""
    job = await visible_job(job_id)
    seen = await context().ledger.read(finding_store.compare, job)
    if query.fixed:
        rows = [(row, "fixed") for row in seen.fixed]
    else:
        rows = [
            (r, state) for r, state in seen.states if not query.new or state == "new"
        ]
    return job, [(row, state) for row, state in rows if _keep(row, query)], seen


@blueprint.get("/jobs/<job_id>/findings")
@validate_querystring(FindingQuery)
@validate_response(FindingList)
async def list_findings(job_id: str, query_args: FindingQuery) -> FindingList:
    """The job's findings with their state against the previous run.

    ``fixed_withheld`` is set when this job's tool stopped short (deadline,
    compile error, a failure nothing explains): then ``?fixed=1`` is empty.
    """
    _job, rows, seen = await _selected(job_id, query_args)
    return FindingList(
        findings=[FindingOut(**row.to_dict(), state=state) for row, state in rows],
        previous_job_id=seen.previous.id if seen.previous else None,
        fixed_withheld=seen.fixed_withheld,
    )


@blueprint.get("/jobs/<job_id>/findings.sarif")
@validate_querystring(FindingQuery)
@document_answer(
    200,
    "A SARIF 2.1.0 log with one run; its schema is sarif-schema-2.1.0.json.",
    content={"application/sarif+json": {"schema": {"type": "object"}}},
)
async def sarif(job_id: str, query_args: FindingQuery) -> Response:
    """The same findings as a SARIF 2.1.0 log, for code-scanning viewers.

    Takes the same filters as ``/jobs/{id}/findings``. Paths are relative
    to the repository's root (the subproject's folder included), which
    SARIF calls ``SRCROOT``. The commit and the repository (without
    credentials) are the runs' version control provenance; a job that found
    nothing has one empty run.
    """
    job, rows, seen = await _selected(job_id, query_args)
    log = to_sarif(
        [row.to_dict() for row, _ in rows],
        tool_version=__version__,
        provenance=await _provenance(job),
        subproject=job.subproject,
        # Whatever keeps a job from fixing anything also left its analysis
        # unfinished: a deadline, a compile error, a cancel, a failed parse.
        stopped=seen.fixed_withheld,
    )
    body = json.dumps(log, ensure_ascii=False)
    return Response(body, mimetype="application/sarif+json")


async def _provenance(job: JobRow) -> dict[str, str] | None:
    """The job's commit as SARIF ``versionControlDetails``, if it has one."""
    project = await context().ledger.read(project_store.get, job.project_name)
    uri = repository_uri(project.spec.git_url) if project else None
    if not job.sha or uri is None:
        return None
    details = {"repositoryUri": uri, "revisionId": job.sha}
    if job.ref:
        details["branch"] = job.ref
    return details
