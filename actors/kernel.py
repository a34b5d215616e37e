"""Inboxes, references and the actor base class.

An inbox is a bounded trio memory channel whose two ends belong to the
supervisor, not to the actor reading it: when an actor crashes, the
messages queued behind the one it was handling stay in the channel and its
restarted successor reads them. Only the message in hand is lost, and a
sender waiting on an ask for it gets an :class:`ActorError` instead of
hanging.

Usage::

    inbox = Inbox("runner")
    ref = inbox.ref()
    await ref.tell(JobQueued(job_id))
    stats = await ref.ask(GetStats(), timeout=5)
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import trio

from crafting_table.errors import ActorError, AskTimeout
from crafting_table.messages import Ask, GetStats

T = TypeVar("T")
logger = logging.getLogger(__name__)

DEFAULT_INBOX_SIZE = 1024
DEFAULT_ASK_TIMEOUT = 30.0


class Reply:
    """A one-shot slot for the answer to an ask."""

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: Any) -> None:
        """Deliver the answer; later calls are ignored."""
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        """Deliver an error instead of an answer; later calls are ignored."""
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> Any:
        """Wait for the answer; re-raise a delivered error."""
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message in an inbox, with the reply slot when it was an ask."""

    message: object
    reply: Reply | None = None


class Inbox:
    """A bounded mailbox; both ends are held here, outside any actor."""

    def __init__(self, name: str, size: int = DEFAULT_INBOX_SIZE) -> None:
        self.name = name
        self.send, self.receive = trio.open_memory_channel[Envelope](size)

    def ref(self) -> ActorRef:
        """A reference that sends to this inbox."""
        return ActorRef(self)

    def depth(self) -> int:
        """Messages waiting to be read."""
        return self.send.statistics().current_buffer_used


class ActorRef:
    """What senders hold: ``tell`` to send, ``ask`` to send and wait."""

    def __init__(self, inbox: Inbox) -> None:
        self.name = inbox.name
        self._inbox = inbox

    async def tell(self, message: object) -> None:
        """Queue ``message``; waits only while the inbox is full."""
        await self._inbox.send.send(Envelope(message))

    def tell_nowait(self, message: object) -> bool:
        """Queue ``message`` if there is room; False when the inbox is full."""
        try:
            self._inbox.send.send_nowait(Envelope(message))
        except trio.WouldBlock:
            return False
        return True

    async def ask(self, message: Ask[T], timeout: float = DEFAULT_ASK_TIMEOUT) -> T:
        """Queue ``message`` and return the actor's answer.

        Raises :class:`AskTimeout` when no answer comes within ``timeout``
        seconds (queueing included), and re-raises what the actor raised
        while handling the message.
        """
        reply = Reply()
        with trio.move_on_after(timeout if timeout > 0 else math.inf) as scope:
            await self._inbox.send.send(Envelope(message, reply))
            result: T = await reply.wait()
            return result
        assert scope.cancelled_caught
        raise AskTimeout(
            f"the {self.name} actor did not answer {type(message).__name__} "
            f"within {timeout} s; "
            "the service is overloaded or stuck, try again shortly"
        )


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """A snapshot of one actor's counters."""

    name: str
    handled: int
    failed: int


class Actor:
    """Base of every actor: a loop over the inbox and one ``handle``.

    Subclasses implement :meth:`handle` with a single ``match`` on the
    message type and may override :meth:`started` to do work (such as
    spawning tasks in ``self.nursery``) before the first message. Work that
    outlives one message goes into ``self.nursery``; an exception that
    escapes it crashes the actor, and the supervisor restarts a fresh one.
    """

    name = "actor"

    def __init__(self) -> None:
        self.handled = 0
        self.failed = 0
        self._nursery: trio.Nursery | None = None

    @property
    def nursery(self) -> trio.Nursery:
        """The nursery that lives as long as this actor."""
        if self._nursery is None:
            raise ActorError(f"the {self.name} actor is not running")
        return self._nursery

    async def run(self, inbox: trio.MemoryReceiveChannel[Envelope]) -> None:
        """Serve messages from ``inbox`` until cancelled or crashed."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self.started()
            while True:
                envelope = await inbox.receive()
                await self._deliver(envelope)

    async def _deliver(self, envelope: Envelope) -> None:
        message = envelope.message
        logger.debug("%s <- %r", self.name, message)
        try:
            if isinstance(message, GetStats):
                result: Any = asdict(self.statistics())
            else:
                result = await self.handle(message)
        except Exception as exc:
            self.failed += 1
            if envelope.reply is not None:
                envelope.reply.fail(
                    ActorError(
                        f"the {self.name} actor failed on "
                        f"{type(message).__name__}: {exc}"
                    )
                )
            raise
        except BaseException:
            # Cancelled (shutdown or restart): the asker must not hang.
            if envelope.reply is not None:
                envelope.reply.fail(ActorError(f"the {self.name} actor stopped"))
            raise
        self.handled += 1
        if envelope.reply is not None:
            envelope.reply.set(result)

    async def started(self) -> None:
        """Hook run once per incarnation, before the first message."""

    async def handle(self, message: object) -> Any:
        """Handle one message; the value is the answer to an ask."""
        raise ActorError(
            f"the {self.name} actor cannot handle {type(message).__name__}"
        )

    def statistics(self) -> Any:
        """A frozen snapshot of this actor's counters."""
        return ActorStatistics(name=self.name, handled=self.handled, failed=self.failed)
