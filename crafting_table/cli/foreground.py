"""The service in the foreground, and what SIGINT and SIGTERM do to it.

1. The first signal stops in order (:meth:`ServiceHandle.stop`): no new
   requests, running jobs get ``CRAFTING_SHUTDOWN_GRACE_SECS`` to finish,
   the rest are canceled, queued jobs stay queued. Exit status 0.
2. A second signal stops at once: the service is cancelled, so each
   running recipe's process tree is killed (SIGTERM, then SIGKILL after
   ``CRAFTING_KILL_GRACE_SECS``) and its job recorded as canceled; no job
   is given time to finish. Exit status 128 + the signal's number.
3. A third signal ends the process on the spot, without that clean-up:
   jobs still marked running are failed by the next start's sweep, which
   also kills what they left behind.

A signal that comes while the service is still starting counts as the
second: there is nothing to stop in order yet.

Each step is announced in one line on standard error. This module is the
``serve`` command's only way into :mod:`actors`, imported when it runs.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from actors.serve import ServiceHandle
    from crafting_table.config import Settings


class Foreground(trio.TaskStatus["ServiceHandle"]):
    """One run of the service until signals stop it; see the module docstring.

    It is also the ``task_status`` handed to :func:`actors.serve.run_service`,
    so that the handle is known as soon as the port listens, while the
    service itself runs under a cancel scope of this object's own.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handle: ServiceHandle | None = None
        self.cut_short_by: int | None = None
        self._scope = trio.CancelScope()
        self._signals = 0

    def started(self, value: Any = None) -> None:
        """Called by the service once it listens, with its handle."""
        self.handle = value

    async def run(self) -> int:
        """Serve until stopped; the exit status (see the module docstring)."""
        from actors.serve import run_service

        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._obey, signals)
                with self._scope:
                    await run_service(self.settings, task_status=self)
                nursery.cancel_scope.cancel()
        if self.cut_short_by is None:
            return 0
        return 128 + self.cut_short_by

    async def _obey(self, signals: AsyncIterator[int]) -> None:
        async for number in signals:
            self._signals += 1
            name = signal.Signals(number).name
            if self._signals == 1 and self.handle is not None:
                grace = self.settings.shutdown_grace_secs
                _say(
                    f"{name}: stopping; running jobs get {grace:g} s to finish "
                    "(a second Ctrl-C or SIGTERM stops at once)"
                )
                self.handle.stop()
            elif self.cut_short_by is None:
                _say(
                    f"{name}: stopping at once; running jobs are killed and "
                    "marked canceled (another Ctrl-C or SIGTERM exits without that)"
                )
                self.cut_short_by = number
                self._scope.cancel()
            else:
                _say(
                    f"{name}: exiting now; jobs still marked running are "
                    "failed when the service next starts"
                )
                # No clean-up on purpose: the operator asked for the process
                # to go, and the next start's sweep does what is left.
                os._exit(128 + number)


def _say(text: str) -> None:
    print(f"crafting-table: {text}", file=sys.stderr, flush=True)
