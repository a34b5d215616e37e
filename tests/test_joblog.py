"""Job logs: the cap and its marker, masking, and reading the tail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import trio
import trio.testing

from crafting_table import joblog
from crafting_table.joblog import LogFeed, LogWriter, read_tail


async def write(path: Path, cap: int, chunks: list[bytes], secrets: list[str]) -> bytes:
    writer = LogWriter(path, cap, secrets, LogFeed(path))
    await writer.open()
    for chunk in chunks:
        await writer.output(chunk)
    await writer.flush_output()
    await writer.line("end")
    await writer.aclose()
    return path.read_bytes()


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"x" * 8, b"y" * 8], id="cap-reached-exactly-then-more"),
        pytest.param([b"x" * 12, b"y" * 4], id="cap-inside-a-read"),
        pytest.param([b"x" * 4, b"x" * 4, b"y" * 8, b"z"], id="many-reads"),
    ],
)
async def test_the_cap_always_leaves_its_marker(
    tmp_path: Path, chunks: list[bytes]
) -> None:
    log = await write(tmp_path / "log", 8, chunks, [])

    assert log.startswith(b"x" * 8 + b"\n[crafting-table] log truncated")
    assert b"yyy" not in log
    assert b"z" not in log
    assert log.count(b"log truncated") == 1
    assert log.endswith(b"[crafting-table] end\n")


async def test_no_marker_under_the_cap(tmp_path: Path) -> None:
    log = await write(tmp_path / "log", 8, [b"abc", b"defgh"], [])

    assert log == b"abcdefgh\n[crafting-table] end\n"


async def test_every_line_of_a_service_text_carries_the_prefix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log"
    writer = LogWriter(path, 100, ["tok-0123456789"], LogFeed(path))
    await writer.open()
    await writer.output(b"partial")
    await writer.line('$ cat > r.json <<\'EOF\'\n{"token": "tok-0123456789"}\nEOF')
    await writer.aclose()

    assert path.read_bytes() == (
        b"partial\n"
        b"[crafting-table] $ cat > r.json <<'EOF'\n"
        b'[crafting-table] {"token": "***"}\n'
        b"[crafting-table] EOF\n"
    )


async def test_a_secret_split_across_reads_is_masked(tmp_path: Path) -> None:
    secret = "tok-0123456789"

    log = await write(tmp_path / "log", 1000, [b"a tok-01234", b"56789 b\n"], [secret])

    assert secret.encode() not in log
    assert log.startswith(b"a *** b\n")


async def test_tail_reads_the_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"".join(b"line %d\n" % n for n in range(10_000)))

    tail = await read_tail(path, 3)

    assert tail == ["line 9997", "line 9998", "line 9999"]


def frame_lines(feed: LogFeed, offset: int = 0) -> list[str]:
    frames = feed.frames_from(offset)
    assert frames is not None
    return [line for f in frames for line in json.loads(f.text)["lines"]]


def test_feed_cuts_writes_into_shared_frames_of_whole_lines(tmp_path: Path) -> None:
    feed = LogFeed(tmp_path / "log")

    feed.publish(b"one\ntw")
    feed.publish(b"o\nthree")
    assert frame_lines(feed) == ["one", "two"]
    assert feed.line_end == len(b"one\ntwo\n")
    feed.finish({"status": "succeeded"})

    assert frame_lines(feed) == ["one", "two", "three"]
    assert feed.line_end == feed.size


def test_feed_sends_a_huge_line_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(joblog, "FEED_MAX_LINE", 4)
    feed = LogFeed(tmp_path / "log")

    feed.publish(b"abcdefgh")

    assert frame_lines(feed) == ["abcdefgh"]


def test_feed_forgets_old_frames_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(joblog, "FEED_MEMORY", 100)
    feed = LogFeed(tmp_path / "log")

    for n in range(50):
        feed.publish(b"line %d\n" % n)

    assert feed.frames_from(0) is None
    assert feed.oldest() > 0
    assert frame_lines(feed, feed.oldest())[-1] == "line 49"


def test_merged_frames_carry_every_line_in_order() -> None:
    frames = [
        joblog.Frame(0, 4, joblog.lines_frame(["a", 'b "q"'])),
        joblog.Frame(4, 4, joblog.lines_frame([])),
        joblog.Frame(4, 9, joblog.lines_frame(["\u00e9t\u00e9"])),
    ]

    merged = json.loads(joblog.merge_frames(frames))

    assert merged == {"type": "lines", "lines": ["a", 'b "q"', "\u00e9t\u00e9"]}


async def test_a_reader_of_the_file_waits_for_what_watchers_already_have(
    tmp_path: Path,
) -> None:
    feed = LogFeed(tmp_path / "log")
    feed.publish(b"one\ntwo\n")
    caught_up: list[int] = []

    async def reader() -> None:
        await feed.wait_written(feed.line_end)
        caught_up.append(feed.written)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        feed.wrote(4)
        await trio.testing.wait_all_tasks_blocked()
        assert caught_up == []
        feed.wrote(4)

    assert caught_up == [8]


async def test_an_ended_log_keeps_no_reader_waiting_for_a_failed_write(
    tmp_path: Path,
) -> None:
    feed = LogFeed(tmp_path / "log")
    feed.publish(b"lost\n")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed.wait_written, feed.line_end)
            await trio.testing.wait_all_tasks_blocked()
            feed.finish({"status": "failed"})

    assert feed.written == 0


BIG = b"a" * 200_000 + b"\n"


async def unread_fifo_log(tmp_path: Path) -> tuple[int, LogFeed, LogWriter]:
    """A log that is a FIFO nobody reads yet: a write of ``BIG`` stays in its
    disk thread until the test reads from the returned (non-blocking) end."""
    path = tmp_path / "log"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    feed = LogFeed(path)
    writer = LogWriter(path, len(BIG) + 100, [], feed)
    await writer.open()
    return reader, feed, writer


async def test_the_file_keeps_the_order_watchers_saw_when_a_writer_is_canceled(
    tmp_path: Path,
) -> None:
    # The log is a FIFO nobody reads yet, so the first write stays in its
    # disk thread while two more are published and wait for the file.
    reader, feed, writer = await unread_fifo_log(tmp_path)
    waiting = [trio.CancelScope(), trio.CancelScope()]

    async def write(text: bytes, scope: trio.CancelScope) -> None:
        with scope:
            await writer.output(text)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write, BIG, trio.CancelScope())
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(write, b"b\n", waiting[0])
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(write, b"c\n", waiting[1])
        await trio.testing.wait_all_tasks_blocked()
        for scope in waiting:
            scope.cancel()
        os.set_blocking(reader, True)
        got = await trio.to_thread.run_sync(read_exactly, reader, len(BIG))
    await writer.aclose()
    got += await trio.to_thread.run_sync(read_exactly, reader, 4)
    os.close(reader)

    assert all(scope.cancelled_caught for scope in waiting)
    assert got == BIG + b"b\nc\n"
    assert frame_lines(feed)[1:] == ["b", "c"]
    assert feed.written == len(got)


async def test_a_write_canceled_once_it_holds_the_file_still_reaches_it(
    tmp_path: Path,
) -> None:
    # The log is a FIFO nobody reads yet: the first write holds the file
    # while the second waits for it, and the second is canceled just as the
    # first hands the file over, before it reaches the disk thread.
    reader, feed, writer = await unread_fifo_log(tmp_path)
    second = trio.CancelScope()

    async def first() -> None:
        await writer.output(BIG)
        second.cancel()

    async def then() -> None:
        with second:
            await writer.output(b"b\n")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(first)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(then)
        await trio.testing.wait_all_tasks_blocked()
        os.set_blocking(reader, True)
        got = await trio.to_thread.run_sync(read_exactly, reader, len(BIG))
    await writer.aclose()
    got += await trio.to_thread.run_sync(read_to_end, reader)
    os.close(reader)

    assert got == BIG + b"b\n"
    with trio.fail_after(5):
        await feed.wait_written(feed.line_end)


def read_to_end(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        assert chunk, "the log ended early"
        data += chunk
    return data
