"""The bridge's tools: one per thing a token holder does with the API.

Each public coroutine of :class:`Tools` is registered as an MCP tool of the
same name; its docstring is the description the model reads, and its typed
parameters are the input schema. A tool returns the API's objects (trimmed
where a whole answer would flood the model's context) and raises a
:class:`~crafting_table_mcp.errors.BridgeError` for anything that went
wrong, which the SDK hands back as an ``isError`` result.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from pydantic import Field

from crafting_table_mcp.api import RUNNING_STATUSES, Api, segment
from crafting_table_mcp.errors import NotConfigured, NotFound
from crafting_table_mcp.models import (
    JobStatus,
    Kind,
    PatchStatus,
    ProjectChanges,
    ProjectSpec,
    Recipe,
    Severity,
)

ProjectName = Annotated[str, Field(description="The project's name.")]
JobId = Annotated[str, Field(description="The job's id.")]
# Fields of GET /projects/{name} that a PUT does not take back.
_OUTPUT_ONLY = ("owner", "has_webhook_secret", "created_at", "updated_at")
# The parser's copy of the tool's own record; long, and in get_finding.
_BULKY_FINDING_FIELDS = ("raw_json", "identity")
POLL_SECONDS = 1.0


class Tools:
    """The tools, bound to the :class:`Api` that the bridge opens at start."""

    def __init__(self) -> None:
        self._api: Api | None = None

    def attach(self, api: Api | None) -> None:
        """Use ``api`` for every call from now on (None while it is closed)."""
        self._api = api

    @property
    def api(self) -> Api:
        """The open API client; :class:`NotConfigured` outside the bridge's life."""
        if self._api is None:
            raise NotConfigured("the bridge is not connected to crafting-table yet")
        return self._api

    # -- projects -----------------------------------------------------------

    async def list_projects(
        self,
        limit: Annotated[int, Field(ge=1, le=500, description="Page size.")] = 100,
        after: Annotated[
            str | None,
            Field(description="The 'next' value of the previous page, if any."),
        ] = None,
    ) -> dict[str, Any]:
        """List the projects this token can see (every project for an admin
        token), by name, with their subprojects and recipes. 'next' is the
        'after' value of the following page, or null on the last page."""
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return _without_ok(await self.api.call("GET", "/projects", params=params))

    async def get_project(self, name: ProjectName) -> dict[str, Any]:
        """Show one project: git URL (credentials redacted), default branch,
        subprojects with their recipe commands, notification settings."""
        return _without_ok(await self.api.call("GET", f"/projects/{segment(name)}"))

    async def register_project(self, project: ProjectSpec) -> dict[str, Any]:
        """Register a git repository as a project; this token becomes its
        owner. Each subproject names a folder, a language (which picks the
        findings parser) and shell commands for the recipes build, test,
        lint and audit. A taken name is a conflict error."""
        body = project.model_dump(exclude_none=True)
        return _without_ok(await self.api.call("POST", "/projects", body=body))

    async def update_project(
        self, name: ProjectName, changes: ProjectChanges
    ) -> dict[str, Any]:
        """Change some settings of a project; fields left out keep their
        value ('subprojects', when given, replaces the whole list). Jobs
        already enqueued keep the recipe they were enqueued with."""
        path = f"/projects/{segment(name)}"
        current = (await self.api.call("GET", path))["project"]
        body = {k: v for k, v in current.items() if k not in _OUTPUT_ONLY}
        body.update(changes.model_dump(exclude_unset=True))
        return _without_ok(await self.api.call("PUT", path, body=body))

    async def delete_project(self, name: ProjectName) -> dict[str, Any]:
        """Delete a project with all its jobs, logs, findings and patch
        attempts. This cannot be undone."""
        return _without_ok(await self.api.call("DELETE", f"/projects/{segment(name)}"))

    # -- jobs ---------------------------------------------------------------

    async def enqueue_job(
        self,
        project: ProjectName,
        recipe: Annotated[Recipe, Field(description="Which recipe to run.")],
        subproject: Annotated[
            str | None,
            Field(
                description=(
                    "Subproject path; may be left out only when the project "
                    "has a single subproject."
                )
            ),
        ] = None,
        ref: Annotated[
            str | None, Field(description="Branch or tag to run (not with sha).")
        ] = None,
        sha: Annotated[
            str | None, Field(description="Exact commit to run (not with ref).")
        ] = None,
    ) -> dict[str, Any]:
        """Enqueue a run of one recipe of one subproject, at the default
        branch unless 'ref' or 'sha' is given. Returns the job (status
        'queued'); follow it with get_job, wait_job and read_log."""
        body = {
            key: value
            for key, value in (
                ("recipe", recipe),
                ("subproject", subproject),
                ("ref", ref),
                ("sha", sha),
            )
            if value is not None
        }
        path = f"/projects/{segment(project)}/jobs"
        return _without_ok(await self.api.call("POST", path, body=body))

    async def list_jobs(
        self,
        project: Annotated[
            str | None, Field(description="Only this project's jobs.")
        ] = None,
        status: Annotated[JobStatus | None, Field(description="Only this status.")] = (
            None
        ),
        recipe: Annotated[Recipe | None, Field(description="Only this recipe.")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Page size.")] = 20,
        before: Annotated[
            str | None,
            Field(description="The 'next' value of the previous page, if any."),
        ] = None,
    ) -> dict[str, Any]:
        """List jobs this token can see, newest first, without their logs.
        'next' is the 'before' value of the following page, or null."""
        params: dict[str, str | int] = {"limit": limit}
        for key, value in (
            ("project", project),
            ("status", status),
            ("recipe", recipe),
            ("before", before),
        ):
            if value is not None:
                params[key] = value
        return _without_ok(await self.api.call("GET", "/jobs", params=params))

    async def get_job(
        self,
        job_id: JobId,
        tail_lines: Annotated[
            int,
            Field(ge=0, le=200, description="How many of the last log lines."),
        ] = 40,
    ) -> dict[str, Any]:
        """Show a job: status (queued, running, succeeded, failed, timed_out,
        canceled), exit code, command, timing, findings count, and the last
        lines of its log. Use read_log for the whole log."""
        answer = await self.api.call("GET", f"/jobs/{segment(job_id)}")
        tail: list[str] = answer.get("log_tail", [])
        job = answer["job"]
        return {
            "job": job,
            "running": job["status"] in RUNNING_STATUSES,
            "log_tail": tail[len(tail) - tail_lines :] if tail_lines else [],
        }

    async def wait_job(
        self,
        job_id: JobId,
        timeout_secs: Annotated[
            float,
            Field(gt=0, le=600, description="Return after this long at most."),
        ] = 60,
    ) -> dict[str, Any]:
        """Wait until a job ends or the timeout passes, then show it as
        get_job does (with the last 40 log lines). 'running' true in the
        result means the timeout passed first; call again to keep waiting."""
        with anyio.move_on_after(timeout_secs):
            while True:
                shown = await self.get_job(job_id)
                if not shown["running"]:
                    return shown
                await anyio.sleep(POLL_SECONDS)
        return await self.get_job(job_id)

    async def read_log(
        self,
        job_id: JobId,
        offset: Annotated[
            int,
            Field(ge=0, description="Byte offset to start at: 0, or a next_offset."),
        ] = 0,
        max_bytes: Annotated[
            int,
            Field(ge=1024, le=262144, description="Most bytes of log to return."),
        ] = 16384,
    ) -> dict[str, Any]:
        """Read a page of a job's log (stdout and stderr as a terminal shows
        them) starting at a byte offset. A page ends at a line end where it
        can; 'next_offset' is where the next page starts, 'more' says
        whether the log already holds more, and 'running' whether the job
        may still add to it."""
        page = await self.api.log_page(job_id, offset, max_bytes)
        more = page.next_offset < page.log_size
        if more:
            note = f"More log follows: read on with offset={page.next_offset}."
        elif page.running:
            note = (
                f"End of the log so far; the job is {page.job_status} and may "
                f"write more: read again later with offset={page.next_offset}."
            )
        else:
            note = f"End of the log; the job ended with status {page.job_status}."
        return {
            "job_id": page.job_id,
            "offset": page.offset,
            "next_offset": page.next_offset,
            "log_size": page.log_size,
            "more": more,
            "job_status": page.job_status,
            "running": page.running,
            "note": note,
            "text": page.text,
        }

    async def cancel_job(self, job_id: JobId) -> dict[str, Any]:
        """Cancel a queued or running job (its processes are stopped) and
        return its final state. A job that already ended is a conflict."""
        path = f"/jobs/{segment(job_id)}/cancel"
        return _without_ok(await self.api.call("POST", path))

    async def retry_job(self, job_id: JobId) -> dict[str, Any]:
        """Run an ended job again as a new job: the same recipe command as
        when it was enqueued (whatever the project says now), the same ref
        and commit. Returns the new job (status 'queued', 'retry_of' naming
        this one); follow it with wait_job. A job still queued or running
        is a conflict."""
        path = f"/jobs/{segment(job_id)}/retry"
        return _without_ok(await self.api.call("POST", path))

    # -- findings -----------------------------------------------------------

    async def list_findings(
        self,
        job_id: JobId,
        kind: Annotated[Kind | None, Field(description="Only this kind.")] = None,
        severity: Annotated[
            Severity | None, Field(description="Only this severity.")
        ] = None,
        new: Annotated[
            bool,
            Field(description="Only findings the previous run did not have."),
        ] = False,
        fixed: Annotated[
            bool,
            Field(
                description=(
                    "Instead, the previous run's findings that this job no longer has."
                )
            ),
        ] = False,
        limit: Annotated[int, Field(ge=1, le=500, description="Page size.")] = 50,
        offset: Annotated[
            int, Field(ge=0, description="How many findings to skip.")
        ] = 0,
    ) -> dict[str, Any]:
        """List what the parsers found in a job's output: kind (lint, cve,
        test_fail, recipe_fail), severity, file and line, tool code, message,
        suggested fix, and 'state' against the previous run of the same
        recipe (new, persisting, or fixed). 'fixed_withheld' says why no
        finding counts as fixed when the run stopped short (a compile error
        before the linter or the tests ran, a deadline). Use get_finding for
        one finding's raw tool record."""
        params = {"new": "1"} if new else {}
        if fixed:
            params["fixed"] = "1"
        if kind is not None:
            params["kind"] = kind
        if severity is not None:
            params["severity"] = severity
        path = f"/jobs/{segment(job_id)}/findings"
        answer = await self.api.call("GET", path, params=params)
        rows: list[dict[str, Any]] = answer["findings"]
        page = rows[offset : offset + limit]
        following = offset + limit if offset + limit < len(rows) else None
        return {
            "findings": [
                {k: v for k, v in row.items() if k not in _BULKY_FINDING_FIELDS}
                for row in page
            ],
            "total": len(rows),
            "next_offset": following,
            "previous_job_id": answer.get("previous_job_id"),
            "fixed_withheld": answer.get("fixed_withheld"),
        }

    async def get_finding(
        self,
        job_id: JobId,
        finding_id: Annotated[int, Field(description="The finding's id.")],
    ) -> dict[str, Any]:
        """Show one finding of a job in full, with the tool's raw record."""
        answer = await self.api.call("GET", f"/jobs/{segment(job_id)}/findings")
        for row in answer["findings"]:
            if row["id"] == finding_id:
                return {"finding": row}
        raise NotFound(
            f"job {job_id!r} has no finding with id {finding_id}; list_findings "
            "shows its findings"
        )

    # -- patches ------------------------------------------------------------

    async def trigger_patch(
        self,
        job_id: JobId,
        finding_id: Annotated[
            int | None,
            Field(
                description=(
                    "The finding to patch; without it the service picks the "
                    "job's highest-severity actionable finding."
                )
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Start an automatic patch attempt on a finding of a job: an agent
        drafts a diff, the service re-runs the recipe on it and, if it
        passes, opens a pull request. Returns the attempt; follow it with
        get_patch. Fails while the service's patch loop is not configured."""
        body = {} if finding_id is None else {"finding_id": finding_id}
        path = f"/jobs/{segment(job_id)}/patches"
        return _without_ok(await self.api.call("POST", path, body=body))

    async def list_patches(
        self,
        project: Annotated[
            str | None, Field(description="Only this project's attempts.")
        ] = None,
        status: Annotated[
            PatchStatus | None, Field(description="Only this status.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Page size.")] = 20,
        before: Annotated[
            int | None,
            Field(description="The 'next' value of the previous page, if any."),
        ] = None,
    ) -> dict[str, Any]:
        """List patch attempts this token can see, newest first: status,
        branch, pull request URL, error. 'next' is the 'before' value of the
        following page, or null."""
        params: dict[str, str | int] = {"limit": limit}
        for key, value in (("project", project), ("status", status)):
            if value is not None:
                params[key] = value
        if before is not None:
            params["before"] = before
        return _without_ok(await self.api.call("GET", "/patches", params=params))

    async def get_patch(
        self, attempt_id: Annotated[int, Field(description="The attempt's id.")]
    ) -> dict[str, Any]:
        """Show one patch attempt in full: the diff, the agent's explanation
        and confidence, the verify job, the pull request URL or the error."""
        return _without_ok(await self.api.call("GET", f"/patches/{attempt_id}"))


def _without_ok(answer: dict[str, Any]) -> dict[str, Any]:
    """The API's answer without its ``ok`` flag (a tool result is success)."""
    return {key: value for key, value in answer.items() if key != "ok"}
