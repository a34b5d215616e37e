"""Where a recipe's processes run: the seam between the Runner and a host.

The Runner needs five things from an executor: start a shell command in a
folder with an environment, read its combined output, signal it, wait for
it, and make sure nothing it started outlives the job. :class:`LocalExecutor`
does that with a process group (plus a mark in the environment for
processes that leave the group) on this host. Another executor, running
each recipe as a Kubernetes Job for instance, implements the same two
classes and nothing else in the Runner changes.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import trio

from crafting_table import procs

logger = logging.getLogger(__name__)


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
        """Release the output pipe."""


class Executor(Protocol):
    """Starts recipes."""

    name: str

    async def start(
        self, command: str, *, cwd: Path, env: Mapping[str, str], mark: str
    ) -> RecipeProcess:
        """Start ``/bin/sh -c command``; ``mark`` tags every process of it."""
        ...


class LocalProcess:
    """A recipe running as its own session and process group on this host."""

    def __init__(self, process: trio.Process, mark: str) -> None:
        assert process.stdout is not None
        self._process = process
        self._mark = mark
        self.pid = process.pid
        self.start_time = procs.start_time(process.pid)
        self.output: trio.abc.ReceiveStream = process.stdout

    def terminate(self) -> None:
        """SIGTERM the process group."""
        procs.signal_group(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the process group."""
        procs.signal_group(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        """Wait for the shell; negative status means killed by that signal."""
        return await self._process.wait()

    async def kill_leftovers(self) -> list[int]:
        """SIGKILL the group and every marked process, reaping adopted ones."""
        procs.signal_group(self.pid, signal.SIGKILL)
        return await trio.to_thread.run_sync(
            lambda: procs.kill_marked(self._mark, skip=[self.pid])
        )

    async def aclose(self) -> None:
        """Close the output pipe."""
        await self._process.stdout.aclose()  # type: ignore[union-attr]


class LocalExecutor:
    """Runs recipes as process groups on this host."""

    name = "local"

    async def start(
        self, command: str, *, cwd: Path, env: Mapping[str, str], mark: str
    ) -> LocalProcess:
        """Start the recipe in a new session, stdout and stderr on one pipe."""
        process = await trio.lowlevel.open_process(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env={**env, procs.MARK_VARIABLE: mark},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return LocalProcess(process, mark)
