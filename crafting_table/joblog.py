"""Job logs: writing one while its recipe runs, reading one from either end.

A log is a plain file of what a person would see in a terminal, framed by
a header and a footer written by the service (lines starting with
``[crafting-table]``). :class:`LogWriter` masks secrets, enforces the size
cap with a visible marker, and publishes every write to a :class:`LogFeed`
that live watchers wait on, so any number of websocket watchers cost one
reader of the recipe's pipe.
"""

from __future__ import annotations

import os
from pathlib import Path

import trio

from crafting_table.redact import Masker

PREFIX = b"[crafting-table] "
# Bytes of recent output kept in memory for watchers; one who falls further
# behind reads the file instead.
FEED_MEMORY = 1024 * 1024
TAIL_BLOCK = 64 * 1024
# The tail in an API answer is for a person's eyes: bound what it reads and
# how long one line may be, whatever the recipe printed.
TAIL_MAX_BYTES = 1024 * 1024
TAIL_MAX_LINE = 4096


class LogFeed:
    """The growing log of one queued or running job, for live watchers.

    ``size`` is how many bytes are safely in the file. Watchers read the
    file up to ``size``, then call :meth:`wait_beyond` and :meth:`read`
    for what follows; ``final`` is set once the job has its terminal status.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.final: dict[str, object] | None = None
        self._memory = bytearray()
        self._memory_start = 0
        self._changed = trio.Event()
        self.watchers = 0

    def publish(self, data: bytes) -> None:
        """Record bytes that were just written to the file."""
        self._memory += data
        self.size += len(data)
        excess = len(self._memory) - FEED_MEMORY
        if excess > 0:
            del self._memory[:excess]
            self._memory_start += excess
        self._wake()

    def finish(self, final: dict[str, object]) -> None:
        """Mark the log complete, with the job's terminal state."""
        self.final = final
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_beyond(self, offset: int) -> None:
        """Return once the log is longer than ``offset`` or finished."""
        while self.size <= offset and self.final is None:
            await self._changed.wait()

    async def read(self, offset: int) -> bytes:
        """Bytes from ``offset`` to the current end, from memory if possible."""
        end = self.size
        if offset >= self._memory_start:
            start = offset - self._memory_start
            return bytes(self._memory[start : start + end - offset])
        return await read_range(self.path, offset, end - offset)


class LogWriter:
    """Appends a job's output to its log file, capped and masked.

    Use :meth:`line` for the service's own lines and :meth:`output` for the
    recipe's bytes; both are masked. Past ``cap`` bytes of recipe output,
    one marker line is written and the rest is counted but dropped; the
    pipe is still drained by the caller, so the recipe never blocks on a
    full pipe.
    """

    def __init__(self, path: Path, cap: int, secrets: list[str], feed: LogFeed) -> None:
        self.path = path
        self.cap = cap
        self.feed = feed
        self.written = 0
        self.output_bytes = 0
        self.dropped = 0
        self._secrets = list(secrets)
        self._masker = Masker(self._secrets)
        self._fd: int | None = None
        self._ends_with_newline = True

    async def open(self) -> None:
        """Create (or append to) the log file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = await trio.to_thread.run_sync(
            os.open, self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640
        )

    def add_secrets(self, secrets: list[str]) -> None:
        """Mask ``secrets`` too; call before the first :meth:`output`."""
        assert not self.output_bytes, "secrets must be known before any output"
        self._secrets += secrets
        self._masker = Masker(self._secrets)

    def mask(self, text: str) -> str:
        """``text`` with every secret of this log masked."""
        data = self._masker.mask(text.encode("utf-8", "surrogateescape"))
        return data.decode("utf-8", "surrogateescape")

    async def line(self, text: str) -> None:
        """Write one service line, masked, on a line of its own."""
        lead = b"" if self._ends_with_newline else b"\n"
        data = self._masker.mask(text.encode("utf-8", "replace"))
        await self._write(lead + PREFIX + data + b"\n")

    async def output(self, data: bytes | bytearray) -> None:
        """Write recipe output, masked, up to the cap."""
        data = self._masker.feed(data)
        await self._capped(data)

    async def flush_output(self) -> None:
        """Write what the masker held back; call when the recipe's pipe closes."""
        await self._capped(self._masker.flush())

    async def _capped(self, data: bytes) -> None:
        if not data:
            return
        room = self.cap - self.output_bytes
        kept = data[: max(room, 0)]
        if kept:
            self.output_bytes += len(kept)
            await self._write(kept)
        if len(kept) == len(data):
            return
        # The first byte past the cap, whether it came in the same read as
        # the last kept byte or in a later one, gets the marker.
        if not self.dropped:
            await self.line(
                f"log truncated: output past {self.cap} bytes is not kept "
                "(CRAFTING_MAX_LOG_BYTES)"
            )
        self.dropped += len(data) - len(kept)

    async def _write(self, data: bytes) -> None:
        assert self._fd is not None, "LogWriter.open() was not called"
        fd = self._fd
        await trio.to_thread.run_sync(_write_all, fd, data)
        self.written += len(data)
        self._ends_with_newline = data.endswith(b"\n")
        self.feed.publish(data)

    async def aclose(self) -> None:
        """Close the file."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            await trio.to_thread.run_sync(os.close, fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]


async def read_range(path: Path, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes of ``path`` from ``offset`` (empty if none)."""

    def _read() -> bytes:
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                return handle.read(size)
        except FileNotFoundError:
            return b""

    return await trio.to_thread.run_sync(_read)


def _tail(path: Path, lines: int) -> list[str]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return []
    with handle:
        end = handle.seek(0, os.SEEK_END)
        position = end
        data = b""
        # Read backwards one block at a time until there are enough line
        # breaks: the cost depends on the lines wanted, not the log's size.
        while (
            position > 0 and data.count(b"\n") <= lines and len(data) < TAIL_MAX_BYTES
        ):
            step = min(TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    text = data.decode("utf-8", "replace").split("\n")
    if text and text[-1] == "":
        text.pop()
    if position > 0 and text:
        text.pop(0)  # a partial first line
    kept = text[-lines:] if lines else []
    return [
        t if len(t) <= TAIL_MAX_LINE else t[:TAIL_MAX_LINE] + " [...]" for t in kept
    ]


async def read_tail(path: Path, lines: int = 200) -> list[str]:
    """The last ``lines`` lines of the log, read from its end."""
    return await trio.to_thread.run_sync(_tail, path, lines)


def file_size(path: Path) -> int:
    """The log's size in bytes, 0 if it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
