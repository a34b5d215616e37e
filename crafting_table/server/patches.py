"""``/jobs/{id}/patches`` and ``/patches``: the patch loop's attempts."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from crafting_table.errors import NotConfigured
from crafting_table.server.access import visible_job
from crafting_table.server.app import context

blueprint = Blueprint("patches", __name__)


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
