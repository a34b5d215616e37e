"""Where a recipe's processes run: the seam between the Runner and a host.

The Runner needs these things from an executor: start a shell command in a
folder with an environment and limits, read its combined output, signal
it, wait for it, make sure nothing it started outlives the job, and, on
start, clean up what a previous process of the service left. Another
executor, running each recipe as a Kubernetes Job for instance, implements
the same classes and nothing else in the Runner changes.

:class:`LocalExecutor` runs recipes on this host, confined as its
:class:`~crafting_table.containment.Containment` says: as the recipe user
when there is one, in the job's control groups when the host has them, and
always in a session and process group of its own with a mark in its
environment, which finds processes that left the group where no control
group holds them.

A confined recipe starts behind a gate: its first shell, already running
as the recipe user, waits on a pipe until the service has moved it into
the job's control groups, then replaces itself with the recipe's shell.
Nothing the recipe runs is ever outside its groups. (``preexec_fn`` could
do the same in the child, but it is unsafe in a process with threads.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from crafting_table import procs
from crafting_table.cgroups import JOB_PREFIX, JobGroup
from crafting_table.containment import Containment

logger = logging.getLogger(__name__)

# Runs as the recipe user; exits 125 unless the service writes "go".
_GATE = (
    'read -r go && [ "$go" = go ] || exit 125; exec </dev/null; '
    '{limit}exec {drop}/bin/sh -c "$1"'
)
# dash names the process limit -p, bash and busybox -u.
_PROCESS_LIMIT = (
    "ulimit -u {n} 2>/dev/null || ulimit -p {n} 2>/dev/null || "
    '{{ echo "[crafting-table] cannot limit the number of processes" >&2; '
    "exit 125; }}; "
)
# How long clean-up of one job's groups and folders may take.
CLEANUP_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class JobLimits:
    """What a job asked for; None takes the service's default."""

    memory_mb: int | None = None
    pids: int | None = None


class RecipeProcess(Protocol):
    """A started recipe, as the Runner sees it."""

    pid: int
    start_time: int | None
    output: trio.abc.ReceiveStream

    def terminate(self) -> None:
        """Ask every process of the recipe to stop (SIGTERM)."""

    def kill(self) -> None:
        """Stop every process of the recipe now (SIGKILL)."""

    async def wait(self) -> int:
        """Wait for the recipe's shell to exit; return its status."""
        ...

    async def kill_leftovers(self) -> list[int]:
        """Kill and reap whatever the recipe left running; return their pids."""
        ...

    async def aclose(self) -> None:
        """Release the output pipe and whatever the recipe was given."""


class Executor(Protocol):
    """Starts recipes."""

    name: str

    async def start(
        self,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        mark: str,
        limits: JobLimits | None = None,
        owned: Sequence[Path] = (),
        shared: Sequence[Path] = (),
    ) -> RecipeProcess:
        """Start ``/bin/sh -c command``; ``mark`` tags every process of it.

        ``owned`` are folders the recipe may write for the job (its worktree
        and report folder), ``shared`` ones it may read (its project's
        clone). Raises :class:`~crafting_table.errors.ContainmentError`
        when the recipe cannot be confined; it then never runs.
        """
        ...

    async def recover(self) -> int:
        """Kill what a previous process of this service left; how many jobs."""
        ...


class LocalProcess:
    """A recipe running as its own session and process group on this host."""

    def __init__(
        self,
        process: trio.Process,
        mark: str,
        *,
        containment: Containment,
        group: JobGroup | None = None,
        owned: Sequence[Path] = (),
        shared: Sequence[Path] = (),
    ) -> None:
        assert process.stdout is not None
        self._process = process
        self._mark = mark
        self._containment = containment
        self._group = group
        self._owned = list(owned)
        self._shared = list(shared)
        self.pid = process.pid
        self.start_time = procs.start_time(process.pid)
        self.output: trio.abc.ReceiveStream = process.stdout

    def terminate(self) -> None:
        """SIGTERM the process group and everything in the job's groups."""
        procs.signal_group(self.pid, signal.SIGTERM)
        if self._group is not None:
            self._group.signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the process group and everything in the job's groups."""
        procs.signal_group(self.pid, signal.SIGKILL)
        if self._group is not None:
            self._group.kill()

    async def wait(self) -> int:
        """Wait for the shell; negative status means killed by that signal."""
        return await self._process.wait()

    async def kill_leftovers(self) -> list[int]:
        """Empty the job's groups, kill every marked process, reap adopted ones."""
        procs.signal_group(self.pid, signal.SIGKILL)
        group = self._group
        killed: set[int] = set()
        if group is not None:
            killed |= await trio.to_thread.run_sync(group.empty)
        # Also where a group holds the job: a recipe running as root (no
        # recipe user) could have moved itself out of it.
        killed.update(
            await trio.to_thread.run_sync(
                lambda: procs.kill_marked(self._mark, skip=[self.pid])
            )
        )
        if group is not None:
            await trio.to_thread.run_sync(_reap, group, killed, self.pid)
        killed.discard(self.pid)
        return sorted(killed)

    async def aclose(self) -> None:
        """Close the output pipe, remove the groups, take the folders back."""
        await self._process.stdout.aclose()  # type: ignore[union-attr]
        group, self._group = self._group, None
        if group is not None:
            await trio.to_thread.run_sync(group.remove)
        owned, shared = self._owned, self._shared
        self._owned, self._shared = [], []
        await trio.to_thread.run_sync(self._containment.take_back, owned, shared)


class LocalExecutor:
    """Runs recipes on this host, confined by ``containment``."""

    name = "local"

    def __init__(self, containment: Containment | None = None) -> None:
        self.containment = containment or Containment()

    async def start(
        self,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        mark: str,
        limits: JobLimits | None = None,
        owned: Sequence[Path] = (),
        shared: Sequence[Path] = (),
    ) -> LocalProcess:
        """Start the recipe in a new session, stdout and stderr on one pipe.

        See :meth:`Executor.start`; on failure everything given to the
        recipe is taken back before the error propagates.
        """
        containment = self.containment
        asked = limits or JobLimits()
        memory_mb, pids = containment.limits(asked.memory_mb, asked.pids)
        group = None
        if containment.mode != "none":
            group = containment.cgroups.group(JOB_PREFIX + mark)
        try:
            if group is not None:
                await trio.to_thread.run_sync(
                    lambda: group.create(memory_mb=memory_mb, pids=pids)
                )
            await trio.to_thread.run_sync(containment.hand_over, owned, shared)
            process = await self._spawn(
                command,
                cwd=cwd,
                env=containment.environment({**env, procs.MARK_VARIABLE: mark}, owned),
                group=group,
                rlimit=containment.process_rlimit(pids),
            )
        except BaseException:
            # Shielded: the folders must go back to the service and the
            # groups be removed even when the start was cancelled.
            with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_TIMEOUT):
                if group is not None:
                    await trio.to_thread.run_sync(group.empty)
                    await trio.to_thread.run_sync(group.remove)
                await trio.to_thread.run_sync(containment.take_back, owned, shared)
            raise
        return LocalProcess(
            process,
            mark,
            containment=containment,
            group=group,
            owned=owned,
            shared=shared,
        )

    async def _spawn(
        self,
        command: str,
        *,
        cwd: Path,
        env: dict[str, str],
        group: JobGroup | None,
        rlimit: int | None,
    ) -> trio.Process:
        options = self.containment.spawn_options()
        if group is None and not options:
            return await trio.lowlevel.open_process(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        limit = _PROCESS_LIMIT.format(n=rlimit) if rlimit else ""
        gate = _GATE.format(limit=limit, drop=self.containment.capability_drop)
        read_end, write_end = os.pipe()
        try:
            try:
                process = await trio.lowlevel.open_process(
                    ["/bin/sh", "-c", gate, "crafting-table-gate", command],
                    cwd=cwd,
                    env=env,
                    stdin=read_end,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **options,
                )
            finally:
                os.close(read_end)
            try:
                # Writes to the cgroup file system and to a pipe with room
                # to spare: they return at once, so no worker thread.
                if group is not None:
                    group.add(process.pid)
                os.write(write_end, b"go\n")
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                # Shielded: the gate process is ours to reap whatever happened.
                with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_TIMEOUT):
                    await process.wait()
                    await process.stdout.aclose()  # type: ignore[union-attr]
                raise
        finally:
            os.close(write_end)
        return process

    async def recover(self) -> int:
        """Empty and remove every job group of this service (a crash left them)."""
        layout = self.containment.cgroups
        groups = await trio.to_thread.run_sync(layout.leftovers)
        for group in groups:
            killed = await trio.to_thread.run_sync(group.empty)
            await trio.to_thread.run_sync(_reap, group, killed, None)
            await trio.to_thread.run_sync(group.remove)
            logger.info(
                "killed %d process(es) in leftover control group %s",
                len(killed),
                group.name,
            )
        return len(groups)


def _reap(group: JobGroup, killed: set[int], shell: int | None) -> int:
    """Reap the job's processes that died as children of this subreaper.

    ``shell`` is the recipe's own shell, which trio waits for. A zombie is
    recognised by its v2 group where there is one; by a pid seen in the
    groups only where there is not, since a pid seen earlier may belong to
    another process by now.
    """
    chosen = group.holds if group.knows_its_dead else killed.__contains__
    return procs.reap_adopted(chosen, skip=() if shell is None else (shell,))
