"""``/metrics`` in the Prometheus text format, built with prometheus-client.

The figures come from the ledger at scrape time
(:func:`crafting_table.ledger.metrics.figures`, read off the trio thread
like every ledger read) and from the supervisor's snapshot; a one-shot
collector turns them into metric families and the library renders them.
Nothing is counted in process memory except actor restarts, which only
the running process knows.

Families (Prometheus adds ``_total`` to counters and ``_bucket`` /
``_sum`` / ``_count`` to the histogram)::

    crafting_jobs_total{status,recipe}          counter   finished jobs
    crafting_queue_depth                        gauge     queued jobs
    crafting_running_jobs                       gauge     running jobs
    crafting_job_slots                          gauge     CRAFTING_MAX_JOBS
    crafting_job_duration_seconds{recipe}       histogram run time of jobs
    crafting_findings_total{kind}               counter   stored findings
    crafting_patch_attempts{status}             gauge     attempts by status
    crafting_digest_runs{status}                gauge     digest sends
    crafting_actor_restarts_total{actor}        counter   since this start
    crafting_actor_inbox_depth{actor}           gauge     queued messages

The counters never fall: a deleted project's finished jobs and findings
stay counted (see :mod:`crafting_table.ledger.metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from crafting_table.ledger.metrics import DURATION_BUCKETS, LedgerFigures
from crafting_table.models import TERMINAL_STATUSES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot(Collector):
    """Yields the families of one scrape's figures."""

    def __init__(
        self, figures: LedgerFigures, actors: list[dict[str, Any]], slots: int
    ) -> None:
        self.figures = figures
        self.actors = actors
        self.slots = slots

    def collect(self) -> Iterator[Metric]:
        """Every family; see the module docstring."""
        yield from self._jobs()
        yield self._histogram()
        yield _by_label(
            CounterMetricFamily,
            "crafting_findings",
            "Findings stored, by kind.",
            "kind",
            self.figures.findings,
        )
        yield _by_label(
            GaugeMetricFamily,
            "crafting_patch_attempts",
            "Patch attempts by their current status.",
            "status",
            self.figures.patches,
        )
        yield _by_label(
            GaugeMetricFamily,
            "crafting_digest_runs",
            "Digest sends (one per project and date) by status.",
            "status",
            self.figures.digests,
        )
        yield from self._actors()

    def _jobs(self) -> Iterator[Metric]:
        jobs = self.figures.jobs
        finished = CounterMetricFamily(
            "crafting_jobs",
            "Jobs that reached a terminal status, by status and recipe.",
            labels=["status", "recipe"],
        )
        for (status, recipe), count in sorted(jobs.items()):
            if status in TERMINAL_STATUSES:
                finished.add_metric([status, recipe], count)
        yield finished

        def total(status: str) -> int:
            return sum(n for (s, _), n in jobs.items() if s == status)

        yield GaugeMetricFamily(
            "crafting_queue_depth", "Jobs waiting in the queue.", value=total("queued")
        )
        yield GaugeMetricFamily(
            "crafting_running_jobs", "Jobs running now.", value=total("running")
        )
        yield GaugeMetricFamily(
            "crafting_job_slots",
            "Jobs that may run at once (CRAFTING_MAX_JOBS).",
            value=self.slots,
        )

    def _histogram(self) -> Metric:
        family = HistogramMetricFamily(
            "crafting_job_duration_seconds",
            "Run time of finished jobs, from claim to terminal status.",
            labels=["recipe"],
        )
        for recipe, durations in sorted(self.figures.durations.items()):
            buckets = [
                (_bound(b), n)
                for b, n in zip(DURATION_BUCKETS, durations.buckets, strict=True)
            ]
            buckets.append(("+Inf", durations.count))
            family.add_metric([recipe], buckets, durations.total)
        return family

    def _actors(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "crafting_actor_restarts",
            "Restarts of each supervised child since the service started.",
            labels=["actor"],
        )
        depth = GaugeMetricFamily(
            "crafting_actor_inbox_depth",
            "Messages waiting in each actor's inbox.",
            labels=["actor"],
        )
        for child in self.actors:
            restarts.add_metric([str(child["name"])], int(child.get("restarts", 0)))
            if child.get("inbox_depth") is not None:
                depth.add_metric([str(child["name"])], int(child["inbox_depth"]))
        yield restarts
        yield depth


def _bound(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value)}.0"


def _by_label(
    kind: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    label: str,
    values: dict[str, int],
) -> Metric:
    family = kind(name, documentation, labels=[label])
    for key, count in sorted(values.items()):
        family.add_metric([key], count)
    return family


def render(
    figures: LedgerFigures, actors: Iterable[dict[str, Any]], slots: int
) -> bytes:
    """The exposition text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(figures, list(actors), slots))
    return generate_latest(registry)
