"""The GC: keeps the workspace and the logs from growing without end.

Every ``CRAFTING_GC_INTERVAL_SECS`` (hourly by default), or on a ``Tick``:

* worktrees and report folders older than ``CRAFTING_WORKTREE_MAX_AGE_SECS``
  that no running job owns are deleted, then ``git worktree prune``;
* the private refs of patch attempts that ended more than
  ``CRAFTING_WORKTREE_MAX_AGE_SECS`` ago are deleted from the bare clone,
  then its unreachable loose objects of that age (an hour at least) are
  pruned;
* bare clones of projects with no job for ``CRAFTING_CLONE_QUIET_SECS``
  get ``git gc --prune=now``, once per quiet spell;
* folders of projects that no longer exist are deleted, in the workspace
  and what the executor keeps for them (HOME and caches of their recipes);
* with ``CRAFTING_LOG_RETENTION_DAYS`` set, older logs are deleted;
* what a deletion cut short (a kill, a deadline) left in the workspace's
  trash is deleted.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from actors.kernel import Actor
from crafting_table import patchrepo
from crafting_table.config import Settings
from crafting_table.errors import CraftingError
from crafting_table.executor import Executor
from crafting_table.ledger import Ledger
from crafting_table.ledger import patches as patch_store
from crafting_table.messages import Ref, Tick
from crafting_table.workspace import Workspace

logger = logging.getLogger(__name__)

# An hour: far longer than a fetch or a commit takes between writing an
# object and pointing a ref at it (git's own default waits two weeks).
PRUNE_FLOOR_SECS = 3600.0


@dataclass(frozen=True, slots=True)
class GcStatistics:
    """A snapshot for ``/healthz``."""

    name: str
    runs: int
    worktrees_removed: int
    patch_refs_removed: int
    clones_collected: int
    logs_removed: int
    last_run: float | None


class Gc(Actor):
    """Periodic clean-up; see the module docstring."""

    name = "gc"

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        workspace: Workspace,
        runner: Ref,
        executor: Executor | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.ledger = ledger
        self.workspace = workspace
        self.runner = runner
        self.executor = executor
        self.runs = 0
        self.worktrees_removed = 0
        self.patch_refs_removed = 0
        self.clones_collected = 0
        self.logs_removed = 0
        self.last_run: float | None = None
        self._collected: dict[str, float] = {}

    async def started(self) -> None:
        """Start the timer."""
        self.nursery.start_soon(self._timer)

    async def _timer(self) -> None:
        while True:
            await trio.sleep(self.settings.gc_interval_secs)
            await self.collect()

    async def handle(self, message: object) -> Any:
        """Dispatch one message."""
        match message:
            case Tick():
                await self.collect()
                return None
            case _:
                return await super().handle(message)

    def statistics(self) -> GcStatistics:
        """Counters."""
        return GcStatistics(
            name=self.name,
            runs=self.runs,
            worktrees_removed=self.worktrees_removed,
            patch_refs_removed=self.patch_refs_removed,
            clones_collected=self.clones_collected,
            logs_removed=self.logs_removed,
            last_run=self.last_run,
        )

    async def collect(self) -> None:
        """One pass over the workspace and the logs."""
        now = time.time()
        # Listed before the ledger is read: a project's folder is made only
        # once the project is in the ledger, so a project registered during
        # this pass cannot be mistaken for a deleted one.
        kept = await self.executor.kept_projects() if self.executor else []
        projects, running, last_job = await self.ledger.read(_ledger_view)
        for project in self.workspace.projects():
            try:
                if project not in projects:
                    await self._remove_unknown(project, running)
                    continue
                await self._prune_worktrees(project, running, now)
                await self._drop_patch_refs(project, now)
                quiet_since = last_job.get(project, 0.0)
                if now - quiet_since > self.settings.clone_quiet_secs:
                    await self._collect_clone(project, quiet_since)
            except CraftingError as exc:
                logger.warning("gc of project %s failed: %s", project, exc.message)
        await self._forget_unknown(kept, projects, running)
        if self.settings.log_retention_days:
            await self._expire_logs(now - self.settings.log_retention_days * 86400)
        emptied = await self.workspace.empty_trash()
        if emptied:
            logger.info("gc deleted %d folder(s) left in the trash", emptied)
        self.runs += 1
        self.last_run = now

    async def _remove_unknown(self, project: str, running: set[str]) -> None:
        # A project deleted while the service was down leaves its folder;
        # only remove it when no job of that name runs (a race with a new
        # registration of the same name is harmless: it re-clones).
        if not _has_running_job(project, running):
            await self.workspace.remove_project(project)
            logger.info("gc removed the folder of deleted project %s", project)

    async def _forget_unknown(
        self, kept: list[str], projects: set[str], running: set[str]
    ) -> None:
        # Like _remove_unknown, for what the executor keeps per project.
        for project in kept:
            if (
                self.executor is None
                or project in projects
                or _has_running_job(project, running)
            ):
                continue
            await self.executor.forget(project)
            logger.info("gc removed the caches of deleted project %s", project)

    async def _prune_worktrees(
        self, project: str, running: set[str], now: float
    ) -> None:
        folder = self.workspace.project_dir(project)
        removed = 0
        for child in sorted(folder.iterdir()):
            job_id = child.name.removesuffix(".reports")
            if child.name == ".cache" or f"{project}/{job_id}" in running:
                continue
            age = now - child.lstat().st_mtime
            if age < self.settings.worktree_max_age_secs:
                continue
            if child.suffix == ".reports":
                await self.workspace.remove_path(child)
            else:
                await self.workspace.remove_worktree(project, child.name)
            removed += 1
        if removed:
            self.worktrees_removed += removed
            logger.info("gc removed %d stale worktree(s) of %s", removed, project)
        await self.workspace.prune(project)

    async def _drop_patch_refs(self, project: str, now: float) -> None:
        cache = self.workspace.cache_dir(project)
        if not (cache / "HEAD").exists():
            return
        timeout = self.settings.git_timeout_secs
        refs = await patchrepo.private_refs(cache, timeout)
        if not refs:
            return
        # Read after the listing: an attempt's row is written before its
        # ref, so every ref listed has its row in this read, under way if
        # it is (a read first could miss an attempt started in between).
        retention = self.settings.worktree_max_age_secs
        keeping = await self.ledger.read(patch_store.keeping_refs, now - retention)
        ended = [ref for attempt, ref in sorted(refs.items()) if attempt not in keeping]
        if not ended:
            return
        await patchrepo.drop_refs(cache, ended, timeout)
        # Never younger than PRUNE_FLOOR_SECS, whatever the retention: a job's
        # fetch into this clone may have written objects no ref names yet.
        older_than = max(retention, PRUNE_FLOOR_SECS)
        await patchrepo.prune_objects(cache, older_than, timeout)
        self.patch_refs_removed += len(ended)
        logger.info(
            "gc removed %d private ref(s) of ended patch attempts of %s",
            len(ended),
            project,
        )

    async def _collect_clone(self, project: str, quiet_since: float) -> None:
        if self._collected.get(project) == quiet_since:
            return
        await self.workspace.gc(project)
        self._collected[project] = quiet_since
        self.clones_collected += 1
        logger.info("gc collected the quiet clone of %s", project)

    async def _expire_logs(self, cutoff: float) -> None:
        paths = await self.ledger.read(_logs_before, cutoff)
        removed = await trio.to_thread.run_sync(
            _unlink_all, [self.settings.data_dir / p for p in paths]
        )
        self.logs_removed += removed


def _ledger_view(
    conn: sqlite3.Connection,
) -> tuple[set[str], set[str], dict[str, float]]:
    projects = {r[0] for r in conn.execute("SELECT name FROM projects")}
    running = {
        f"{r[0]}/{r[1]}"
        for r in conn.execute(
            "SELECT project_name, id FROM jobs WHERE status IN ('running', 'queued')"
        )
    }
    last = {
        r[0]: float(r[1])
        for r in conn.execute(
            "SELECT project_name, MAX(created_at) FROM jobs GROUP BY project_name"
        )
    }
    return projects, running, last


def _logs_before(conn: sqlite3.Connection, cutoff: float) -> list[str]:
    rows = conn.execute(
        "SELECT log_path FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?",
        (cutoff,),
    )
    return [r[0] for r in rows]


def _unlink_all(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _has_running_job(project: str, running: set[str]) -> bool:
    """Whether ``running`` (``project/job`` keys) holds a job of ``project``."""
    return any(job.startswith(f"{project}/") for job in running)
