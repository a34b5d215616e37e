"""The Runner: a durable job queue and the life of every job.

Jobs live in the ledger; a ``JobQueued`` message only wakes the Runner,
which then claims queued jobs while it has free slots (``CRAFTING_MAX_JOBS``
in all, and a project's ``max_concurrent_jobs``), taking projects in turn so
that one project's burst cannot starve the others. A periodic look at the
queue covers a wake-up that never came.

One job: fetch the project's clone, resolve the commit, add a worktree,
run the recipe through the executor (which confines it: its project's own
identity, control groups and limits where the host has them) with its output
streamed into the log, stop it at its deadline or on cancel (SIGTERM, a
grace period, SIGKILL, then everything the recipe left), hand the finished
job to the Parser, and remove the worktree. A wrap-up that fails or runs
out of time still gives the job a terminal status (without findings), ends
its watchers' wait and frees its slot. The log and the job's error are
masked for the service's secrets and the project's git credentials.
On start the Runner has the executor kill what a dead process of the
service left, and fails the jobs it left ``running``.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from actors.kernel import Actor
from crafting_table import procs
from crafting_table.config import Settings
from crafting_table.errors import CraftingError, GitError, leaves
from crafting_table.executor import Executor, JobLimits, Launch, RecipeProcess
from crafting_table.jobenv import recipe_env
from crafting_table.joblog import LogFeed, LogWriter, file_size
from crafting_table.ledger import Ledger, identities
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow, QueueHead
from crafting_table.messages import (
    CancelJob,
    Drain,
    JobQueued,
    JobStarted,
    ParseJob,
    ProjectDeleted,
    Ref,
    Tick,
    WatchLog,
)
from crafting_table.recipe_ids import ProjectIdentity
from crafting_table.urls import redact_url
from crafting_table.workspace import Remote, Workspace, no_local_repositories

logger = logging.getLogger(__name__)

ORPHAN_LINE = "runner restart, job orphaned"
# The periodic look at the queue; a wake-up message normally comes first.
POLL_INTERVAL = 5.0
# How long the Parser may take before the Runner finishes a job without it.
PARSE_TIMEOUT = 900.0
# How long a job's wrap-up (closing the log, parsing it, its terminal row)
# may take before it is finished without findings.
FINISH_TIMEOUT = PARSE_TIMEOUT + 60.0
# How long a job may take to wrap up and clean up when the Runner itself is
# cancelled.
STOPPING_FINISH = 30.0
# What a job whose wrap-up was cut short gets to record its end.
LAST_WORD_TIMEOUT = 10.0
# After the recipe's shell is gone, how long to wait for the pipe to close
# (processes that escaped the group may still hold it until killed).
DRAIN_TIMEOUT = 5.0
# Reaping the recipe's shell and deleting its worktree and reports: a large
# worktree takes seconds, seldom minutes. What is left when time runs out
# stays in the workspace's trash until the GC's next pass.
CLEANUP_TIMEOUT = 300.0
READ_SIZE = 64 * 1024


@dataclass(slots=True)
class RunningJob:
    """A claimed job and the handles needed to stop it."""

    job: JobRow
    feed: LogFeed
    scope: trio.CancelScope | None = None
    stop_reason: str | None = None
    done: trio.Event = field(default_factory=trio.Event)

    def stop(self, reason: str) -> None:
        """Stop the recipe (if started) and remember why."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.scope is not None:
            self.scope.cancel()


@dataclass(frozen=True, slots=True)
class RunnerStatistics:
    """A snapshot for ``/healthz``."""

    name: str
    capacity: int
    running: int
    queued: int
    started: int
    finished: int
    draining: bool
    executor: str


@dataclass(slots=True)
class RunnerDeps:
    """What the Runner needs from the rest of the service."""

    settings: Settings
    ledger: Ledger
    workspace: Workspace
    executor: Executor
    parser: Ref
    secrets: Callable[[], list[str]] = list
    # Whether an owner's project may clone a local repository, asked at
    # every run: the owner may have lost the right since registering it.
    allow_file: Callable[[str], Awaitable[bool]] = no_local_repositories
    # Told JobStarted for every job claimed (commit status, ...).
    listeners: list[Ref] = field(default_factory=list)


class Runner(Actor):
    """Claims queued jobs and runs them; see the module docstring."""

    name = "runner"

    def __init__(self, deps: RunnerDeps) -> None:
        super().__init__()
        self.deps = deps
        self.settings = deps.settings
        self.running: dict[str, RunningJob] = {}
        self.feeds: dict[str, LogFeed] = {}
        self.draining = False
        self.started_count = 0
        self.finished_count = 0
        self.queued_seen = 0
        self._served: dict[str, int] = {}
        self._turn = 0
        self._dispatch_lock = trio.Lock()

    # -- the actor ---------------------------------------------------------

    async def started(self) -> None:
        """Sweep what a previous process left, then start serving the queue."""
        recovered = await self.deps.executor.recover()
        if recovered:
            logger.info("killed what %d earlier job(s) left running", recovered)
        await self._sweep_stranded()
        self.nursery.start_soon(self._poll)
        await self._dispatch()

    async def handle(self, message: object) -> Any:
        """Dispatch one message."""
        match message:
            case JobQueued() | Tick():
                await self._dispatch()
                return None
            case CancelJob(job_id=job_id, queued_only=queued_only, reason=reason):
                return await self._cancel(job_id, queued_only, reason)
            case WatchLog(job_id=job_id):
                return await self._feed_for(job_id)
            case Drain(grace=grace):
                await self._drain(grace)
                return None
            case ProjectDeleted(project=project):
                self.nursery.start_soon(self._forget_project, project)
                return None
            case _:
                return await super().handle(message)

    def statistics(self) -> RunnerStatistics:
        """Counters and the queue depth last seen."""
        return RunnerStatistics(
            name=self.name,
            capacity=self.settings.max_jobs,
            running=len(self.running),
            queued=self.queued_seen,
            started=self.started_count,
            finished=self.finished_count,
            draining=self.draining,
            executor=self.deps.executor.name,
        )

    async def _poll(self) -> None:
        while True:
            await trio.sleep(POLL_INTERVAL)
            await self._dispatch()

    # -- the queue ---------------------------------------------------------

    async def _dispatch(self) -> None:
        """Claim and start queued jobs while there are free slots."""
        async with self._dispatch_lock:
            while not self.draining and len(self.running) < self.settings.max_jobs:
                running_per_project: dict[str, int] = {}
                for item in self.running.values():
                    name = item.job.project_name
                    running_per_project[name] = running_per_project.get(name, 0) + 1
                job = await self.deps.ledger.write(
                    _claim_next,
                    running_per_project,
                    dict(self._served),
                    secrets.token_hex(16),
                    time.time(),
                )
                if job is None:
                    break
                self._turn += 1
                self._served[job.project_name] = self._turn
                feed = self.feeds.setdefault(job.id, LogFeed(self._log_path(job)))
                entry = RunningJob(job=job, feed=feed)
                self.running[job.id] = entry
                self.started_count += 1
                logger.info("job %s (%s) started", job.id, job.project_name)
                self.nursery.start_soon(self._run, entry, name=f"job:{job.id}")
                # Told from a task of its own: a listener's full inbox must
                # not hold up the queue.
                for listener in self.deps.listeners:
                    started = JobStarted(job.id, job.project_name)
                    self.nursery.start_soon(listener.tell, started)
            self.queued_seen = await self.deps.ledger.read(job_store.queued_count)

    def _log_path(self, job: JobRow) -> Path:
        return self.settings.data_dir / job.log_path

    async def _cancel(self, job_id: str, queued_only: bool, reason: str) -> str | None:
        entry = self.running.get(job_id)
        if entry is not None and queued_only:
            return None
        if entry is not None:
            entry.stop("canceled while running")
            return "canceling"
        row = await self.deps.ledger.write(
            job_store.cancel_queued, job_id, time.time(), reason
        )
        if row is None:
            return None
        feed = self.feeds.pop(job_id, None)
        if feed is not None:
            feed.finish(row.ending())
        logger.info("job %s (%s) %s", job_id, row.project_name, row.error)
        return "canceled"

    async def _feed_for(self, job_id: str) -> LogFeed | None:
        if job_id in self.feeds:
            return self.feeds[job_id]
        row = await self.deps.ledger.read(job_store.get, job_id)
        if row is None or row.status != "queued":
            return None
        # Re-check after the await: the job may have started meanwhile.
        return self.feeds.setdefault(job_id, LogFeed(self._log_path(row)))

    async def _drain(self, grace: float) -> None:
        """Stop claiming; let running jobs finish within ``grace``, then stop them."""
        self.draining = True
        with trio.move_on_after(grace):
            for entry in list(self.running.values()):
                await entry.done.wait()
        for entry in list(self.running.values()):
            entry.stop("service stopped")
        with trio.move_on_after(self.settings.kill_grace_secs + 30):
            for entry in list(self.running.values()):
                await entry.done.wait()

    async def _forget_project(self, project: str) -> None:
        """Stop a deleted project's jobs, then remove its logs and clone."""
        mine = [e for e in self.running.values() if e.job.project_name == project]
        for entry in mine:
            entry.stop("project deleted")
        with trio.move_on_after(self.settings.kill_grace_secs + 30):
            for entry in mine:
                await entry.done.wait()
        await self.deps.workspace.remove_project(project)
        await self.deps.workspace.remove_path(self.settings.logs_dir / project)
        await self.deps.executor.forget(project)
        logger.info("project %s deleted: logs, clone and caches removed", project)

    async def _sweep_stranded(self) -> None:
        for job in await self.deps.ledger.read(job_store.stranded):
            await trio.to_thread.run_sync(_kill_stranded, job)
            path = self._log_path(job)
            writer = LogWriter(path, self.settings.max_log_bytes, [], LogFeed(path))
            await writer.open()
            await writer.line(ORPHAN_LINE)
            await writer.aclose()
            row = await self.deps.ledger.write(
                job_store.finish,
                job.id,
                status="failed",
                exit_code=-1,
                error="the service stopped while the job ran; enqueue it again",
                log_bytes=file_size(path),
                findings_count=0,
                now=time.time(),
            )
            if row is not None:
                logger.info(
                    "job %s (%s) failed: orphaned by a restart",
                    job.id,
                    job.project_name,
                )
            # Its processes are gone, so what it was given goes as after any
            # job, rather than a day later with the GC's stale worktrees.
            workspace = self.deps.workspace
            if workspace.project_dir(job.project_name).is_dir():
                await workspace.remove_worktree(job.project_name, job.id)
                await workspace.remove_path(self._reports_dir(job))

    # -- one job -----------------------------------------------------------

    async def _run(self, entry: RunningJob) -> None:
        job = entry.job
        path = self._log_path(job)
        writer = LogWriter(
            path, self.settings.max_log_bytes, self.deps.secrets(), entry.feed
        )
        outcome = _Outcome()
        try:
            await writer.open()
            await self._prepare_and_execute(entry, writer, outcome)
        except CraftingError as exc:
            outcome.fail(exc.message)
            await _safe_line(writer, f"error: {exc.message}")
        except Exception as exc:
            logger.exception("job %s (%s) broke the runner", job.id, job.project_name)
            outcome.fail(writer.mask(f"internal error: {type(exc).__name__}: {exc}"))
            await _safe_line(writer, f"internal error: {type(exc).__name__}")
        finally:
            # The Runner itself is being cancelled (its supervisor stopping,
            # or a crash elsewhere in it): the Parser may be gone too, so the
            # job is finished without it, and quickly.
            stopping = trio.current_effective_deadline() == -math.inf
            if (
                entry.stop_reason
                and outcome.status == "failed"
                and outcome.exit_code is None
            ):
                outcome.status = "canceled"
                outcome.error = entry.stop_reason
            if outcome.status == "running":
                outcome.status = "failed"
            if outcome.error:
                outcome.error = writer.mask(outcome.error)
            # Shielded: the job must reach a terminal status and lose its
            # worktree even when the Runner itself is being cancelled.
            with trio.CancelScope(shield=True):
                try:
                    budget = STOPPING_FINISH if stopping else math.inf
                    with trio.move_on_after(budget):
                        with trio.move_on_after(FINISH_TIMEOUT):
                            await self._finish(entry, writer, outcome, stopping)
                        with trio.move_on_after(CLEANUP_TIMEOUT):
                            await self._clean_up(job, outcome)
                finally:
                    if entry.feed.final is None:
                        await self._finish_cut_short(entry, writer, outcome)
                    self._release(entry)

    async def _prepare_and_execute(
        self, entry: RunningJob, writer: LogWriter, outcome: _Outcome
    ) -> None:
        job = entry.job
        await writer.line(
            f"job {job.id} project {job.project_name} subproject {job.subproject} "
            f"recipe {job.recipe}"
        )
        project = await self.deps.ledger.read(project_store.get, job.project_name)
        identity = await self._identity(job.project_name)
        if project is None or identity is None:
            raise GitError(f"project {job.project_name!r} was deleted")
        remote = Remote.from_git_url(
            project.spec.git_url, await self.deps.allow_file(project.owner)
        )
        if remote.credentials is not None:
            writer.add_secrets(remote.credentials.secrets())
        await writer.line(f"fetching {redact_url(project.spec.git_url)}")

        with trio.CancelScope() as scope:
            entry.scope = scope
            if entry.stop_reason:
                scope.cancel()
            workspace = self.deps.workspace
            with outcome.step("fetch"):
                await workspace.sync(job.project_name, remote)
            ref = job.ref if job.sha is None else None
            if job.sha is None and ref is None:
                ref = project.spec.default_branch
            worktree = workspace.worktree_dir(job.project_name, job.id)
            workdir = worktree if job.subproject == "." else worktree / job.subproject
            reports = self._reports_dir(job)
            await trio.to_thread.run_sync(
                lambda: reports.mkdir(parents=True, exist_ok=True)
            )
            outcome.workdir, outcome.reports = workdir, reports
            # From here the job has a worktree to delete, however it ends
            # (a commit without the subproject's folder, a checkout cut short).
            outcome.worktree = worktree
            env = recipe_env(
                passthrough=self.settings.recipe_env,
                cache_dir=self.settings.cache_dir,
                job={
                    "CRAFTING_JOB_ID": job.id,
                    "CRAFTING_PROJECT": job.project_name,
                    "CRAFTING_SUBPROJECT": job.subproject,
                    "CRAFTING_RECIPE": job.recipe,
                    "CRAFTING_REF": ref or "",
                    "CRAFTING_REPORTS": str(reports),
                },
            )
            # The recipe's confinement is made ready while the commit is
            # checked out: both take tens of milliseconds, neither needs
            # the other.
            launch: list[Launch] = []
            try:
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(
                            self._ready,
                            job,
                            identity,
                            workdir,
                            env,
                            [worktree, reports],
                            launch,
                        )
                        with outcome.step("checkout"):
                            _, sha = await workspace.checkout(
                                job.project_name, job.id, remote, ref=ref, sha=job.sha
                            )
                except BaseExceptionGroup as group:
                    raise _first_error(group) from None
                outcome.sha = sha
                await writer.line(f"commit {sha}" + (f" ({ref})" if ref else ""))
                if not await trio.to_thread.run_sync(workdir.is_dir):
                    raise GitError(
                        f"subproject folder {job.subproject!r} does not exist "
                        f"at commit {sha[:12]}"
                    )
                await writer.line(f"$ {job.command}")
            except BaseException:
                for ready in launch:
                    await ready.abort()
                raise
            await self._execute(entry, writer, outcome, launch[0])
            return
        # Cancelled before the recipe started.
        outcome.status, outcome.error = "canceled", entry.stop_reason

    def _reports_dir(self, job: JobRow) -> Path:
        return self.deps.workspace.project_dir(job.project_name) / f"{job.id}.reports"

    async def _identity(self, project: str) -> ProjectIdentity | None:
        """The project's recipe identity; its slot is given on its first job."""
        slot = await self.deps.ledger.read(identities.slot, project)
        if slot is None:
            slot = await self.deps.ledger.write(identities.assign, project)
        return None if slot is None else ProjectIdentity(project, slot)

    async def _ready(
        self,
        job: JobRow,
        identity: ProjectIdentity,
        workdir: Path,
        env: dict[str, str],
        owned: list[Path],
        into: list[Launch],
    ) -> None:
        with_clone = [self.deps.workspace.cache_dir(job.project_name)]
        into.append(
            await self.deps.executor.prepare(
                job.command,
                cwd=workdir,
                env=env,
                mark=job.kill_mark or secrets.token_hex(16),
                limits=_limits(job),
                owned=owned,
                shared=with_clone,
                project=identity,
            )
        )

    async def _execute(
        self,
        entry: RunningJob,
        writer: LogWriter,
        outcome: _Outcome,
        launch: Launch,
    ) -> None:
        job = entry.job
        with outcome.step("start"):
            process = await launch.go({"CRAFTING_SHA": outcome.sha or ""})
        await self.deps.ledger.write(
            job_store.record_process,
            job.id,
            outcome.sha,
            process.pid,
            process.start_time,
        )
        outcome.sha_recorded = True
        started = time.monotonic()
        code: int | None = None
        try:
            async with trio.open_nursery() as nursery:
                pump_done = trio.Event()
                nursery.start_soon(_pump, process, writer, pump_done)
                # From here a stop ends only this wait, as the deadline does:
                # the recipe is stopped gracefully while its output is still
                # read into the log.
                with trio.CancelScope() as waiting:
                    entry.scope = waiting
                    if entry.stop_reason:
                        waiting.cancel()
                    with trio.move_on_after(job.timeout_secs) as deadline:
                        code = await process.wait()
                if code is None:
                    if deadline.cancelled_caught:
                        reason = "timed_out"
                        why = f"deadline of {job.timeout_secs} s reached"
                    else:
                        reason, why = "canceled", entry.stop_reason or "canceled"
                    await _safe_line(writer, f"{why}; stopping the recipe (SIGTERM)")
                    code = await self._stop(process, writer)
                    outcome.status = reason
                    if reason == "canceled":
                        outcome.error = entry.stop_reason
                with outcome.step("clean-up"):
                    await self._kill_leftovers(job, process, writer)
                with trio.move_on_after(DRAIN_TIMEOUT):
                    await pump_done.wait()
                nursery.cancel_scope.cancel()
        finally:
            if code is None:
                # Cancelled from outside (cancel request, shutdown, or the
                # Runner crashing): nothing the recipe started may survive.
                with trio.CancelScope(shield=True), trio.move_on_after(30):
                    code = await self._stop(process, writer)
                    await self._kill_leftovers(job, process, writer)
                    outcome.status = "canceled"
            # The job's control groups go, and its folders return to the
            # service, once its terminal status is written (see _finish):
            # nothing is left running, and that clean-up is not the
            # caller's wait.
            outcome.process = process
            outcome.exit_code = _exit_status(code) if code is not None else None
            outcome.seconds = time.monotonic() - started
        if outcome.status == "running":
            outcome.status = "succeeded" if code == 0 else "failed"

    async def _stop(self, process: RecipeProcess, writer: LogWriter) -> int:
        """SIGTERM the group, wait the grace period, then SIGKILL."""
        grace = self.settings.kill_grace_secs
        process.terminate()
        with trio.move_on_after(grace):
            return await process.wait()
        # Said in the log: otherwise the wait looks like the service's own.
        await _safe_line(writer, f"still running {grace:g} s after SIGTERM: SIGKILL")
        process.kill()
        return await process.wait()

    async def _kill_leftovers(
        self, job: JobRow, process: RecipeProcess, writer: LogWriter
    ) -> None:
        killed = await process.kill_leftovers()
        if killed:
            logger.info(
                "job %s (%s): killed %d leftover processes",
                job.id,
                job.project_name,
                len(killed),
            )
            await _safe_line(
                writer, f"killed {len(killed)} process(es) the recipe left running"
            )

    async def _finish(
        self,
        entry: RunningJob,
        writer: LogWriter,
        outcome: _Outcome,
        stopping: bool,
    ) -> None:
        """Close the log, parse it, give the job its terminal row, tell watchers."""
        job = entry.job
        if entry.stop_reason == "service stopped" and outcome.status == "canceled":
            await _safe_line(writer, "the service stopped; job canceled")
        await _safe_line(writer, _footer(outcome, writer))
        await writer.aclose()
        log_bytes = file_size(self._log_path(job))
        if outcome.sha and not outcome.sha_recorded:
            await self.deps.ledger.write(job_store.record_sha, job.id, outcome.sha)

        final: JobRow | None = None
        unparsed: str | None = None
        if stopping:
            # Not a parser failure: the job's own story is the shutdown.
            unparsed = "service stopped at once; findings not parsed"
        else:
            try:
                final = await self.deps.parser.ask(
                    ParseJob(
                        job=job,
                        status=outcome.status,
                        exit_code=outcome.exit_code,
                        error=outcome.error,
                        log_bytes=log_bytes,
                        workdir=outcome.workdir,
                        reports_dir=outcome.reports,
                        secrets=writer.secrets,
                    ),
                    timeout=PARSE_TIMEOUT,
                )
            except CraftingError as exc:
                logger.warning(
                    "job %s (%s): parser failed: %s", job.id, job.project_name, exc
                )
                unparsed = f"findings could not be parsed: {exc.message}"
        if unparsed is not None:
            final = await self._record_end(job, outcome, unparsed, log_bytes)

        logger.info(
            "job %s (%s) %s exit=%s findings=%d",
            job.id,
            job.project_name,
            outcome.status,
            outcome.exit_code,
            final.findings_count if final else 0,
        )
        entry.feed.finish(final.ending() if final else {"status": outcome.status})

    async def _finish_cut_short(
        self, entry: RunningJob, writer: LogWriter, outcome: _Outcome
    ) -> None:
        """End a job whose wrap-up ran out of time or failed, without parsing.

        Never raises: it runs while an error may be on its way out, and the
        job's watchers must be told the job has ended whatever happens here.
        """
        job = entry.job
        logger.warning(
            "job %s (%s): wrap-up cut short; finishing without findings",
            job.id,
            job.project_name,
        )
        final: JobRow | None = None
        with trio.move_on_after(LAST_WORD_TIMEOUT):
            try:
                await writer.aclose()
                final = await self._record_end(
                    job,
                    outcome,
                    "the job's wrap-up was cut short; findings not parsed",
                    file_size(self._log_path(job)),
                )
                if final is None:
                    final = await self.deps.ledger.read(job_store.get, job.id)
            except Exception:
                logger.exception(
                    "job %s (%s): could not record its end", job.id, job.project_name
                )
        entry.feed.finish(final.ending() if final else {"status": outcome.status})

    async def _record_end(
        self, job: JobRow, outcome: _Outcome, unparsed: str, log_bytes: int
    ) -> JobRow | None:
        """The job's terminal row, with no findings; None if it already had one."""
        return await self.deps.ledger.write(
            job_store.finish,
            job.id,
            status=outcome.status,
            exit_code=outcome.exit_code,
            error=outcome.error or unparsed,
            log_bytes=log_bytes,
            findings_count=0,
            now=time.time(),
        )

    async def _clean_up(self, job: JobRow, outcome: _Outcome) -> None:
        """Reap the recipe's shell, delete the worktree and the reports."""
        if outcome.process is not None:
            await outcome.process.aclose()
        if outcome.worktree is not None:
            await self.deps.workspace.remove_worktree(job.project_name, job.id)
        await self.deps.workspace.remove_path(self._reports_dir(job))

    def _release(self, entry: RunningJob) -> None:
        """Give the job's slot to the next one; runs however the job ended."""
        self.running.pop(entry.job.id, None)
        self.feeds.pop(entry.job.id, None)
        self.finished_count += 1
        entry.done.set()
        self.nursery.start_soon(self._dispatch)


@dataclass(slots=True)
class _Outcome:
    status: str = "running"
    exit_code: int | None = None
    error: str | None = None
    seconds: float | None = None
    workdir: Path | None = None
    reports: Path | None = None
    worktree: Path | None = None
    sha: str | None = None
    sha_recorded: bool = False
    process: RecipeProcess | None = None
    steps: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step of the job for the log's last line."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps.append((name, time.monotonic() - started))

    def fail(self, error: str) -> None:
        if self.status == "running":
            self.status = "failed"
        self.error = self.error or error


async def _pump(process: RecipeProcess, writer: LogWriter, done: trio.Event) -> None:
    """Copy the recipe's output into the log until the pipe closes."""
    try:
        while True:
            data = await process.output.receive_some(READ_SIZE)
            if not data:
                break
            await writer.output(data)
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass
    finally:
        with trio.CancelScope(shield=True):
            await writer.flush_output()
        done.set()


async def _safe_line(writer: LogWriter, text: str) -> None:
    try:
        await writer.line(text)
    except (OSError, AssertionError):
        logger.warning("could not write to the log %s", writer.path)


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """What to report of a group of errors: ours first, else the first one.

    A group holding a cancellation is passed on whole, so that trio sees it.
    """
    found = leaves(group)
    if any(isinstance(error, trio.Cancelled) for error in found):
        return group
    ours = [error for error in found if isinstance(error, CraftingError)]
    return (ours or found)[0]


def _exit_status(code: int) -> int:
    # trio reports death by signal N as -N; shells say 128 + N, and so do we,
    # so that a client can exit with the job's status.
    return 128 - code if code < 0 else code


def _footer(outcome: _Outcome, writer: LogWriter) -> str:
    parts = [f"{outcome.status}"]
    if outcome.exit_code is not None:
        parts.append(f"exit {outcome.exit_code}")
    if outcome.seconds is not None:
        parts.append(f"after {outcome.seconds:.2f} s")
    line = " ".join(parts)
    if writer.dropped:
        line += f", {writer.dropped} bytes of output dropped"
    if outcome.steps:
        line += "; " + ", ".join(f"{name} {secs:.3f} s" for name, secs in outcome.steps)
    return line


def _limits(job: JobRow) -> JobLimits:
    """The limits the job's subproject asked for when it was enqueued."""
    asked = job.snapshot.get("limits")
    if not isinstance(asked, dict):
        return JobLimits()
    memory, pids = asked.get("memory_mb"), asked.get("pids")
    return JobLimits(
        memory_mb=memory if isinstance(memory, int) else None,
        pids=pids if isinstance(pids, int) else None,
    )


def _kill_stranded(job: JobRow) -> None:
    if job.pgid is not None:
        procs.kill_recorded_group(job.pgid, job.proc_start)
    if job.kill_mark:
        procs.kill_marked(job.kill_mark)


def _claim_next(
    conn: Any,
    running: dict[str, int],
    served: dict[str, int],
    mark: str,
    now: float,
) -> JobRow | None:
    """Pick the next job (projects in turn, limits respected) and claim it.

    Runs inside one write transaction, so the choice and the claim see the
    same queue.
    """
    heads: list[QueueHead] = job_store.queue_heads(conn)
    eligible = [
        h for h in heads if h.limit is None or running.get(h.project, 0) < h.limit
    ]
    # Least recently served project first; among never-served ones (and
    # ties) the one whose job has waited longest.
    eligible.sort(key=lambda h: (served.get(h.project, 0), h.job_id))
    for head in eligible:
        job = job_store.claim(conn, head.job_id, mark, now)
        if job is not None:
            return job
    return None
