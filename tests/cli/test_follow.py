"""Following a job: the exit status it maps to, reconnection, a refused tail,
and the terminal's view of it (colour and progress line) through a pty."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketRequest, serve_websocket

from actors.serve import ServiceHandle
from crafting_table.cli.connection import Target
from crafting_table.cli.follow import exit_status, follow
from crafting_table.cli.output import Output
from crafting_table.errors import ServiceRefused, ServiceUnreachable
from tests.cli.conftest import invoke
from tests.support import Repo, enqueue, register


@pytest.mark.parametrize(
    ("final", "expected"),
    [
        ({"status": "succeeded", "exit_code": 0}, 0),
        ({"status": "failed", "exit_code": 3}, 3),
        ({"status": "failed", "exit_code": 255}, 255),
        ({"status": "failed", "exit_code": 137}, 137),
        ({"status": "failed", "exit_code": -1}, 125),
        ({"status": "failed", "exit_code": None}, 125),
        ({"status": "failed", "exit_code": 0}, 1),
        ({"status": "timed_out", "exit_code": 143}, 124),
        ({"status": "canceled", "exit_code": None}, 130),
        ({"status": "succeeded"}, 0),
    ],
    ids=[
        "succeeded",
        "failed-3",
        "failed-255",
        "killed-by-signal",
        "orphaned",
        "no-exit-code",
        "failed-despite-0",
        "timed-out",
        "canceled",
        "no-code-field",
    ],
)
def test_exit_status(final: dict[str, Any], expected: int) -> None:
    assert exit_status(final) == expected


class FlakyTail:
    """A log websocket that drops the first ``drops`` connections midway.

    Every connection sends the whole log from the start, in frames of a
    few lines, as the service does; a dropped one stops after two frames.
    """

    def __init__(self, lines: list[str], drops: int) -> None:
        self.lines = lines
        self.drops = drops
        self.connections = 0
        self.headers: list[dict[bytes, bytes]] = []

    async def handle(self, request: WebSocketRequest) -> None:
        self.headers.append(dict(request.headers))
        ws = await request.accept()
        self.connections += 1
        dropping = self.connections <= self.drops
        for number, start in enumerate(range(0, len(self.lines), 3)):
            if dropping and number == 2:
                await ws.aclose(code=1011)
                return
            batch = self.lines[start : start + 3]
            await ws.send_message(json.dumps({"type": "lines", "lines": batch}))
        end = {"type": "end", "status": "failed", "exit_code": 2}
        await ws.send_message(json.dumps({**end, "findings_count": 0}))
        await ws.aclose()


async def serve_tail(nursery: trio.Nursery, tail: FlakyTail | OddTail) -> Target:
    server = await nursery.start(
        partial(serve_websocket, tail.handle, "127.0.0.1", 0, ssl_context=None)
    )
    port = server.port
    return Target(url=f"http://127.0.0.1:{port}", token="ct_secret")


def plain_output() -> tuple[Output, io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    return Output(stdout, stderr, {}), stdout, stderr


@pytest.mark.parametrize("drops", [0, 1, 3], ids=["steady", "one-drop", "three-drops"])
async def test_a_dropped_tail_resumes_without_repeating_lines(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch, drops: int
) -> None:
    monkeypatch.setattr("crafting_table.cli.follow.RETRY_DELAYS", (0.01,) * 5)
    lines = [f"line {i}" for i in range(20)]
    tail = FlakyTail(lines, drops)
    target = await serve_tail(nursery, tail)
    out, stdout, _ = plain_output()

    final = await trio.to_thread.run_sync(follow, target, "job1", out)

    assert stdout.getvalue().splitlines() == lines
    assert final["status"] == "failed"
    assert exit_status(final) == 2
    assert tail.connections == drops + 1
    assert {h[b"authorization"] for h in tail.headers} == {b"Bearer ct_secret"}


async def test_a_tail_that_keeps_dropping_gives_up(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crafting_table.cli.follow.RETRY_DELAYS", (0.01,) * 5)
    tail = FlakyTail([f"line {i}" for i in range(20)], drops=100)
    target = await serve_tail(nursery, tail)
    out, stdout, _ = plain_output()

    with pytest.raises(ServiceUnreachable, match="lost the log of job 'job1'"):
        await trio.to_thread.run_sync(follow, target, "job1", out)
    # Each line printed once however often the connection dropped.
    assert stdout.getvalue().splitlines() == [f"line {i}" for i in range(6)]


class OddTail:
    """A log websocket that misbehaves in one way on every connection."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0

    async def handle(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        self.connections += 1
        if self.mode == "no-end":
            await ws.send_message(json.dumps({"type": "lines", "lines": ["one"]}))
            await ws.aclose(code=1001, reason="going away")
        elif self.mode == "not-json":
            await ws.send_message("<html>a proxy's page</html>")
            await ws.aclose()
        else:
            end = {"type": "end", "status": "succeeded", "exit_code": 0}
            await ws.send_message(json.dumps(end))
            await ws.aclose()


@pytest.mark.parametrize(
    ("mode", "status", "out", "err"),
    [
        pytest.param(
            "no-end",
            3,
            "one\n",
            "crafting-table: lost the log of job 'job1' at {url} 6 times, the last "
            "because the connection closed before the job's end (code 1001 "
            "GOING_AWAY: going away); the job itself may still be running: see "
            "'crafting-table job show job1'\n",
            id="closed-before-the-end",
        ),
        pytest.param(
            "not-json",
            3,
            "",
            "crafting-table: the log websocket of job 'job1' at {url} sent "
            "\"<html>a proxy's page</html>\", which is not the service's JSON; "
            "check the URL\n",
            id="not-the-service",
        ),
        pytest.param(
            "empty",
            0,
            "",
            "job job1 wrote nothing to its log\njob job1 succeeded with exit code 0\n",
            id="empty-log",
        ),
    ],
)
async def test_a_tail_that_ends_oddly_says_so_in_one_line(
    nursery: trio.Nursery,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    status: int,
    out: str,
    err: str,
) -> None:
    monkeypatch.setattr("crafting_table.cli.follow.RETRY_DELAYS", (0.01,) * 5)
    tail = OddTail(mode)
    target = await serve_tail(nursery, tail)
    argv = ["job", "log", "job1", "--follow", "--url", target.url, "--token", "t"]
    capsys.readouterr()

    ran = await trio.to_thread.run_sync(invoke, argv)

    captured = capsys.readouterr()
    assert (ran, captured.out) == (status, out)
    assert captured.err == err.format(url=target.url)
    assert tail.connections == (6 if mode == "no-end" else 1)


async def test_a_refused_tail_carries_the_api_message(
    service: ServiceHandle,
) -> None:
    assert service.admin_bearer is not None
    target = Target(url=service.url, token=service.admin_bearer)
    out, _, _ = plain_output()

    with pytest.raises(ServiceRefused) as caught:
        await trio.to_thread.run_sync(follow, target, "no-such-job", out)

    assert caught.value.http_status == 404
    assert caught.value.message == "not_found: no job with id 'no-such-job'"


def run_on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the client with stdout and stderr on a pseudo-terminal."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "crafting_table.cli.main", *argv],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    return process.wait(timeout=60), seen.decode("utf-8", "replace")


def watch_stderr_on_a_terminal(
    argv: list[str],
    env: dict[str, str],
    stdout: Path,
    until: bytes,
    then: Callable[[], None],
) -> tuple[int, str]:
    """Run the client with stderr on a pseudo-terminal, stdout into a file.

    Once the terminal has shown ``until``, ``then()`` is called once.
    Returns the exit status and everything the terminal showed.
    """
    controller, terminal = pty.openpty()
    with stdout.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "crafting_table.cli.main", *argv],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=terminal,
            env=env,
        )
    os.close(terminal)
    seen = b""
    fired = False
    deadline = time.monotonic() + 60
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting; the terminal showed {seen!r}")
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            seen += chunk
            if not fired and until in seen:
                fired = True
                then()
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return process.wait(timeout=60), seen.decode("utf-8", "replace")


async def test_a_queued_job_shows_its_wait_on_stderr_only(
    service: ServiceHandle,
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
) -> None:
    assert service.admin_bearer is not None
    repo: Repo = make_repo()
    gate = tmp_path / "go"
    # One job at a time for this project: the test job waits behind the
    # build, which holds its slot until the gate file exists.
    answer = await admin.post(
        "/projects",
        json={
            "name": "demo",
            "git_url": repo.url,
            "max_concurrent_jobs": 1,
            "subprojects": [
                {
                    "path": ".",
                    "language": "generic",
                    "build": f"while [ ! -e {gate} ]; do sleep 0.05; done",
                    "test": "echo held back",
                }
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    blocker = await enqueue(admin, "demo", recipe="build")
    with trio.fail_after(30):
        while (await admin.get(f"/jobs/{blocker}")).json()["job"]["status"] != (
            "running"
        ):
            await trio.sleep(0.05)
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env |= {
        "CRAFTING_TABLE_BASE_URL": service.url,
        "CRAFTING_TABLE_TOKEN": service.admin_bearer,
        "COLUMNS": "200",
    }
    log = tmp_path / "log.txt"

    status, screen = await trio.to_thread.run_sync(
        watch_stderr_on_a_terminal,
        ["job", "run", "demo", "test", "--follow"],
        env,
        log,
        b": queued 2s",
        gate.touch,
    )

    assert status == 0
    job_id = screen.split("queued job ", 1)[1].split(":", 1)[0]
    # The progress line counts the seconds the job has waited, each drawn
    # over the last, and is erased before the final note.
    assert f"\r\x1b[Kjob {job_id}: queued 0s" in screen
    assert f"\r\x1b[Kjob {job_id}: queued 1s" in screen
    assert f"\r\x1b[Kjob {job_id}: queued 2s" in screen
    assert screen.endswith(f"\r\x1b[Kjob {job_id} succeeded with exit code 0\r\n")
    assert "held back" not in screen
    # Standard output is not a terminal: the log alone, no progress.
    printed = log.read_text()
    assert "held back\n" in printed
    assert f"job {job_id}:" not in printed
    assert "\x1b" not in printed
    assert "\r" not in printed


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "no-color"])
async def test_on_a_terminal_there_is_a_progress_line_and_colour(
    service: ServiceHandle,
    admin: httpx.AsyncClient,
    make_repo: Any,
    no_color: bool,
) -> None:
    assert service.admin_bearer is not None
    await register(admin, make_repo(), test="echo one; sleep 2.5; echo two; exit 4")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CRAFTING_") and key != "NO_COLOR"
    }
    env |= {
        "CRAFTING_TABLE_BASE_URL": service.url,
        "CRAFTING_TABLE_TOKEN": service.admin_bearer,
        "COLUMNS": "200",
    }
    if no_color:
        env["NO_COLOR"] = "1"

    status, screen = await trio.to_thread.run_sync(
        run_on_a_terminal, ["job", "run", "demo", "test", "--follow"], env
    )
    _, listing = await trio.to_thread.run_sync(run_on_a_terminal, ["job", "list"], env)

    assert status == 4
    assert "one\r\n" in screen
    assert "two\r\n" in screen
    # The progress line is drawn, erased before each batch of log lines,
    # and gone at the end.
    assert ": running " in screen
    assert "\r\x1b[K" in screen
    # The generic parser's one finding for a failed recipe is counted.
    assert screen.endswith("failed with exit code 4, 1 finding\r\n")
    assert ("\x1b[31mfailed\x1b[0m" in listing) is not no_color
    assert ("\x1b[1mID\x1b[0m" in listing) is not no_color


async def test_the_console_exit_status_is_the_jobs(
    service: ServiceHandle,
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
) -> None:
    assert service.admin_bearer is not None
    await register(admin, make_repo(), test="echo done; exit 5")
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env |= {
        "CRAFTING_TABLE_BASE_URL": service.url,
        "CRAFTING_TABLE_TOKEN": service.admin_bearer,
    }
    script = (
        f"{sys.executable} -m crafting_table.cli.main job run demo test --follow"
        ' > log.txt 2> err.txt; echo "exit $?"'
    )

    done = await trio.run_process(
        ["sh", "-c", script], env=env, capture_stdout=True, cwd=tmp_path
    )

    assert done.stdout.decode() == "exit 5\n"
    log = (tmp_path / "log.txt").read_text()
    assert "done\n" in log
    err = (tmp_path / "err.txt").read_text()
    # Not a terminal: no progress line, no escape codes anywhere.
    assert "\x1b" not in log + err
    assert err.endswith("failed with exit code 5, 1 finding\n")
