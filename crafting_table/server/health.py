"""``/healthz``: liveness and the runner's numbers, for the LAN without a token."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint
from quart_schema import document_response

from crafting_table import __version__
from crafting_table.errors import CraftingError
from crafting_table.messages import GetStats
from crafting_table.server.app import context

blueprint = Blueprint("health", __name__)

# /healthz must answer fast even when the Runner is busy; past this the
# runner section says so instead of holding the probe.
STATS_TIMEOUT = 0.5


class RunnerHealth(BaseModel):
    """The Runner's queue; every figure is null when it did not answer."""

    queued: int | None
    running: int | None
    capacity: int | None
    started: int | None
    finished: int | None
    draining: bool | None
    error: str | None = Field(
        default=None, description="Why the figures are missing, if they are."
    )


class ActorHealth(BaseModel):
    """One supervised actor (or the HTTP front end) and its own figures."""

    name: str
    restarts: int
    inbox_depth: int | None
    last_error: str | None
    actor: dict[str, Any] | None = Field(
        description="The actor's statistics; null while it is not running."
    )


class HealthAnswer(BaseModel):
    """Answer of ``GET /healthz``.

    Sections the service adds by name (``containment``, ``digest``,
    ``patcher``, ...) follow the fields listed here.
    """

    model_config = ConfigDict(extra="allow")

    ok: bool = True
    status: str = Field(description="Always ok: the service answers.")
    version: str
    uptime_secs: float
    runner: RunnerHealth
    actors: list[ActorHealth]


@blueprint.get("/healthz")
@document_response(HealthAnswer)
async def healthz() -> dict[str, Any]:
    """Liveness plus queue and actor statistics."""
    ctx = context()
    try:
        runner: dict[str, Any] = await ctx.runner.ask(GetStats(), timeout=STATS_TIMEOUT)
    except CraftingError as exc:
        runner = {"error": exc.message}
    body: dict[str, Any] = {
        "ok": True,
        "status": "ok",
        "version": __version__,
        "uptime_secs": round(time.time() - ctx.started_at, 1)
        if ctx.started_at
        else 0.0,
        "runner": {
            key: runner.get(key)
            for key in (
                "queued",
                "running",
                "capacity",
                "started",
                "finished",
                "draining",
            )
        }
        | ({"error": runner["error"]} if "error" in runner else {}),
        "actors": ctx.supervision(),
    }
    for name, section in ctx.extra_health.items():
        body[name] = section()
    return body
