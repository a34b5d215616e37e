"""The StatusReporter: posts each job's state to its commit on the forge.

It hears ``JobStarted`` from the Runner and ``JobParsed`` from the Parser
and follows each job in a task of its own, so the Runner and the Parser
never wait on a forge: a forge that is slow, down or refusing costs a job
nothing. A follower posts ``pending`` once the job runs and its commit is
known (at once for a push, after the fetch for a branch), then the final
state when the job has ended; see :mod:`crafting_table.commit_status`.

A post that fails on the network, a 5xx or a 429 is retried with doubling
back-off, :data:`ATTEMPTS` times in all; other refusals (a bad token, an
unknown repository) are logged once. The final post waits for the pending
one, so the forge never ends up showing ``pending`` over a finished job.
A job that ended before it started (canceled while queued) posts nothing,
and neither does the patch loop's verify run, whose commit is not pushed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import trio

from actors.kernel import Actor
from crafting_table import commit_status
from crafting_table.commit_status import State, StatusTarget
from crafting_table.config import Settings
from crafting_table.errors import CraftingError, ForgeError
from crafting_table.ledger import Ledger
from crafting_table.ledger import jobs as job_store
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.messages import JobParsed, JobStarted
from crafting_table.models import TERMINAL_STATUSES

logger = logging.getLogger(__name__)

VERIFY_TRIGGER = "verify"
ATTEMPTS = 5
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 60.0
# How often a follower looks at the ledger while the job's commit is not
# known yet, and, once it is, how often it checks for an end it was not
# told of (a job whose parsing failed is finished by the Runner itself).
SHA_POLL = 1.0
END_POLL = 30.0
# Beyond the job's own deadline: the fetch, the parsing, a slow machine.
FOLLOW_MARGIN = 3600.0
# Jobs already reported, remembered so that a JobParsed arriving after its
# follower saw the end in the ledger does not report the job twice.
REMEMBERED = 4096


@dataclass(slots=True)
class _Followed:
    ended: trio.Event = field(default_factory=trio.Event)


@dataclass(frozen=True, slots=True)
class StatusStatistics:
    """A snapshot for ``/healthz``."""

    name: str
    handled: int
    failed: int
    following: int
    posted: int
    failures: int
    given_up: int


class StatusReporter(Actor):
    """Posts commit statuses; see the module docstring."""

    name = "statuses"

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        *,
        backoff: float = BACKOFF_INITIAL,
        attempts: int = ATTEMPTS,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.ledger = ledger
        self.backoff = backoff
        self.attempts = attempts
        self.following: dict[str, _Followed] = {}
        self._reported: dict[str, None] = {}
        self.posted = 0
        self.failures = 0
        self.given_up = 0

    async def handle(self, message: object) -> Any:
        """Dispatch one message."""
        match message:
            case JobStarted(job_id=job_id):
                self._follow(job_id)
                return None
            case JobParsed(job_id=job_id):
                self._follow(job_id).ended.set()
                return None
            case _:
                return await super().handle(message)

    def statistics(self) -> StatusStatistics:
        """Counters."""
        return StatusStatistics(
            name=self.name,
            handled=self.handled,
            failed=self.failed,
            following=len(self.following),
            posted=self.posted,
            failures=self.failures,
            given_up=self.given_up,
        )

    def _follow(self, job_id: str) -> _Followed:
        followed = self.following.get(job_id)
        if followed is None:
            followed = _Followed()
            if job_id in self._reported:
                return followed
            self.following[job_id] = followed
            self.nursery.start_soon(
                self._run, job_id, followed, name=f"status:{job_id}"
            )
        return followed

    async def _run(self, job_id: str, followed: _Followed) -> None:
        try:
            await self._report(job_id, followed)
        except CraftingError as exc:
            # A ledger that fails now must not crash the actor and every
            # other job's follower with it.
            logger.warning("job %s: commit status dropped: %s", job_id, exc.message)
        finally:
            self.following.pop(job_id, None)
            self._reported[job_id] = None
            if len(self._reported) > REMEMBERED:
                del self._reported[next(iter(self._reported))]

    async def _report(self, job_id: str, followed: _Followed) -> None:
        job = await self.ledger.read(job_store.get, job_id)
        # A patch loop's verify run tests a commit the forge has not got yet.
        if job is None or job.trigger == VERIFY_TRIGGER:
            return
        project = await self.ledger.read(project_store.get, job.project_name)
        if project is None or not project.spec.commit_status:
            return
        target = commit_status.target_for(self.settings, project.spec.git_url)
        if target is None:
            return

        pending_sent = False
        with trio.move_on_after(job.timeout_secs + FOLLOW_MARGIN):
            while job.status not in TERMINAL_STATUSES:
                if job.sha and job.status == "running" and not pending_sent:
                    await self._post(target, job, "pending")
                    pending_sent = True
                with trio.move_on_after(END_POLL if job.sha else SHA_POLL):
                    await followed.ended.wait()
                fresh = await self.ledger.read(job_store.get, job_id)
                if fresh is None:
                    return
                job = fresh
            if job.sha and job.started_at is not None:
                await self._post(target, job, commit_status.final_state(job))

    async def _post(self, target: StatusTarget, job: JobRow, state: State) -> None:
        assert job.sha is not None
        body = commit_status.status_body(job, state, self.settings.public_url)
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                await commit_status.post_status(target, job.sha, body)
            except ForgeError as exc:
                self.failures += 1
                last = attempt == self.attempts or not commit_status.retryable(exc)
                logger.warning(
                    "job %s (%s): commit status %s not posted (attempt %d of %d)%s: %s",
                    job.id,
                    job.project_name,
                    state,
                    attempt,
                    self.attempts,
                    "; giving up" if last else "",
                    exc.message,
                )
                if last:
                    self.given_up += 1
                    return
                await trio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            self.posted += 1
            logger.info(
                "job %s (%s): commit status %s posted to %s",
                job.id,
                job.project_name,
                state,
                target.forge,
            )
            return
