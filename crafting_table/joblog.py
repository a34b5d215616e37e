"""Job logs: writing one while its recipe runs, reading one from either end.

A log is a plain file of what a person would see in a terminal, framed by
a header and a footer written by the service (lines starting with
``[crafting-table]``). :class:`LogWriter` masks secrets, enforces the size
cap with a visible marker, and publishes every write to a :class:`LogFeed`
that live watchers wait on, so any number of websocket watchers cost one
reader of the recipe's pipe.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import trio

from crafting_table.redact import Masker

PREFIX = b"[crafting-table] "
# Encoded frames kept in memory for watchers; one who falls further behind
# reads the file instead.
FEED_MEMORY = 2 * 1024 * 1024
# A line longer than this is sent to watchers in pieces rather than held
# back until its end (a recipe printing megabytes without a newline).
FEED_MAX_LINE = 64 * 1024
TAIL_BLOCK = 64 * 1024
# The tail in an API answer is for a person's eyes: bound what it reads and
# how long one line may be, whatever the recipe printed.
TAIL_MAX_BYTES = 1024 * 1024
TAIL_MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class Frame:
    """Complete lines of a log from byte ``start`` to ``end``, encoded once."""

    start: int
    end: int
    text: str


_FRAME_HEAD = '{"type": "lines", "lines": ['
_FRAME_TAIL = "]}"


def lines_frame(lines: list[str]) -> str:
    """The websocket message carrying ``lines``."""
    return json.dumps({"type": "lines", "lines": lines}, ensure_ascii=False)


def merge_frames(frames: list[Frame]) -> str:
    """One message carrying the lines of several frames, without re-encoding.

    A watcher that fell behind by several writes gets them in one message:
    under load the number of sends drops as the backlog grows, which is
    what lets many watchers keep up.
    """
    if len(frames) == 1:
        return frames[0].text
    inner = [f.text[len(_FRAME_HEAD) : -len(_FRAME_TAIL)] for f in frames]
    return _FRAME_HEAD + ", ".join(part for part in inner if part) + _FRAME_TAIL


class LogFeed:
    """The growing log of one queued or running job, for live watchers.

    Every write is cut into complete lines and encoded once as a websocket
    frame; all watchers send the same frames, so a thousand of them cost
    one split and one ``json.dumps`` per write. ``line_end`` is the offset
    just past the last complete line published. Bytes are published before
    they reach the file, so that a watcher never waits on a disk thread;
    ``written`` is how much of the file is there. A watcher waits with
    :meth:`wait_written` for the file to hold ``line_end``, sends the file up
    to there, then :meth:`frames_from` its offset, waiting with
    :meth:`wait_past`; ``final`` is set once the job has its terminal status.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.line_end = 0
        self.written = 0
        self.final: dict[str, object] | None = None
        self.watchers = 0
        self._pending = b""
        self._frames: deque[Frame] = deque()
        self._frame_bytes = 0
        self._changed = trio.Event()
        # Apart from _changed: the file catching up must not wake every
        # watcher a second time per write.
        self._written_changed = trio.Event()

    def publish(self, data: bytes) -> None:
        """Record bytes that are being appended to the file, in file order."""
        self.size += len(data)
        self._pending += data
        cut = self._pending.rfind(b"\n") + 1
        if not cut and len(self._pending) >= FEED_MAX_LINE:
            cut = len(self._pending)
        if cut:
            lines = self._pending[:cut].decode("utf-8", "replace").split("\n")
            if lines[-1] == "":
                lines.pop()
            self._add(Frame(self.line_end, self.line_end + cut, lines_frame(lines)))
            self._pending = self._pending[cut:]
        self._wake()

    def wrote(self, count: int) -> None:
        """Record that ``count`` more published bytes are in the file now."""
        self.written += count
        self._written_changed.set()
        self._written_changed = trio.Event()

    def _add(self, frame: Frame) -> None:
        self._frames.append(frame)
        self.line_end = frame.end
        self._frame_bytes += len(frame.text)
        while self._frame_bytes > FEED_MEMORY and len(self._frames) > 1:
            self._frame_bytes -= len(self._frames.popleft().text)

    def finish(self, final: dict[str, object]) -> None:
        """Mark the log complete, with the job's terminal state."""
        if self._pending:
            text = self._pending.decode("utf-8", "replace")
            self._add(Frame(self.line_end, self.size, lines_frame([text])))
            self._pending = b""
        self.final = final
        self._written_changed.set()
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def frames_from(self, offset: int) -> list[Frame] | None:
        """The frames from ``offset`` on; None when they left memory already."""
        if not self._frames or offset >= self.line_end:
            return []
        if offset < self._frames[0].start:
            return None
        # From the newest back: a watcher that keeps up wants one or two.
        found = []
        for frame in reversed(self._frames):
            if frame.start < offset:
                break
            found.append(frame)
        found.reverse()
        return found

    def oldest(self) -> int:
        """The offset of the oldest frame still in memory."""
        return self._frames[0].start if self._frames else self.line_end

    async def wait_past(self, offset: int) -> None:
        """Return once lines past ``offset`` are published, or the log ended."""
        while self.line_end <= offset and self.final is None:
            await self._changed.wait()

    async def wait_written(self, offset: int) -> None:
        """Return once the file holds the log up to ``offset``, or it ended.

        An ended log's file is as complete as it will be: a write that
        failed does not keep a reader waiting.
        """
        while self.written < offset and self.final is None:
            await self._written_changed.wait()


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
        # Published, not yet in the file: whoever holds the lock next writes
        # all of it, so the file keeps the order of publication even when a
        # writer is canceled while it waits.
        self._unwritten: list[bytes] = []
        self._file_lock = trio.Lock()

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

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values this log is masked for."""
        return tuple(self._secrets)

    def mask(self, text: str) -> str:
        """``text`` with every secret of this log masked."""
        data = self._masker.mask(text.encode("utf-8", "surrogateescape"))
        return data.decode("utf-8", "surrogateescape")

    async def line(self, text: str) -> None:
        """Write a service line, masked, on a line of its own.

        A ``text`` of several lines (a recipe command with a here-document)
        becomes as many service lines, each with the prefix: a line of it
        without one would pass for the recipe's own output.
        """
        lead = b"" if self._ends_with_newline else b"\n"
        data = self._masker.mask(text.encode("utf-8", "replace"))
        framed = b"".join(PREFIX + part + b"\n" for part in data.split(b"\n"))
        await self._write(lead + framed)

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
        self.written += len(data)
        self._ends_with_newline = data.endswith(b"\n")
        # Watchers get the bytes at once; a round trip through a disk thread
        # under load would be most of the delay they see.
        self.feed.publish(data)
        self._unwritten.append(data)
        await self._drain()

    async def _drain(self) -> None:
        async with self._file_lock:
            if not self._unwritten or self._fd is None:
                return
            chunk = b"".join(self._unwritten)
            self._unwritten.clear()
            # Shielded: watchers have these bytes and nobody else holds them
            # now. A disk thread is not interrupted by a cancel anyway; it is
            # only refused before it starts, which would lose them.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_write_all, self._fd, chunk)
            self.feed.wrote(len(chunk))

    async def aclose(self) -> None:
        """Write what is still queued for the file, then close it."""
        if self._fd is not None:
            try:
                await self._drain()
            finally:
                fd, self._fd = self._fd, None
                # Shielded: a cancelled caller would otherwise leak the file.
                with trio.CancelScope(shield=True):
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
