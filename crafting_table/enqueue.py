"""Putting a job in the queue: the one way every trigger does it."""

from __future__ import annotations

import time
from typing import Any

from crafting_table.errors import Unprocessable
from crafting_table.ledger import Ledger
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.ledger.projects import ProjectRow
from crafting_table.messages import JobQueued, Ref


async def enqueue(
    ledger: Ledger,
    runner: Ref,
    project: ProjectRow,
    *,
    recipe: str,
    subproject: str | None,
    ref: str | None,
    sha: str | None,
    trigger: str = "api",
    retry_of: str | None = None,
    snapshot: dict[str, Any] | None = None,
) -> JobRow:
    """Snapshot the recipe, commit the job as queued, and wake the Runner.

    Raises :class:`Unprocessable` naming the subproject or recipe when the
    project does not define it, or ``subproject`` when it is None and the
    project has several (see :func:`models.find_subproject`). The job is
    committed before this returns, so an answer built from it survives a
    crash. ``snapshot`` (a retry, or the verify run of a patch) reuses an
    earlier job's recipe as it was, whatever the project says now.

    A job given neither ``ref`` nor ``sha`` runs the project's default
    branch, and that branch is recorded as its ref now: however it was
    enqueued (API, schedule, push), a run of a branch has the branch as its
    ref, and is compared with that branch's runs only. A job on an exact
    ``sha`` keeps the ``ref`` it was given, or none.
    """
    if ref is None and sha is None:
        ref = project.spec.default_branch
    if snapshot is None:
        snapshot = _snapshot(project, recipe, subproject)
    path = str(snapshot.get("path", "."))
    now = time.time()
    job_id = job_store.new_job_id(now)
    row = await ledger.write(
        job_store.insert,
        job_id=job_id,
        project=project.name,
        owner=project.owner,
        subproject=path,
        recipe=recipe,
        ref=ref,
        sha=sha.lower() if sha else None,
        snapshot=snapshot,
        log_path=f"logs/{project.name}/{job_id}.log",
        now=now,
        trigger=trigger,
        retry_of=retry_of,
    )
    await runner.tell(JobQueued(job_id=job_id))
    return row


def _snapshot(
    project: ProjectRow, recipe: str, subproject: str | None
) -> dict[str, Any]:
    """The recipe as the project defines it now; 422 naming what is missing."""
    sub = project.spec.subproject(subproject)
    if sub is None:
        raise Unprocessable(_no_subproject(project, subproject), field="subproject")
    command = sub.command(recipe)
    if command is None:
        raise Unprocessable(
            f"subproject {sub.path!r} of {project.name!r} defines no "
            f"{recipe!r} recipe; it defines {', '.join(sub.recipes()) or 'none'}",
            field="recipe",
        )
    return {**sub.model_dump(), "recipe": recipe, "command": command}


def _no_subproject(project: ProjectRow, asked: str | None) -> str:
    """Why ``asked`` names no subproject of ``project``, and what to send."""
    known = ", ".join(repr(s.path) for s in project.spec.subprojects)
    if asked is None:
        count = len(project.spec.subprojects)
        wrong = f"has {count} subprojects and the request names none"
    else:
        wrong = f"has no subproject {asked!r}"
    return f"project {project.name!r} {wrong}; set 'subproject' to one of {known}"
