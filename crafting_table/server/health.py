"""``/healthz``: liveness and the runner's numbers, for the LAN without a token."""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint

from crafting_table import __version__
from crafting_table.errors import CraftingError
from crafting_table.messages import GetStats
from crafting_table.server.app import context

blueprint = Blueprint("health", __name__)

# /healthz must answer fast even when the Runner is busy; past this the
# runner section says so instead of holding the probe.
STATS_TIMEOUT = 0.5


@blueprint.get("/healthz")
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
