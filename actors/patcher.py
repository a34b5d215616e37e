"""The Patcher: drafts a fix for a finding, verifies it, opens a pull request.

Two ways in. After every parsed job (``JobParsed``) of a project with
``notify.auto_patch``, except verify jobs, the Patcher picks the job's most
severe actionable finding that automatic attempts have not settled yet
(see :mod:`crafting_table.patchpick`). ``PatchRequest`` (the API's manual
trigger) names a finding or lets it pick the same way. Either starts an
attempt; every attempt runs as a task of its own, so the inbox keeps
moving while agents think and verify jobs run.

One attempt, carried out by
:class:`~crafting_table.patchattempt.PatchAttempt` (statuses in brackets)::

    [drafting]  fresh worktree at the job's commit; the finding, the source
                around it and the project's facts go to the agent in one
                turn; its reply must hold {diff, explanation, confidence}
                -> failed when the agent fails or answers garbage
                paths checked (subproject, .git, symlinks), git apply
                --check, apply, commit, keep the commit under a private ref
                -> apply_failed
    [verifying] the patch policy (size, tests, skip markers, lint config),
                then the same recipe runs on the commit as a job of its own
                (trigger "verify"); its end is heard through JobParsed or
                read from the ledger; findings are compared by identity
                -> verify_failed
    [pushing]   push <commit>:refs/heads/<prefix><job>-<finding>, open the
                pull request (reusing an open one for the branch)
                -> failed on a git or forge error
    [pr_opened] with the pull request's URL. Nothing is merged.

Attempts left under way by a previous process are failed on start. With
any of the four required settings missing the Patcher is off: it ignores
jobs and refuses requests with a 503 naming what is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from actors.kernel import Actor
from crafting_table.agent import Agent, AgentHost
from crafting_table.config import Settings
from crafting_table.errors import (
    ApiError,
    ApplyFailed,
    Conflict,
    CraftingError,
    NotConfigured,
    NotFound,
    Unprocessable,
    VerifyFailed,
)
from crafting_table.forge import Forge, Gitea
from crafting_table.ledger import Ledger
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import patches as patch_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.findings import FindingRow
from crafting_table.ledger.jobs import JobRow
from crafting_table.ledger.patches import PatchRow
from crafting_table.ledger.projects import ProjectRow
from crafting_table.messages import (
    CancelJob,
    JobParsed,
    PatchDrafted,
    PatchRequest,
    Ref,
)
from crafting_table.models import TERMINAL_STATUSES
from crafting_table.patchattempt import AttemptDeps, PatchAttempt
from crafting_table.patchpick import actionable, choose
from crafting_table.urls import check_ref
from crafting_table.workspace import Remote, Workspace, no_local_repositories

logger = logging.getLogger(__name__)

# Jobs whose findings a patch may start from: a timed-out or canceled job
# reported only part of what its tool would have.
PATCHABLE_STATUSES = ("succeeded", "failed")
# Attempts running at once; each holds a worktree and an agent session,
# and its verify job takes a Runner slot.
MAX_PARALLEL_ATTEMPTS = 4
# How long a verify job may wait in the queue on top of its recipe's own
# deadline before the attempt gives up on it.
VERIFY_QUEUE_ALLOWANCE = 3600.0
# How often the ledger is read while a verify job runs, in case its
# JobParsed never comes (the Parser timed out, the Patcher restarted).
VERIFY_POLL = 2.0
NOTIFY_TIMEOUT = 5.0
CANCEL_TIMEOUT = 30.0
ABANDONED = "the patch loop stopped while the attempt was under way; trigger it again"


@dataclass(frozen=True, slots=True)
class PatcherStatistics:
    """A snapshot for ``/healthz``."""

    name: str
    handled: int
    failed: int
    enabled: bool
    missing: tuple[str, ...]
    jobs_heard: int
    attempts_started: int
    running: int
    outcomes: dict[str, int]


@dataclass(slots=True)
class PatcherDeps:
    """What the Patcher needs; ``agent`` and ``forge`` are None when it is off."""

    settings: Settings
    ledger: Ledger
    workspace: Workspace
    runner: Ref
    notifier: Ref | None = None
    agent: Agent | None = None
    forge: Forge | None = None
    # Whether an owner's project may clone a local repository, asked at
    # every run: the owner may have lost the right since registering it.
    allow_file: Callable[[str], Awaitable[bool]] = no_local_repositories


def clients(settings: Settings) -> tuple[Agent | None, Forge | None]:
    """The agent and forge clients the settings describe (None when unset)."""
    if settings.patcher_missing():
        return None, None
    agent_token, forge_token = settings.clawdforge_token, settings.gitea_token
    agent = AgentHost(
        str(settings.clawdforge_url),
        agent_token.get_secret_value() if agent_token else "",
        timeout=settings.patcher_agent_timeout_secs,
    )
    forge = Gitea(
        str(settings.gitea_url),
        forge_token.get_secret_value() if forge_token else "",
        timeout=settings.patcher_forge_timeout_secs,
    )
    return agent, forge


def health(patcher: Patcher | None, settings: Settings) -> dict[str, Any]:
    """The ``patcher`` section of ``/healthz``: on or off, why, and counters."""
    missing = settings.patcher_missing()
    section: dict[str, Any] = {"enabled": not missing, "missing": missing}
    if missing:
        section["reason"] = f"the patch loop is off: set {', '.join(missing)}"
    if patcher is not None:
        stats = patcher.statistics()
        section.update(
            jobs_heard=stats.jobs_heard,
            attempts_started=stats.attempts_started,
            running=stats.running,
            outcomes=stats.outcomes,
        )
    return section


class Patcher(Actor):
    """The autonomous patch loop; see the module docstring."""

    name = "patcher"

    def __init__(self, deps: PatcherDeps) -> None:
        super().__init__()
        self.deps = deps
        self.settings = deps.settings
        self.ledger = deps.ledger
        self.missing = tuple(self.settings.patcher_missing())
        self.jobs_heard = 0
        self.attempts_started = 0
        self.outcomes: dict[str, int] = {}
        self._running: set[int] = set()
        self._job_ended: dict[str, trio.Event] = {}
        self._slots = trio.CapacityLimiter(MAX_PARALLEL_ATTEMPTS)

    @property
    def enabled(self) -> bool:
        """True when every setting is there and both clients exist."""
        return not self.missing and None not in (self.deps.agent, self.deps.forge)

    async def started(self) -> None:
        """Fail the attempts a previous incarnation left under way."""
        count = await self.ledger.write(
            patch_store.abandon_unfinished, ABANDONED, time.time()
        )
        if count:
            logger.warning("%d patch attempt(s) left under way were failed", count)

    async def handle(self, message: object) -> Any:
        """Dispatch one message."""
        match message:
            case JobParsed():
                await self._job_parsed(message)
                return None
            case PatchRequest():
                return await self._request(message)
            case _:
                return await super().handle(message)

    def statistics(self) -> PatcherStatistics:
        """Counters and the attempts under way."""
        return PatcherStatistics(
            name=self.name,
            handled=self.handled,
            failed=self.failed,
            enabled=self.enabled,
            missing=self.missing,
            jobs_heard=self.jobs_heard,
            attempts_started=self.attempts_started,
            running=len(self._running),
            outcomes=dict(self.outcomes),
        )

    # -- starting attempts -------------------------------------------------

    async def _job_parsed(self, message: JobParsed) -> None:
        self.jobs_heard += 1
        ended = self._job_ended.get(message.job_id)
        if ended is not None:
            ended.set()
        if not self.enabled:
            return
        job = await self.ledger.read(job_store.get, message.job_id)
        if (
            job is None
            or job.trigger == "verify"
            or job.status not in PATCHABLE_STATUSES
            or job.sha is None
        ):
            return
        project = await self.ledger.read(project_store.get, job.project_name)
        if project is None or not project.spec.notify.auto_patch:
            return
        limit = self.settings.patcher_max_attempts
        findings = await self.ledger.read(finding_store.for_job, job.id)
        attempts = await self.ledger.read(patch_store.attempts_by_finding, job.id)
        settled = await self.ledger.read(
            patch_store.settled_identities, job.project_name, limit
        )
        chosen = choose(
            findings, attempts=attempts, max_attempts=limit, skip_identities=settled
        )
        if chosen is None:
            logger.debug("job %s (%s): nothing to patch", job.id, job.project_name)
            return
        try:
            await self._start(job, project, chosen)
        except ApiError as exc:
            logger.info(
                "job %s (%s): no patch attempt: %s",
                job.id,
                job.project_name,
                exc.message,
            )

    async def _request(self, message: PatchRequest) -> int | ApiError:
        try:
            return await self._requested(message)
        except ApiError as exc:
            return exc

    async def _requested(self, message: PatchRequest) -> int:
        if not self.enabled:
            raise NotConfigured(
                f"the patch loop is off: set {', '.join(self.missing)}",
                missing=list(self.missing),
            )
        job = await self.ledger.read(job_store.get, message.job_id)
        if job is None:
            raise NotFound(f"no job with id {message.job_id!r}")
        if job.trigger == "verify":
            raise Conflict(
                f"job {job.id!r} is the verify run of a patch; patch the job it "
                "verified instead"
            )
        if job.status not in PATCHABLE_STATUSES or job.sha is None:
            raise Conflict(
                f"job {job.id!r} is {job.status!r}; patches start from a job "
                "that ran to the end (succeeded or failed)"
            )
        project = await self.ledger.read(project_store.get, job.project_name)
        if project is None:
            raise NotFound(f"no job with id {message.job_id!r}")
        limit = self.settings.patcher_max_attempts
        if message.finding_id is not None:
            finding = await self.ledger.read(finding_store.get, message.finding_id)
            if finding is None or finding.job_id != job.id:
                raise Unprocessable(
                    f"finding {message.finding_id} is not a finding of job "
                    f"{job.id!r}; list them at /jobs/{job.id}/findings",
                    field="finding_id",
                )
            if not actionable(finding):
                raise Unprocessable(
                    f"finding {finding.id} is a {finding.kind!r} finding the patch "
                    "loop cannot act on; it takes a lint with a file and line, "
                    "or a CVE with a known fix",
                    field="finding_id",
                )
        else:
            findings = await self.ledger.read(finding_store.for_job, job.id)
            attempts = await self.ledger.read(patch_store.attempts_by_finding, job.id)
            chosen = choose(findings, attempts=attempts, max_attempts=limit)
            if chosen is None:
                raise Conflict(
                    f"job {job.id!r} has no actionable finding below the limit "
                    f"of {limit} attempts (CRAFTING_PATCHER_MAX_ATTEMPTS)"
                )
            finding = chosen
        row = await self._start(job, project, finding)
        return row.id

    async def _start(
        self, job: JobRow, project: ProjectRow, finding: FindingRow
    ) -> PatchRow:
        """Record the attempt and start its task; raises ApiError when refused."""
        branch = f"{self.settings.patcher_branch_prefix}{job.id[-8:]}-{finding.id}"
        try:
            check_ref(branch)
        except ValueError as exc:
            raise Conflict(
                f"branch {branch!r} is not a valid name ({exc}); fix "
                "CRAFTING_PATCHER_BRANCH_PREFIX"
            ) from exc
        row = await self.ledger.write(
            patch_store.start,
            finding_id=finding.id,
            job_id=job.id,
            project=project.name,
            owner=job.owner,
            branch=branch,
            max_attempts=self.settings.patcher_max_attempts,
            now=time.time(),
        )
        self.attempts_started += 1
        self._running.add(row.id)
        logger.info(
            "patch attempt %d (job %s, %s) drafting for finding %d, attempt %d",
            row.id,
            job.id,
            project.name,
            finding.id,
            row.attempt_number,
        )
        self.nursery.start_soon(
            self._attempt, row, job, project, finding, name=f"patch:{row.id}"
        )
        return row

    # -- one attempt -------------------------------------------------------

    async def _attempt(
        self, row: PatchRow, job: JobRow, project: ProjectRow, finding: FindingRow
    ) -> None:
        attempt: PatchAttempt | None = None
        try:
            async with self._slots:
                remote = Remote.from_git_url(
                    project.spec.git_url, await self.deps.allow_file(project.owner)
                )
                attempt = PatchAttempt(
                    self._attempt_deps(), row, job, project, finding, remote
                )
                pr_url = await attempt.run()
        except ApplyFailed as exc:
            await self._end(row, attempt, "apply_failed", exc.message)
        except VerifyFailed as exc:
            await self._end(row, attempt, "verify_failed", exc.message)
        except CraftingError as exc:
            await self._end(row, attempt, "failed", exc.message)
        except Exception as exc:
            # The attempt stops here; the actor and other attempts go on.
            logger.exception("patch attempt %d broke", row.id)
            await self._end(
                row, attempt, "failed", f"internal error: {type(exc).__name__}: {exc}"
            )
        else:
            await self._end(row, attempt, "pr_opened", None, pr_url=pr_url)
        finally:
            self._running.discard(row.id)

    def _attempt_deps(self) -> AttemptDeps:
        assert self.deps.agent is not None
        assert self.deps.forge is not None
        return AttemptDeps(
            settings=self.settings,
            ledger=self.ledger,
            workspace=self.deps.workspace,
            runner=self.deps.runner,
            agent=self.deps.agent,
            forge=self.deps.forge,
            wait_for_job=self._wait_for,
        )

    async def _wait_for(self, job: JobRow) -> JobRow:
        """The verify job once it ended; a JobParsed wakes this early."""
        ended = self._job_ended.setdefault(job.id, trio.Event())
        limit = job.timeout_secs + VERIFY_QUEUE_ALLOWANCE
        try:
            with trio.move_on_after(limit):
                while True:
                    row = await self.ledger.read(job_store.get, job.id)
                    if row is None:
                        raise CraftingError(f"verify job {job.id} vanished")
                    if row.status in TERMINAL_STATUSES:
                        return row
                    with trio.move_on_after(VERIFY_POLL):
                        await ended.wait()
        finally:
            self._job_ended.pop(job.id, None)
        try:
            await self.deps.runner.ask(CancelJob(job_id=job.id), timeout=CANCEL_TIMEOUT)
        except CraftingError as exc:
            logger.warning("verify job %s not canceled: %s", job.id, exc.message)
        raise CraftingError(
            f"verify job {job.id} did not end within {limit:.0f} s; it was canceled"
        )

    async def _end(
        self,
        row: PatchRow,
        attempt: PatchAttempt | None,
        status: str,
        error: str | None,
        **fields: object,
    ) -> None:
        """Give the attempt its final status and tell the Notifier of a draft."""
        ended = await self.ledger.write(
            patch_store.advance,
            row.id,
            status=status,
            now=time.time(),
            error=error,
            **fields,
        )
        self.outcomes[status] = self.outcomes.get(status, 0) + 1
        logger.info(
            "patch attempt %d (job %s, %s) %s%s",
            row.id,
            row.job_id,
            row.project_name,
            status,
            f": {error}" if error else "",
        )
        drafted = attempt is not None and attempt.draft is not None
        notifier = self.deps.notifier
        if ended is not None and drafted and notifier is not None:
            with trio.move_on_after(NOTIFY_TIMEOUT):
                await notifier.tell(
                    PatchDrafted(attempt_id=row.id, project=row.project_name)
                )
