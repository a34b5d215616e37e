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
from pydantic import BaseModel, Field
from quart import Blueprint, Response, request, websocket
from quart_schema import document_headers, operation_id, validate_querystring

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
from crafting_table.models import Strict
from crafting_table.server.access import visible_job
from crafting_table.server.app import WS_SUBPROTOCOL, context
from crafting_table.server.openapi import ERROR_SCHEMA, document_answer

blueprint = Blueprint("logs", __name__)

CHUNK = 64 * 1024
# Lines per websocket frame: batching keeps a chatty job from costing one
# frame per line per watcher.
FRAME_LINES = 500
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
TEXT = {"text/plain": {"schema": {"type": "string"}}}
LOG_HEADERS = {
    "Accept-Ranges": "Always bytes.",
    "X-Log-Size": "The size of the whole log now, in bytes.",
    "X-Job-Status": "The job's status when the answer started.",
}


class LogQuery(Strict):
    """Query string of ``GET /jobs/{id}/log``."""

    offset: int | None = Field(
        default=None,
        ge=0,
        description="Start at this byte of the log (206); a Range header wins.",
    )


class LogHeaders(BaseModel):
    """Request headers ``GET /jobs/{id}/log`` reads."""

    range: str | None = Field(
        default=None,
        description="bytes=<start>-[<end>] (206); a start past the end is a 416.",
    )


class FollowHeaders(BaseModel):
    """Request headers of the websocket handshake, beyond the standard ones."""

    sec_websocket_protocol: str | None = Field(
        default=None,
        description=(
            f"Offer {WS_SUBPROTOCOL!r}, which the answer selects; a browser, "
            "which cannot send Authorization, adds 'bearer.<token>'."
        ),
    )


def _requested_range(size: int, offset_arg: int | None) -> tuple[int, int, bool]:
    """(start, end exclusive, partial) from ``?offset=`` or a Range header."""
    header = request.headers.get("Range")
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
        start, end, partial = offset_arg, size, True
    else:
        return 0, size, False
    if start > size or (start == size and size > 0 and header):
        raise RangeNotSatisfiable(
            f"offset {start} is past the end of the log ({size} bytes)", size=size
        )
    return start, min(end, size), partial


@blueprint.get("/jobs/<job_id>/log")
@validate_querystring(LogQuery)
@document_headers(LogHeaders)
@document_answer(200, "The whole log as it is now.", content=TEXT, headers=LOG_HEADERS)
@document_answer(
    206,
    "The log from ``offset`` or the Range start to its end as it is now.",
    content=TEXT,
    headers=LOG_HEADERS | {"Content-Range": "bytes <start>-<end>/<size>"},
)
@document_answer(
    416,
    "The offset or Range start is past the end of the log.",
    content={"application/json": {"schema": ERROR_SCHEMA}},
    headers={"Content-Range": "bytes */<size>"},
)
async def download(job_id: str, query_args: LogQuery) -> Response:
    """The log as plain text, whole or from an offset (``Range`` supported).

    ``?offset=N`` or ``Range: bytes=N-`` answers 206 with the log from byte
    N, so a client that lost its connection resumes where it stopped; an
    offset equal to the size answers an empty 206, a Range starting there
    a 416 (unless the log is empty). A malformed Range is a 400.
    """
    row = await visible_job(job_id)
    path = context().settings.data_dir / row.log_path
    size = file_size(path)
    start, end, partial = _requested_range(size, query_args.offset)

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
@operation_id("follow_log")
@document_headers(FollowHeaders)
@document_answer(
    101,
    "Switching Protocols: the websocket is open and the frames follow.",
    headers={"Sec-WebSocket-Protocol": f"{WS_SUBPROTOCOL!r} when it was offered."},
)
@document_answer(
    426,
    "A plain HTTP request, not a websocket handshake.",
    content={"application/json": {"schema": ERROR_SCHEMA}},
    headers={"Upgrade": "websocket"},
)
async def follow(job_id: str) -> Any:
    """Follow a job's log live over a websocket (``ws://`` or ``wss://``).

    A websocket handshake (``Upgrade: websocket``) on this path. The bearer
    goes in ``Authorization: Bearer <token>``, or, from a browser, which
    cannot set that header, as the subprotocols ``Sec-WebSocket-Protocol:
    crafting-table, bearer.<token>``. A refused handshake answers with the
    usual JSON error (401, 403, 404) instead of 101.

    Every frame is a JSON text message. First the log as it is, then every
    line as the recipe writes it, in ``{"type": "lines", "lines": ["...",
    "..."]}`` frames (at most 500 lines each); when the job has ended, one
    ``{"type": "end", "status": "succeeded", "exit_code": 0,
    "findings_count": 3}`` frame with its terminal status, then a close with
    code 1000. A job that already ended sends its whole log and the end
    frame at once.
    """
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
        await feed.wait_written(offset)
        await _send_file(path, 0, offset, splitter)
        await _send_lines(splitter.rest())
        while True:
            frames = feed.frames_from(offset)
            if frames is None:
                upto = feed.oldest()
                await feed.wait_written(upto)
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
