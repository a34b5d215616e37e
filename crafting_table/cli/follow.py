"""Following a job live: its log over the websocket, its end as an exit status.

The service's ``/jobs/{id}/log/ws`` sends the log from its first line,
then each new line, then one ``end`` frame with the job's status. A
connection that drops or closes before ``end`` is opened again; the log is
sent again from the start, so the lines already printed are skipped by
count (the service splits lines the same way each time). When every
reconnection fails too, the follower gives up with one sentence saying why
the last one ended; a job whose log is empty gets a note saying so, so that
its end is never just a blank.

While the job is queued or running, a progress line on standard error
shows its state and age, fed by polling ``GET /jobs/{id}``; it is drawn
only on a terminal (see :class:`~crafting_table.cli.output.Output`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    open_websocket_url,
)

from crafting_table.cli.connection import Target, answer_of, segment, unreachable
from crafting_table.cli.output import Output
from crafting_table.errors import ServiceRefused, ServiceUnreachable

# Seconds to wait before each new connection after a drop; one entry per
# reconnection, so their number is how many drops are forgiven.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 5.0)
CONNECT_TIMEOUT = 15.0
POLL_SECONDS = 1.0
# The service batches up to 500 lines in a frame, and one line of a tool's
# JSON output can be megabytes; the library's default limit is 1 MiB.
MAX_FRAME = 64 * 1024 * 1024
# Shell conventions: 124 is what timeout(1) exits with, 130 is 128 + SIGINT;
# 125 is what timeout(1) and docker run exit with when they, not the
# command, failed: here, a job that failed without a recipe exit code
# (before its recipe ran, or orphaned by the service's death).
EXIT_TIMED_OUT = 124
EXIT_NO_RECIPE_CODE = 125
EXIT_CANCELED = 130


def exit_status(final: dict[str, Any]) -> int:
    """The exit status a shell should see for a job that ended as ``final``.

    0 for ``succeeded``; 124 for ``timed_out``; 130 for ``canceled``; the
    recipe's own exit code (1-255) for ``failed``; 125 when it failed
    before the recipe ran (no exit code: an unknown ref, a fetch that
    failed) or was orphaned by a restart; 1 when the recipe ended without
    one a shell can show.
    """
    status = final.get("status")
    code = final.get("exit_code")
    if status == "succeeded":
        return 0
    if status == "timed_out":
        return EXIT_TIMED_OUT
    if status == "canceled":
        return EXIT_CANCELED
    if code is None or (isinstance(code, int) and code < 0):
        # -1 marks a job the service's own stop orphaned.
        return EXIT_NO_RECIPE_CODE
    if isinstance(code, int) and 0 < code < 256:
        return code
    return 1


def follow(
    target: Target, job_id: str, out: Output, *, frames: bool = False
) -> dict[str, Any]:
    """Print the job's log until it ends; return the ``end`` frame.

    With ``frames``, each frame is printed as one line of JSON instead of
    the log's lines.

    Raises:
        ServiceRefused: the websocket was refused (e.g. an unknown job).
        ServiceUnreachable: the service could not be reached, or the
            connection dropped more often than :data:`RETRY_DELAYS` allows.
    """
    return trio.run(_follow, target, job_id, out, frames)


class _Progress:
    """The text of the progress line; redrawn after each batch of log lines."""

    def __init__(self, out: Output, job_id: str) -> None:
        self.out = out
        self.text = f"job {job_id}: connecting"

    def draw(self) -> None:
        self.out.progress(self.text)


async def _follow(
    target: Target, job_id: str, out: Output, frames: bool
) -> dict[str, Any]:
    progress = _Progress(out, job_id)
    try:
        async with trio.open_nursery() as nursery:
            if out.progress_enabled and not frames:
                nursery.start_soon(_poll, target, job_id, progress)
            final = await _tail(target, job_id, out, progress, frames)
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The poller raises nothing, so the group holds the tail's one
        # error (or Ctrl-C): the caller wants that error, not a group.
        error = _sole(group)
        if error is group:
            raise
        raise error from error.__cause__
    finally:
        out.clear_progress()
    return final


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The only exception inside ``group`` and its nested groups, or ``group``."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return group if isinstance(error, BaseExceptionGroup) else error


async def _tail(
    target: Target, job_id: str, out: Output, progress: _Progress, frames: bool
) -> dict[str, Any]:
    url = f"{target.ws_url}/jobs/{segment(job_id)}/log/ws"
    headers = [(b"Authorization", f"Bearer {target.token}".encode())]
    printed = 0
    connected = False
    failure: Exception | None = None
    reason = ""
    for delay in (0.0, *RETRY_DELAYS):
        await trio.sleep(delay)
        received = 0
        try:
            async with open_websocket_url(
                url,
                extra_headers=headers,
                max_message_size=MAX_FRAME,
                connect_timeout=CONNECT_TIMEOUT,
                disconnect_timeout=5,
            ) as ws:
                connected = True
                while True:
                    frame = _frame(await ws.get_message(), target, job_id)
                    if frame.get("type") == "end":
                        if frames:
                            out.json(frame, compact=True)
                        elif not printed:
                            out.note(f"job {job_id} wrote nothing to its log")
                        return frame
                    lines: list[str] = frame.get("lines", [])
                    fresh = lines[max(0, printed - received) :]
                    received += len(lines)
                    if fresh:
                        printed += len(fresh)
                        _emit(out, fresh, frames)
                        progress.draw()
        except ConnectionRejected as exc:
            raise _refused(exc) from exc
        except (HandshakeError, ConnectionClosed, OSError) as exc:
            if not connected:
                # Never connected: the service is down or the URL is wrong,
                # and waiting would not change that.
                raise unreachable(target.url, exc) from exc
            failure, reason = exc, _lost(exc)
    assert failure is not None
    raise ServiceUnreachable(
        f"lost the log of job {job_id!r} at {target.url} {len(RETRY_DELAYS) + 1} "
        f"times, the last because {reason}; the job itself may still be "
        f"running: see 'crafting-table job show {job_id}'"
    ) from failure


def _frame(message: str | bytes, target: Target, job_id: str) -> dict[str, Any]:
    """One frame of the log websocket as a dict.

    Raises:
        ServiceUnreachable: the frame is not a JSON object (not the service).
    """
    try:
        frame = json.loads(message)
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        shown = message[:80] if isinstance(message, str) else "binary data"
        raise ServiceUnreachable(
            f"the log websocket of job {job_id!r} at {target.url} sent {shown!r}, "
            "which is not the service's JSON; check the URL"
        )
    return frame


def _lost(exc: Exception) -> str:
    """Why a log connection ended early, as a clause for the final message."""
    if isinstance(exc, ConnectionClosed):
        close = exc.reason
        if close is None:
            return "the connection closed before the job's end"
        said = f": {close.reason}" if close.reason else ""
        return (
            "the connection closed before the job's end "
            f"(code {close.code} {close.name}{said})"
        )
    # HandshakeError says nothing itself; its cause does.
    cause = str(exc) or str(exc.__cause__ or "") or type(exc).__name__
    return f"connecting again failed ({cause})"


def _emit(out: Output, lines: list[str], frames: bool) -> None:
    if frames:
        out.json({"type": "lines", "lines": lines}, compact=True)
    else:
        for line in lines:
            out.line(line)
    out.stdout.flush()


def _refused(exc: ConnectionRejected) -> ServiceRefused:
    response = httpx.Response(exc.status_code, content=exc.body or b"")
    try:
        answer_of(response)
    except ServiceRefused as refused:
        return refused
    return ServiceRefused(exc.status_code, "rejected", "the websocket was refused")


async def _poll(target: Target, job_id: str, progress: _Progress) -> None:
    """Keep the progress line's text current: the job's status and age."""
    headers = {"Authorization": f"Bearer {target.token}"}
    status, since = "queued", trio.current_time()
    async with httpx.AsyncClient(
        base_url=target.url, headers=headers, timeout=10
    ) as http:
        while True:
            try:
                job = answer_of(await http.get(f"/jobs/{segment(job_id)}"))["job"]
            except (httpx.HTTPError, ServiceRefused, KeyError):
                # The tail reports real failures; the progress line only
                # goes stale until the next poll.
                job = {"status": status}
            if job["status"] != status:
                status, since = job["status"], trio.current_time()
            age = int(trio.current_time() - since)
            progress.text = f"job {job_id}: {status} {age}s"
            progress.draw()
            await trio.sleep(POLL_SECONDS)
