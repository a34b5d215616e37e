"""The supervisor: starts every child, restarts crashed ones, gives up in time.

A child is either an actor reading an :class:`~actors.kernel.Inbox` the
supervisor owns, or a plain service (the HTTP front end). A child that
raises is restarted after a back-off that doubles on each consecutive crash
(0.1 s up to 5 s). When the children together crash more than
``intensity`` times within ``period`` seconds something is wrong beyond a
restart's reach, so the supervisor raises
:class:`~crafting_table.errors.RestartIntensityExceeded` and the process
exits non-zero for its own supervisor (systemd, Docker) to act on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

import trio
import trio.lowlevel

from actors.kernel import Actor, ActorRef, Inbox
from crafting_table.errors import ConfigError, RestartIntensityExceeded, leaves

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Child:
    """One supervised child and its restart record."""

    name: str
    start: Callable[[], Awaitable[None]]
    inbox: Inbox | None = None
    restarts: int = 0
    consecutive: int = 0
    current: Actor | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ChildStatistics:
    """A snapshot of one child for ``/healthz``."""

    name: str
    restarts: int
    inbox_depth: int | None
    last_error: str | None
    actor: dict[str, object] | None = field(default=None)


class Supervisor:
    """Keeps its children running; see the module docstring for the policy."""

    def __init__(
        self,
        *,
        intensity: int = 10,
        period: float = 60.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        on_restart: Callable[[str], None] | None = None,
    ) -> None:
        self.intensity = intensity
        self.period = period
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._children: list[Child] = []
        self._crashes: deque[float] = deque()
        self._on_restart = on_restart

    def add_actor(self, factory: Callable[[], Actor], inbox: Inbox) -> ActorRef:
        """Supervise an actor made by ``factory``, reading ``inbox``."""
        child = Child(name=inbox.name, start=trio.lowlevel.checkpoint, inbox=inbox)

        async def start() -> None:
            actor = factory()
            child.current = actor
            await actor.run(inbox.receive)

        child.start = start
        self._children.append(child)
        return inbox.ref()

    def add_service(self, name: str, start: Callable[[], Awaitable[None]]) -> None:
        """Supervise a plain coroutine function (restarted like an actor)."""
        self._children.append(Child(name=name, start=start))

    async def run(self) -> None:
        """Run every child until cancelled, or until the intensity limit.

        Raises :class:`RestartIntensityExceeded` itself (not wrapped in an
        exception group) when the children crashed too often.
        """
        try:
            async with trio.open_nursery() as nursery:
                for child in self._children:
                    nursery.start_soon(
                        self._keep, child, name=f"supervise:{child.name}"
                    )
        except BaseExceptionGroup as group:
            # Split on purpose: giving up is the one error the caller must
            # see plainly; anything else travels on as it came.
            matched, rest = group.split(RestartIntensityExceeded)
            if matched is not None and rest is None:
                raise leaves(matched)[0] from None
            raise

    async def _keep(self, child: Child) -> None:
        while True:
            started = trio.current_time()
            try:
                await child.start()
            except Exception as exc:
                # Settings the host refuses do not change by restarting:
                # such an error (alone or in a group) stops the service.
                found = leaves(exc)
                if all(isinstance(leaf, ConfigError) for leaf in found):
                    raise found[0] from None
                # Exception (not BaseException): Cancelled, KeyboardInterrupt
                # and groups holding them pass through, so shutdown is never
                # mistaken for a crash.
                child.last_error = "; ".join(
                    f"{type(leaf).__name__}: {leaf}" for leaf in found
                )
                logger.exception("actor %s crashed", child.name)
            else:
                logger.info("actor %s stopped", child.name)
                return
            await self._crashed(child, started)

    async def _crashed(self, child: Child, started: float) -> None:
        now = trio.current_time()
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - self.period:
            self._crashes.popleft()
        if len(self._crashes) > self.intensity:
            raise RestartIntensityExceeded(
                f"{len(self._crashes)} actor crashes within {self.period:g} s "
                f"(the last in {child.name!r}: {child.last_error}); giving up"
            )

        # A child that ran for a while before crashing starts its back-off
        # afresh; one that crashes right after each start backs off further.
        if now - started > self.backoff_max * 4:
            child.consecutive = 0
        delay = min(self.backoff_max, self.backoff_initial * 2**child.consecutive)
        child.consecutive += 1
        child.restarts += 1
        if self._on_restart is not None:
            self._on_restart(child.name)
        logger.warning("restarting actor %s in %.1f s", child.name, delay)
        await trio.sleep(delay)

    def statistics(self) -> list[ChildStatistics]:
        """A snapshot per child."""
        out = []
        for child in self._children:
            actor = None
            if child.current is not None:
                actor = asdict(child.current.statistics())
            out.append(
                ChildStatistics(
                    name=child.name,
                    restarts=child.restarts,
                    inbox_depth=child.inbox.depth() if child.inbox else None,
                    last_error=child.last_error,
                    actor=actor,
                )
            )
        return out
