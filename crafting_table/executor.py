"""Where a recipe's processes run: the seam between the Runner and a host.

The Runner needs these things from an executor: start a shell command in a
folder with an environment and limits, read its combined output, signal
it, wait for it, make sure nothing it started outlives the job, and, on
start, clean up what a previous process of the service left. Another
executor, running each recipe as a Kubernetes Job for instance, implements
the same classes and nothing else in the Runner changes.

:class:`LocalExecutor` runs recipes on this host, confined as its
:class:`~crafting_table.containment.Containment` says: as the project's
own recipe id when there is a recipe user, in the job's control groups
when the host has them, and
always in a session and process group of its own with a mark in its
environment, which finds processes that left the group where no control
group holds them. A process that also cleared its environment is found
by the project's own id, once no other job of the project runs.

A confined recipe starts behind a gate: its first shell, already running
as the recipe user, waits on a pipe until the service has moved it into
the job's control groups, then replaces itself with the recipe's shell.
Nothing the recipe runs is ever outside its groups. (``preexec_fn`` could
do the same in the child, but it is unsafe in a process with threads.)

Where no control group holds the recipe and it runs as the service's own
user, its first process is the sweeper (:mod:`crafting_table.sweeper`), a
small Python program that is the job's child subreaper: whatever the
recipe started and left behind, even under another session and with a
cleared environment, is handed to it when its parent exits, and killed
when the recipe's shell ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from crafting_table import procs
from crafting_table.cgroups import JOB_PREFIX, JobGroup
from crafting_table.containment import Containment, RecipeUser
from crafting_table.recipe_ids import ProjectIdentity, project_folders
from crafting_table.workspace import delete_trees

logger = logging.getLogger(__name__)

# Runs as the recipe user. It waits, placed in the job's groups, until the
# service writes the variables only known late (one NAME=VALUE per line)
# and "go"; then it enters the job's folder and runs the recipe. Anything
# else, or an early end of the pipe, and it exits 125 without running it.
_GATE = (
    "while read -r line; do "
    'case "$line" in go) break ;; [A-Z_]*=*) export "$line" ;; *) exit 125 ;; esac; '
    "done; "
    '[ "$line" = go ] || exit 125; '
    'cd "$2" || {{ echo "[crafting-table] cannot enter $2" >&2; exit 125; }}; '
    "exec </dev/null; "
    '{limit}exec {drop}/bin/sh -c "$1"'
)
# The sweeper runs from its source, standard library only, so that it does
# not depend on the service's packages being importable by the recipe.
_SWEEPER = (Path(__file__).with_name("sweeper.py")).read_text()
_LATE_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
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


class Launch(Protocol):
    """A recipe made ready before its folder exists, waiting to run."""

    async def go(self, late_env: Mapping[str, str]) -> RecipeProcess:
        """Hand the folders over and run the recipe with ``late_env`` added."""
        ...

    async def abort(self) -> None:
        """Undo everything the preparation did; the recipe never runs."""


class Executor(Protocol):
    """Starts recipes."""

    name: str

    async def prepare(
        self,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        mark: str,
        limits: JobLimits | None = None,
        owned: Sequence[Path] = (),
        shared: Sequence[Path] = (),
        project: ProjectIdentity | None = None,
    ) -> Launch:
        """Do every step of a start that needs neither ``cwd`` nor ``owned``
        to exist yet, so that it can run while the job is checked out.

        Raises like :meth:`start`.
        """
        ...

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
        project: ProjectIdentity | None = None,
    ) -> RecipeProcess:
        """Start ``/bin/sh -c command``; ``mark`` tags every process of it.

        ``owned`` are folders the recipe may write for the job (its worktree
        and report folder), ``shared`` ones it may read (its project's
        clone). ``project`` is whose recipe it is: recipes of different
        projects must not reach each other. Raises
        :class:`~crafting_table.errors.ContainmentError` when the recipe
        cannot be confined; it then never runs.
        """
        ...

    async def recover(self) -> int:
        """Kill what a previous process of this service left; how many jobs."""
        ...

    async def kept_projects(self) -> list[str]:
        """Projects for which the executor keeps something between jobs."""
        ...

    async def forget(self, project: str) -> None:
        """Delete what the executor keeps for ``project`` (HOME, caches).

        Call it only when no job of the project runs.
        """


class LocalProcess:
    """A recipe running as its own session and process group on this host."""

    def __init__(
        self,
        process: trio.Process,
        mark: str,
        *,
        containment: Containment,
        user: RecipeUser | None = None,
        group: JobGroup | None = None,
        owned: Sequence[Path] = (),
        shared: Sequence[Path] = (),
        swept: bool = False,
        entered: bool = False,
    ) -> None:
        assert process.stdout is not None
        # The first process is the job's sweeper: it must outlive the rest.
        self._swept = swept
        self._process = process
        self._mark = mark
        self._containment = containment
        self._user = user
        self._group = group
        self._owned = list(owned)
        self._shared = list(shared)
        # Whether this job counts in the containment's jobs of its id.
        self._entered = entered
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
        if self._swept:
            procs.kill_group(self.pid, spare=self.pid)
        else:
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
        # A process that cleared its environment carries no mark; where no
        # group holds the job, the project's own id still tells it apart.
        # The recipe's shell has ended, so the job stops counting now rather
        # than at aclose: of two jobs of a project ending together, the
        # later always finds the id idle and takes what both left.
        user = self._user
        self._leave()
        if user is not None and self._containment.idle(user):
            # Asked again at every scan: a job of the project may start
            # while this one's leftovers are being killed.
            killed.update(
                await trio.to_thread.run_sync(
                    lambda: procs.kill_uid(
                        user.uid,
                        skip=[self.pid],
                        still=lambda: self._containment.idle(user),
                    )
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
        await trio.to_thread.run_sync(
            self._containment.take_back, owned, shared, self._user
        )
        self._leave()

    def _leave(self) -> None:
        """Stop counting among the jobs of the project's id; once only."""
        if self._entered:
            self._entered = False
            self._containment.leave(self._user)


class LocalLaunch:
    """A recipe of :class:`LocalExecutor` made ready; see :class:`Launch`.

    Its first process already runs, waiting on a pipe for :meth:`go`: the
    gate, in the job's groups, where there are groups or a recipe user;
    the sweeper otherwise.
    """

    def __init__(
        self,
        executor: LocalExecutor,
        command: str,
        *,
        cwd: Path,
        env: dict[str, str],
        mark: str,
        user: RecipeUser | None,
        group: JobGroup | None,
        owned: Sequence[Path],
        shared: Sequence[Path],
    ) -> None:
        self._containment = executor.containment
        self._user = user
        self._command = command
        self._cwd = cwd
        self._env = env
        self._mark = mark
        self._group = group
        self._owned = owned
        self._shared = shared
        self._gate: trio.Process | None = None
        self._swept = False
        self._pipe: int | None = None
        self._handed = False
        self._entered = False

    async def spawn_gate(self, rlimit: int | None) -> None:
        """Start the gate and place it in the job's groups."""
        limit = _PROCESS_LIMIT.format(n=rlimit) if rlimit else ""
        gate = _GATE.format(limit=limit, drop=self._containment.capability_drop)
        await self._spawn(["/bin/sh", "-c", gate, "crafting-table-gate"])
        assert self._gate is not None
        if self._group is not None:
            # Moving a process between groups may wait for a kernel grace
            # period: on a worker thread, the event loop goes on meanwhile.
            await trio.to_thread.run_sync(self._group.add, self._gate.pid)

    async def spawn_sweeper(self) -> None:
        """Start the sweeper, the job's subreaper, in place of a gate."""
        await self._spawn([sys.executable, "-I", "-S", "-c", _SWEEPER])
        self._swept = True

    async def _spawn(self, program: list[str]) -> None:
        # Counted before the gate exists: from then on a process of the
        # project's id is this job's, and another job's end must spare it.
        self._containment.enter(self._user)
        self._entered = True
        read_end, self._pipe = os.pipe()
        try:
            self._gate = await trio.lowlevel.open_process(
                [*program, self._command, str(self._cwd)],
                cwd="/",
                env=self._env,
                stdin=read_end,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._containment.spawn_options(self._user),
            )
        finally:
            os.close(read_end)

    async def go(self, late_env: Mapping[str, str]) -> LocalProcess:
        """Hand the folders to the recipe and let it run."""
        try:
            await trio.to_thread.run_sync(
                self._containment.hand_over, self._owned, self._shared, self._user
            )
            self._handed = True
            process = self._release(late_env)
        except BaseException:
            await self.abort()
            raise
        # The count passes to the process, which leaves it when it closes.
        entered, self._entered = self._entered, False
        return LocalProcess(
            process,
            self._mark,
            containment=self._containment,
            user=self._user,
            group=self._group,
            owned=self._owned,
            shared=self._shared,
            swept=self._swept,
            entered=entered,
        )

    def _release(self, late_env: Mapping[str, str]) -> trio.Process:
        assert self._gate is not None
        assert self._pipe is not None
        for name, value in late_env.items():
            if not _LATE_NAME.match(name) or "\n" in value:
                raise ValueError(f"cannot pass {name!r} to the recipe")
        lines = [f"{name}={value}" for name, value in late_env.items()]
        # A pipe with room to spare: the write returns at once.
        os.write(self._pipe, ("\n".join([*lines, "go"]) + "\n").encode())
        os.close(self._pipe)
        self._pipe = None
        gate, self._gate = self._gate, None
        return gate

    async def abort(self) -> None:
        """Stop the gate, remove the groups, take back what was handed over."""
        # Shielded: the groups must go and the folders come back even when
        # the start was cancelled.
        with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_TIMEOUT):
            if self._pipe is not None:
                os.close(self._pipe)
                self._pipe = None
            if self._gate is not None:
                with contextlib.suppress(ProcessLookupError):
                    self._gate.kill()
                await self._gate.wait()
                await self._gate.stdout.aclose()  # type: ignore[union-attr]
                self._gate = None
            if self._group is not None:
                await trio.to_thread.run_sync(self._group.empty)
                await trio.to_thread.run_sync(self._group.remove)
            if self._handed:
                await trio.to_thread.run_sync(
                    self._containment.take_back, self._owned, self._shared, self._user
                )
            if self._entered:
                self._entered = False
                self._containment.leave(self._user)


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
        project: ProjectIdentity | None = None,
    ) -> LocalProcess:
        """Start the recipe in a new session, stdout and stderr on one pipe.

        See :meth:`Executor.start`; on failure everything given to the
        recipe is taken back before the error propagates.
        """
        launch = await self.prepare(
            command,
            cwd=cwd,
            env=env,
            mark=mark,
            limits=limits,
            owned=owned,
            shared=shared,
            project=project,
        )
        return await launch.go({})

    async def prepare(
        self,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        mark: str,
        limits: JobLimits | None = None,
        owned: Sequence[Path] = (),
        shared: Sequence[Path] = (),
        project: ProjectIdentity | None = None,
    ) -> LocalLaunch:
        """Make the job's groups and start its gate in them; see :class:`Launch`.

        Placing a process in a control group can take a kernel grace period
        (over ten milliseconds on a busy host): done here, it overlaps the
        checkout instead of adding to every job's time.
        """
        containment = self.containment
        asked = limits or JobLimits()
        memory_mb, pids = containment.limits(asked.memory_mb, asked.pids)
        user = containment.identity(project)
        await trio.to_thread.run_sync(containment.prepare, user)
        group = None
        if containment.mode != "none":
            group = containment.cgroups.group(JOB_PREFIX + mark)
        launch = LocalLaunch(
            self,
            command,
            cwd=cwd,
            env=containment.environment(
                {**env, procs.MARK_VARIABLE: mark}, owned, user
            ),
            mark=mark,
            user=user,
            group=group,
            owned=owned,
            shared=shared,
        )
        try:
            if group is not None:
                await trio.to_thread.run_sync(
                    lambda: group.create(memory_mb=memory_mb, pids=pids)
                )
            if group is not None or user is not None:
                await launch.spawn_gate(containment.process_rlimit(pids))
            else:
                await launch.spawn_sweeper()
        except BaseException:
            await launch.abort()
            raise
        return launch

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

    async def kept_projects(self) -> list[str]:
        """Projects with a folder of their own in the cache folder."""
        projects = self.containment.projects_dir
        if projects is None:
            return []
        return await trio.to_thread.run_sync(project_folders, projects.parent)

    async def forget(self, project: str) -> None:
        """Delete the project's HOME, temporary files and package caches."""
        folder = self.containment.project_folder(project)
        if folder is None:
            return
        # A process of the project's id left running (a stop whose wait ran
        # out, a restart without control groups) could swap a folder for a
        # symlink while the tree is deleted: none may outlive the project.
        uid = await trio.to_thread.run_sync(self.containment.folder_uid, folder)
        if uid is not None:
            killed = await trio.to_thread.run_sync(procs.kill_uid, uid)
            if killed:
                logger.info(
                    "project %s: killed %d process(es) of its id before deleting "
                    "its folder",
                    project,
                    len(killed),
                )
        await delete_trees([folder])


def _reap(group: JobGroup, killed: set[int], shell: int | None) -> int:
    """Reap the job's processes that died as children of this subreaper.

    ``shell`` is the recipe's own shell, which trio waits for. A zombie is
    recognised by its v2 group where there is one; by a pid seen in the
    groups only where there is not, since a pid seen earlier may belong to
    another process by now.
    """
    chosen = group.holds if group.knows_its_dead else killed.__contains__
    return procs.reap_adopted(chosen, skip=() if shell is None else (shell,))
