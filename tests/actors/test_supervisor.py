"""The kernel and the supervisor: restarts keep queued messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import trio

from actors.kernel import Actor, Inbox
from actors.supervisor import Supervisor
from crafting_table.errors import ActorError, AskTimeout, RestartIntensityExceeded
from crafting_table.messages import Ask, GetStats


@dataclass(frozen=True)
class Note:
    value: int


@dataclass(frozen=True)
class Echo(Ask[int]):
    value: int


class Recorder(Actor):
    """Records notes; crashes on a negative one."""

    name = "recorder"
    incarnations = 0

    def __init__(self, seen: list[tuple[int, int]]) -> None:
        super().__init__()
        Recorder.incarnations += 1
        self.incarnation = Recorder.incarnations
        self.seen = seen

    async def handle(self, message: object) -> Any:
        match message:
            case Note(value=value) if value < 0:
                raise RuntimeError(f"bad note {value}")
            case Note(value=value):
                self.seen.append((self.incarnation, value))
                return None
            case Echo(value=value):
                if value < 0:
                    raise ValueError("negative echo")
                return value * 2
            case _:
                return await super().handle(message)


async def test_crash_keeps_the_messages_queued_behind_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    Recorder.incarnations = 0
    seen: list[tuple[int, int]] = []
    supervisor = Supervisor(backoff_initial=0.5)
    inbox = Inbox("recorder", size=16)
    ref = supervisor.add_actor(lambda: Recorder(seen), inbox)
    # Queue everything before the actor runs: 1 and 2 go to the first
    # incarnation, -1 kills it, 3..5 must reach the second one.
    for value in (1, 2, -1, 3, 4, 5):
        await ref.tell(Note(value))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        with trio.fail_after(10):
            while len(seen) < 5:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()

    assert seen == [(1, 1), (1, 2), (2, 3), (2, 4), (2, 5)]
    assert supervisor.statistics()[0].restarts == 1
    assert "bad note -1" in (supervisor.statistics()[0].last_error or "")


async def test_ask_answers_and_failures(autojump_clock: trio.abc.Clock) -> None:
    supervisor = Supervisor()
    ref = supervisor.add_actor(lambda: Recorder([]), Inbox("recorder"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        assert await ref.ask(Echo(21)) == 42
        with pytest.raises(ActorError, match="negative echo"):
            await ref.ask(Echo(-1))
        # The restarted actor answers again.
        assert await ref.ask(Echo(2)) == 4
        stats = await ref.ask(GetStats())
        assert stats["name"] == "recorder"
        nursery.cancel_scope.cancel()


async def test_ask_times_out_when_nobody_reads() -> None:
    ref = Inbox("idle").ref()

    with pytest.raises(AskTimeout, match="idle actor did not answer"):
        await ref.ask(Echo(1), timeout=0.05)


async def test_restart_intensity_gives_up(autojump_clock: trio.abc.Clock) -> None:
    supervisor = Supervisor(intensity=3, period=60, backoff_initial=0.1)
    ref = supervisor.add_actor(lambda: Recorder([]), Inbox("recorder"))
    for _ in range(5):
        await ref.tell(Note(-1))

    with pytest.raises(RestartIntensityExceeded, match="4 actor crashes within 60 s"):
        await supervisor.run()


async def test_backoff_grows_between_quick_crashes(
    autojump_clock: trio.abc.Clock,
) -> None:
    Recorder.incarnations = 0
    supervisor = Supervisor(intensity=10, backoff_initial=1.0, backoff_max=8.0)
    ref = supervisor.add_actor(lambda: Recorder([]), Inbox("recorder"))
    for _ in range(4):
        await ref.tell(Note(-1))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        start = trio.current_time()
        with trio.fail_after(100):
            while Recorder.incarnations < 5:
                await trio.sleep(0.01)
        elapsed = trio.current_time() - start
        nursery.cancel_scope.cancel()

    # Four crashes in a row back off 1 + 2 + 4 + 8 seconds.
    assert 15 <= elapsed < 16
