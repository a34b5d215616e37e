"""``/metrics``: Prometheus figures for the LAN, without a token like /healthz."""

from __future__ import annotations

from quart import Blueprint, Response

from crafting_table.ledger import metrics as metric_store
from crafting_table.metrics import CONTENT_TYPE, render
from crafting_table.server.app import context
from crafting_table.server.openapi import document_answer

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
@document_answer(
    200,
    "The figures in the Prometheus text exposition format 0.0.4.",
    content={"text/plain": {"schema": {"type": "string"}}},
)
async def metrics() -> Response:
    """Jobs, queue, durations, findings, patches, digests and actor restarts.

    The Prometheus text format; the families are listed in the module
    ``crafting_table.metrics``. Counts come from the ledger at scrape time,
    so they survive restarts.
    """
    ctx = context()
    figures = await ctx.ledger.read(metric_store.figures)
    body = render(figures, ctx.supervision(), ctx.settings.max_jobs)
    return Response(body, status=200, content_type=CONTENT_TYPE)
