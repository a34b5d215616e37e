"""A job's log: the whole file over HTTP, or a live tail over a websocket.

``GET /jobs/{id}/log`` streams the file as it is now, from ``?offset=`` or
a ``Range: bytes=N-`` header (206), so a client that lost its connection
resumes where it stopped. ``WS /jobs/{id}/log/ws`` sends what the log holds,
then every new line as the recipe writes it, then one final message with
the job's terminal status, and closes. Frames are JSON::

    {"type": "lines", "lines": ["...", "..."]}
    {"type": "end", "status": "succeeded", "exit_code": 0, "findings_count": 3}
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio
from quart import Blueprint, Response, request, websocket

from crafting_table.errors import (
    ApiError,
    BadRequest,
    CraftingError,
    RangeNotSatisfiable,
)
from crafting_table.joblog import (
    LogFeed,
    file_size,
    lines_frame,
    merge_frames,
    read_range,
)
from crafting_table.ledger import jobs as job_store
from crafting_table.messages import WatchLog
from crafting_table.server.access import visible_job
from crafting_table.server.app import WS_SUBPROTOCOL, context

blueprint = Blueprint("logs", __name__)

CHUNK = 64 * 1024
# Lines per websocket frame: batching keeps a chatty job from costing one
# frame per line per watcher.
FRAME_LINES = 500
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _requested_range(size: int) -> tuple[int, int, bool]:
    """(start, end exclusive, partial) from ``?offset=`` or a Range header."""
    header = request.headers.get("Range")
    offset_arg = request.args.get("offset")
    if header:
        match = _RANGE.match(header.strip())
        if not match:
            raise BadRequest(
                f"Range {header!r} is not understood; send 'bytes=<start>-[<end>]'"
            )
        start = int(match[1])
        end = int(match[2]) + 1 if match[2] else size
        partial = True
    elif offset_arg is not None:
        if not offset_arg.isdigit():
            raise BadRequest(f"offset {offset_arg!r} is not a byte count")
        start, end, partial = int(offset_arg), size, True
    else:
        return 0, size, False
    if start > size or (start == size and size > 0 and header):
        raise RangeNotSatisfiable(
            f"offset {start} is past the end of the log ({size} bytes)", size=size
        )
    return start, min(end, size), partial


@blueprint.get("/jobs/<job_id>/log")
async def download(job_id: str) -> Response:
    """The log as plain text, whole or from an offset (``Range`` supported)."""
    row = await visible_job(job_id)
    path = context().settings.data_dir / row.log_path
    size = file_size(path)
    start, end, partial = _requested_range(size)

    async def body() -> AsyncIterator[bytes]:
        position = start
        while position < end:
            data = await read_range(path, position, min(CHUNK, end - position))
            if not data:
                break
            position += len(data)
            yield data

    response = Response(
        body(), mimetype="text/plain", content_type="text/plain; charset=utf-8"
    )
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["X-Log-Size"] = str(size)
    response.headers["X-Job-Status"] = row.status
    if partial:
        response.status_code = 206
        response.headers["Content-Range"] = (
            f"bytes {start}-{max(start, end - 1)}/{size}"
        )
    response.headers["Content-Length"] = str(end - start)
    return response


class _Lines:
    """Splits a byte stream into complete lines, keeping the partial tail."""

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        data = self._partial + data
        head, sep, self._partial = data.rpartition(b"\n")
        if not sep:
            self._partial = data
            return []
        return head.decode("utf-8", "replace").split("\n")

    def rest(self) -> list[str]:
        tail, self._partial = self._partial, b""
        return [tail.decode("utf-8", "replace")] if tail else []


async def _send_lines(lines: list[str]) -> None:
    for start in range(0, len(lines), FRAME_LINES):
        await websocket.send(lines_frame(lines[start : start + FRAME_LINES]))


async def _send_file(path: Path, start: int, end: int, splitter: _Lines) -> None:
    position = start
    while position < end:
        data = await read_range(path, position, min(CHUNK, end - position))
        if not data:
            break
        position += len(data)
        await _send_lines(splitter.feed(data))


@blueprint.websocket("/jobs/<job_id>/log/ws")
async def follow(job_id: str) -> Any:
    """Tail a job's log live; see the module docstring for the frames."""
    try:
        row = await visible_job(job_id)
    except ApiError as exc:
        return _reject(exc)
    ctx = context()
    offered = websocket.requested_subprotocols
    await websocket.accept(
        subprotocol=WS_SUBPROTOCOL if WS_SUBPROTOCOL in offered else None
    )

    path = ctx.settings.data_dir / row.log_path
    splitter = _Lines()
    feed: LogFeed | None = await ctx.runner.ask(WatchLog(job_id=job_id))
    if feed is None:
        await _send_file(path, 0, file_size(path), splitter)
        await _send_lines(splitter.rest())
        final = await ctx.ledger.read(job_store.get, job_id)
        await _send_end(final.status if final else row.status, final)
        return None

    feed.watchers += 1
    try:
        # The file up to the last complete line published, then the feed's
        # frames, which every watcher shares; one who falls behind what the
        # feed keeps in memory catches up from the file.
        offset = feed.line_end
        await _send_file(path, 0, offset, splitter)
        await _send_lines(splitter.rest())
        while True:
            frames = feed.frames_from(offset)
            if frames is None:
                upto = feed.oldest()
                await _send_file(path, offset, upto, splitter)
                await _send_lines(splitter.rest())
                offset = upto
                continue
            if frames:
                await websocket.send(merge_frames(frames))
                offset = frames[-1].end
            if feed.final is not None and offset >= feed.line_end:
                break
            await feed.wait_past(offset)
        await websocket.send(json.dumps({"type": "end", **feed.final}))
    finally:
        feed.watchers -= 1
    await _close()
    return None


async def _send_end(status: str, final: Any) -> None:
    message: dict[str, Any] = {"type": "end", "status": status}
    if final is not None:
        message["exit_code"] = final.exit_code
        message["findings_count"] = final.findings_count
    await websocket.send(json.dumps(message))
    await _close()


async def _close() -> None:
    # A watcher that got the last frame often closes first; hypercorn is
    # then answering that close on the same connection while ours goes out,
    # and the two sends collide. The connection is over either way.
    with contextlib.suppress(trio.BusyResourceError, trio.BrokenResourceError):
        await websocket.close(1000)


def _reject(error: CraftingError) -> Response:
    body = {"ok": False, "error": {"code": error.code, "message": error.message}}
    return Response(json.dumps(body), status=error.status, mimetype="application/json")
