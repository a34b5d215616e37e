"""Who may see what: owners see their own, admins see all, others get 404.

Another owner's object answers exactly as a missing one (same status, same
body, and the same ledger reads), so probing cannot tell them apart.
"""

from __future__ import annotations

from quart import g

from crafting_table.errors import Forbidden, NotFound, Unauthorized
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.ledger.projects import ProjectRow
from crafting_table.ledger.tokens import TokenRow
from crafting_table.server.app import context


def caller() -> TokenRow:
    """The token of the current request."""
    token: TokenRow | None = g.get("token")
    if token is None:
        raise Unauthorized("no bearer token; send 'Authorization: Bearer <token>'")
    return token


def require_admin() -> TokenRow:
    """The caller, who must be an admin."""
    token = caller()
    if not token.is_admin:
        raise Forbidden(f"token {token.name!r} is not an admin token; ask an admin")
    return token


def owner_filter() -> str | None:
    """The owner to filter lists by: None for an admin (sees all)."""
    token = caller()
    return None if token.is_admin else token.name


def _visible(owner: str) -> bool:
    token = caller()
    return token.is_admin or owner == token.name


async def visible_project(name: str) -> ProjectRow:
    """The project ``name`` if the caller may see it, else :class:`NotFound`."""
    row = await context().ledger.read(project_store.get, name)
    if row is None or not _visible(row.owner):
        raise NotFound(f"no project named {name!r}")
    return row


async def visible_job(job_id: str) -> JobRow:
    """The job ``job_id`` if the caller may see it, else :class:`NotFound`."""
    row = await context().ledger.read(job_store.get, job_id)
    if row is None or not _visible(row.owner):
        raise NotFound(f"no job with id {job_id!r}")
    return row
