"""A job's log: the whole file over HTTP, or a live tail over a websocket.

``GET /jobs/{id}/log`` streams the file as it is now, whole or from
``?offset=`` or a ``Range`` header (206), so a client that lost its
connection resumes where it stopped. ``WS /jobs/{id}/log/ws`` sends what
the log holds, then every new line as the recipe writes it, then one final
message with the job's terminal status, and closes. Frames are JSON::

    {"type": "lines", "lines": ["...", "..."]}
    {"type": "end", "status": "failed", "exit_code": 2, "error": null,
     "findings_count": 3}
"""

from __future__ import annotations

import contextlib
import json
import re
import reprlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import trio
from pydantic import BaseModel, Field
from quart import Blueprint, Response, request, websocket
from quart_schema import document_headers, operation_id, validate_querystring

from crafting_table.errors import (
    ApiError,
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
from crafting_table.models import Query
from crafting_table.server.access import visible_job
from crafting_table.server.app import WS_SUBPROTOCOL, context
from crafting_table.server.openapi import ERROR_SCHEMA, document_answer

blueprint = Blueprint("logs", __name__)

CHUNK = 64 * 1024
# Lines per websocket frame: batching keeps a chatty job from costing one
# frame per line per watcher.
FRAME_LINES = 500
# Only ASCII digits: \d would also take other scripts' digits, which
# int() reads but RFC 9110 does not allow.
_BYTE_RANGE = re.compile(r"(?P<first>[0-9]*)-(?P<last>[0-9]*)")
_RANGE_ADVICE = "send 'bytes=<first>-', 'bytes=<first>-<last>' or 'bytes=-<count>'"
# A Range header is shown in an error message, but not all of a huge one.
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 60
TEXT = {"text/plain": {"schema": {"type": "string"}}}
LOG_HEADERS = {
    "Accept-Ranges": "Always bytes.",
    "X-Log-Size": "The size of the whole log now, in bytes.",
    "X-Job-Status": "The job's status when the answer started.",
}


class LogQuery(Query):
    """Query string of ``GET /jobs/{id}/log``."""

    offset: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Start at this byte of the log: 206 below its size, 204 at it, "
            "416 past it; a Range header wins."
        ),
    )


class LogHeaders(BaseModel):
    """Request headers ``GET /jobs/{id}/log`` reads."""

    range: str | None = Field(
        default=None,
        description=(
            "bytes=<first>-, bytes=<first>-<last> or bytes=-<count> (206); "
            "a range this log cannot serve is a 416, another unit is ignored."
        ),
    )


class _Part(NamedTuple):
    """The bytes of the log an answer carries, and its status."""

    start: int
    end: int  # exclusive
    status: int


class FollowHeaders(BaseModel):
    """Request headers of the websocket handshake, beyond the standard ones."""

    sec_websocket_protocol: str | None = Field(
        default=None,
        description=(
            f"Offer {WS_SUBPROTOCOL!r}, which the answer selects; a browser, "
            "which cannot send Authorization, adds 'bearer.<token>'."
        ),
    )


def _requested_part(size: int, offset_arg: int | None) -> _Part:
    """The part of a log of ``size`` bytes that the request asks for.

    Raises:
        RangeNotSatisfiable: the Range header is a bytes range this log
            cannot serve, or ``?offset=`` is past the end of the log.
    """
    header = request.headers.get("Range")
    if header:
        part = _byte_range(header, size)
        if part is not None:
            return part
    if offset_arg is None:
        return _Part(0, size, 200)
    if offset_arg > size:
        raise RangeNotSatisfiable(
            f"offset {offset_arg} is past the end of the log ({size} bytes); "
            f"send an offset of at most {size}",
            size=size,
        )
    # Content-Range cannot state an empty range, so a 206 is impossible at
    # the end; a 416 there, as for a Range, would make a client that polls
    # an idle log treat "nothing new yet" as an error.
    return _Part(offset_arg, size, 204 if offset_arg == size else 206)


def _byte_range(header: str, size: int) -> _Part | None:
    """The part a Range header asks for, None when it is to be ignored."""
    unit, equals, specs = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        # RFC 9110, section 14.2: a range unit the server does not know is
        # ignored and the whole representation answers.
        return None
    # Empty list elements are allowed and mean nothing (RFC 9110, 5.6.1).
    ranges = [spec.strip() for spec in specs.split(",") if spec.strip()]
    if len(ranges) != 1:
        # One part at a time: serving several would need multipart bodies,
        # which no client of a log wants.
        raise _unsatisfiable(header, size, "is not exactly one byte range")
    match = _BYTE_RANGE.fullmatch(ranges[0])
    if match is None or not (match["first"] or match["last"]):
        raise _unsatisfiable(header, size, "is not understood")

    if not match["first"]:
        count = _position(match["last"])
        if count == 0:
            raise _unsatisfiable(header, size, "asks for the last 0 bytes")
        if size == 0:
            # Every suffix of an empty log is empty, and Content-Range has
            # no form for an empty range: the whole, empty, log answers.
            return None
        return _Part(max(0, size - count), size, 206)
    first = _position(match["first"])
    last = _position(match["last"]) if match["last"] else None
    if last is not None and last < first:
        raise _unsatisfiable(header, size, "ends before it starts")
    if first >= size:
        raise _unsatisfiable(
            header,
            size,
            f"starts at or past the end of the log ({size} bytes)",
            f"send ?offset={size} instead, which answers 204 until it grows",
        )
    return _Part(first, size if last is None else min(last + 1, size), 206)


def _position(digits: str) -> int:
    # int() refuses strings of more than 4300 digits; any number of more
    # than 18 digits is past the end of every log, so stop at 10**18.
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


def _unsatisfiable(
    header: str, size: int, problem: str, advice: str = _RANGE_ADVICE
) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"Range {_SHOWN.repr(header)} {problem}; {advice}", size=size
    )


@blueprint.get("/jobs/<job_id>/log")
@validate_querystring(LogQuery)
@document_headers(LogHeaders)
@document_answer(
    200,
    "The whole log as it is now (also when a Range is ignored).",
    content=TEXT,
    headers=LOG_HEADERS,
)
@document_answer(
    204,
    "``offset`` is the log's size: nothing follows it yet.",
    headers=LOG_HEADERS,
)
@document_answer(
    206,
    "The requested bytes of the log as it is now.",
    content=TEXT,
    headers=LOG_HEADERS | {"Content-Range": "bytes <first>-<last>/<size>"},
)
@document_answer(
    416,
    "``offset`` is past the end of the log, or the Range is not one bytes "
    "range that overlaps the log.",
    content={"application/json": {"schema": ERROR_SCHEMA}},
    headers={"Content-Range": "bytes */<size>"},
)
async def download(job_id: str, query_args: LogQuery) -> Response:
    """The log as plain text, whole or in part, as it is now.

    Without ``offset`` or ``Range`` the answer is a 200 with the whole log.
    ``X-Log-Size`` always gives the log's size at the time of the answer.

    ``?offset=N`` resumes where a client stopped: a 206 with the log from
    byte N to its end when N is below the size, a 204 with no body when N
    is the size (nothing new yet; ask again later), a 416 past it.

    A ``Range`` header wins over ``offset`` and follows RFC 9110:
    ``bytes=N-`` (from N), ``bytes=N-M`` (N to M inclusive, cut at the
    end) and ``bytes=-K`` (the last K bytes, the whole log if it is
    shorter) answer a 206 with ``Content-Range``. A range that starts at
    or past the end, also ``bytes=N-`` with N equal to the size, one that
    ends before it starts, ``bytes=-0``, several ranges, or one that is not
    understood answer a 416 with ``Content-Range: bytes */<size>``. A
    range unit other than bytes is ignored, and so is a suffix range on an
    empty log (200, empty).
    """
    row = await visible_job(job_id)
    path = context().settings.data_dir / row.log_path
    size = file_size(path)
    part = _requested_part(size, query_args.offset)
    start, end = part.start, part.end

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
    response.status_code = part.status
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["X-Log-Size"] = str(size)
    response.headers["X-Job-Status"] = row.status
    if part.status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    if part.status != 204:
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
    ``{"type": "end", "status": "failed", "exit_code": 2, "error": null,
    "findings_count": 3}`` frame with its terminal status (``error`` says
    why a job failed or was canceled where its recipe's exit code does
    not), then a close with code 1000. A job that already ended sends its
    whole log and the end frame at once.
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
    ending = final.ending() if final is not None else {"status": status}
    await websocket.send(json.dumps({"type": "end", **ending}))
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
