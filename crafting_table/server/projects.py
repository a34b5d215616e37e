"""``/projects``: register, list, show, update and delete projects."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import trio
from quart import Blueprint, request
from quart_schema import (
    operation_id,
    validate_querystring,
    validate_request,
    validate_response,
)

from crafting_table.errors import Unprocessable
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.projects import ProjectRow
from crafting_table.messages import ProjectDeleted, Tick
from crafting_table.models import (
    RECIPES,
    Deleted,
    ProjectAnswer,
    ProjectIn,
    ProjectList,
    ProjectOut,
    Query,
)
from crafting_table.server.access import caller, owner_filter, visible_project
from crafting_table.server.app import context
from crafting_table.urls import DEFAULT_PORTS, parse_git_url, points_at, redact_url

blueprint = Blueprint("projects", __name__)


class ProjectQuery(Query):
    """Query string of ``GET /projects``."""

    limit: int = 100
    after: str | None = None


def project_out(row: ProjectRow) -> ProjectOut:
    """The public view of a project row."""
    return ProjectOut.from_spec(row.spec, row.owner, row.created_at, row.updated_at)


def service_addresses() -> list[tuple[str, int]]:
    """Where this service answers: its bind address, this request's, its public URL."""
    settings = context().settings
    found: list[tuple[str, int]] = []
    host, _, port = settings.bind.rpartition(":")
    if int(port):
        found.append((host, int(port)))
    if request.server and request.server[1]:
        found.append((str(request.server[0]), int(request.server[1])))
    if settings.public_url:
        public = urlsplit(settings.public_url)
        default = DEFAULT_PORTS.get(public.scheme, 80)
        if public.hostname:
            found.append((public.hostname, public.port or default))
    return found


def check_remote(spec: ProjectIn, is_admin: bool) -> None:
    """Refuse a git_url this caller may not register here (422)."""
    settings = context().settings
    parsed = parse_git_url(spec.git_url)
    if points_at(parsed, service_addresses()):
        raise Unprocessable(
            f"git_url {redact_url(spec.git_url)!r} points at this service itself; "
            "use the address of a git server",
            field="git_url",
        )
    if parsed.is_file:
        policy = settings.allow_file_urls
        if policy == "never" or (policy == "admin" and not is_admin):
            raise Unprocessable(
                f"git_url {spec.git_url!r} is a local repository, which "
                + (
                    "this service never clones"
                    if policy == "never"
                    else "only admins may register"
                )
                + "; use an https://, http:// or ssh:// URL",
                field="git_url",
            )
        # A remote is first reached by the first job; a local path can be
        # checked now, and a typo is better told at once.
        local = Path(unquote(urlsplit(spec.git_url).path))
        if not local.exists():
            raise Unprocessable(
                f"git_url {spec.git_url!r}: no such folder on the service's host; "
                "give the path of a git repository the service can read",
                field="git_url",
            )
    elif settings.git_hosts and parsed.host not in {
        h.lower() for h in settings.git_hosts
    }:
        raise Unprocessable(
            f"git host {parsed.host!r} is not in CRAFTING_GIT_HOSTS; use one of "
            f"{', '.join(settings.git_hosts)}",
            field="git_url",
        )


def check_recipes(spec: ProjectIn) -> None:
    """Refuse a subproject that defines no recipe (422): nothing could run it.

    Checked here rather than in the model, so that a project stored before
    this rule still reads.
    """
    for sub in spec.subprojects:
        if not sub.recipes():
            raise Unprocessable(
                f"subproject {sub.path!r} defines no recipe; give it at least one "
                f"of {', '.join(RECIPES)}",
                field="subprojects",
            )


def keep_secrets(new: ProjectIn, old: ProjectIn) -> ProjectIn:
    """Carry stored secrets over into an update that could not repeat them.

    A client that GETs a project, edits it and PUTs it back sends the
    redacted ``git_url`` and no ``webhook_secret``; both would otherwise be
    wiped by the round trip.
    """
    changes: dict[str, object] = {}
    if new.webhook_secret is None and old.webhook_secret:
        changes["webhook_secret"] = old.webhook_secret
    if "***@" in new.git_url and redact_url(old.git_url) == new.git_url:
        changes["git_url"] = old.git_url
    return new.model_copy(update=changes) if changes else new


@blueprint.post("/projects")
@validate_request(ProjectIn)
@validate_response(ProjectAnswer, 201)
async def register(data: ProjectIn) -> tuple[ProjectAnswer, int]:
    """Register a project; the caller becomes its owner. A taken name is a 409."""
    token = caller()
    check_remote(data, token.is_admin)
    check_recipes(data)
    row = await context().ledger.write(
        project_store.insert, data, token.name, time.time()
    )
    if data.schedules:
        await _schedules_changed()
    return ProjectAnswer(project=project_out(row)), 201


async def _schedules_changed() -> None:
    """Have the Scheduler look now rather than after its nap (up to a minute),
    so that /healthz shows the schedules at once. Firing does not depend on
    it: a new schedule counts from the project's update either way."""
    scheduler = context().scheduler
    if scheduler is not None:
        # A full inbox already holds a look to come: do not wait on it.
        with trio.move_on_after(1):
            await scheduler.tell(Tick())


@blueprint.get("/projects")
@validate_querystring(ProjectQuery)
@validate_response(ProjectList)
async def list_projects(query_args: ProjectQuery) -> ProjectList:
    """The caller's projects (every project for an admin), by name.

    ``next`` is the ``after`` value of the following page, if there is one.
    """
    limit = max(1, min(query_args.limit, 500))
    rows = await context().ledger.read(
        project_store.list_visible, owner_filter(), query_args.after, limit + 1
    )
    page = rows[:limit]
    following = page[-1].name if len(rows) > limit else None
    return ProjectList(projects=[project_out(r) for r in page], next=following)


@blueprint.get("/projects/<name>")
@operation_id("show_project")
@validate_response(ProjectAnswer)
async def show(name: str) -> ProjectAnswer:
    """One project, credentials redacted; 404 when not visible."""
    return ProjectAnswer(project=project_out(await visible_project(name)))


@blueprint.put("/projects/<name>")
@validate_request(ProjectIn)
@validate_response(ProjectAnswer)
async def update(name: str, data: ProjectIn) -> ProjectAnswer:
    """Replace a project's settings. Jobs already enqueued keep their snapshot."""
    current = await visible_project(name)
    if data.name != name:
        raise Unprocessable(
            f"the body names project {data.name!r} but the URL names {name!r}; "
            "projects cannot be renamed",
            field="name",
        )
    spec = keep_secrets(data, current.spec)
    check_remote(spec, caller().is_admin)
    check_recipes(spec)
    row = await context().ledger.write(project_store.replace, spec, time.time())
    assert row is not None
    if spec.schedules or current.spec.schedules:
        await _schedules_changed()
    return ProjectAnswer(project=project_out(row))


@blueprint.delete("/projects/<name>")
@validate_response(Deleted)
async def delete(name: str) -> Deleted:
    """Delete a project with its jobs, findings, patch attempts, logs and clone."""
    await visible_project(name)
    ctx = context()
    await ctx.ledger.write(project_store.delete, name)
    await ctx.runner.tell(ProjectDeleted(project=name))
    return Deleted(deleted=name)
