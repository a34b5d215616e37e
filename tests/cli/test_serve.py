"""``crafting-table serve``: refusing to start says why in one line; Ctrl-C
stops it in order, a second Ctrl-C at once, a third without clean-up."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from crafting_table import procs
from tests.support import wait_job
from tests.test_restart import Server, client, start_held_and_queued


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crafting_table.cli.main", "serve"],
        cwd=tmp_path,
        env={
            **os.environ,
            "CRAFTING_DATA_DIR": str(tmp_path / "data"),
            "CRAFTING_WORKSPACE_DIR": str(tmp_path / "workspace"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = serve(tmp_path, CRAFTING_BIND=f"127.0.0.1:{port}")

    assert done.returncode == 1
    assert "crafting-table: cannot start: Address already in use" in done.stderr
    assert "set CRAFTING_BIND" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("folder", "setting"),
    [("data", "CRAFTING_DATA_DIR"), ("workspace", "CRAFTING_WORKSPACE_DIR")],
)
def test_a_folder_another_service_runs_on(
    tmp_path: Path, folder: str, setting: str
) -> None:
    (tmp_path / "first").mkdir()
    first = Server(tmp_path / "first")
    first.start()
    try:
        assert first.process is not None
        done = serve(tmp_path, **{setting: str(first.root / folder)})
    finally:
        first.stop()

    assert done.returncode == 1
    assert (
        f"crafting-table: {first.root / folder} is in use by another crafting-table "
        f"service (pid {first.process.pid}); stop it, or give this one a folder of "
        f"its own with {setting}\n"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "caches").exists()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["first"]


@pytest.mark.parametrize(
    ("data", "workspace"),
    [("same", "same"), ("w/data", "w"), ("d", "d/ws")],
    ids=["same", "data-in-workspace", "workspace-in-data"],
)
def test_overlapping_data_and_workspace_folders(
    tmp_path: Path, data: str, workspace: str
) -> None:
    done = serve(
        tmp_path,
        CRAFTING_DATA_DIR=str(tmp_path / data),
        CRAFTING_WORKSPACE_DIR=str(tmp_path / workspace),
        CRAFTING_BIND="127.0.0.1:0",
    )

    assert done.returncode == 1
    assert "overlap; give them folders apart, neither inside the other" in (done.stderr)
    assert not (tmp_path / data).exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"CRAFTING_RECIPE_USER": "no-such-user-here"},
            "no-such-user-here",
            id="user",
        ),
        pytest.param(
            {"CRAFTING_CONTAINMENT": "sometimes"}, "CRAFTING_CONTAINMENT", id="mode"
        ),
        pytest.param(
            {"CRAFTING_BIND": "nowhere"},
            "crafting-table: CRAFTING_BIND: 'nowhere' is not HOST:PORT",
            id="bind",
        ),
    ],
)
def test_bad_settings(tmp_path: Path, env: dict[str, str], message: str) -> None:
    done = serve(tmp_path, **env)

    assert done.returncode in (1, 2)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_misspelt_setting_is_named(tmp_path: Path) -> None:
    done = serve(tmp_path, CRAFTING_MAX_JOB="1", CRAFTING_BIND="nowhere")

    assert done.returncode == 2
    assert (
        "crafting-table: CRAFTING_MAX_JOB is not a setting and is ignored; "
        "did you mean CRAFTING_MAX_JOBS? see .env.example for the names" in done.stderr
    )


def test_a_misspelt_setting_in_the_env_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CRAFTING_MAX_JOB=1\nCRAFTING_BIND=nowhere\n")

    done = serve(tmp_path)

    assert done.returncode == 2
    assert "crafting-table: CRAFTING_MAX_JOB is not a setting" in done.stderr
    assert "CRAFTING_BIND: 'nowhere' is not HOST:PORT" in done.stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``crafting-table serve`` in a child process; killed if a test leaves it."""
    instance = Server(tmp_path)
    yield instance
    if instance.process is not None and instance.process.poll() is None:
        instance.process.kill()
        instance.process.wait(10)


async def wait_for_line(server: Server, text: str, timeout: float = 20) -> None:
    """Wait until the service's standard error shows ``text``."""
    with trio.fail_after(timeout):
        while text not in server.log.read_text():
            await trio.sleep(0.05)


async def start_two_jobs(server: Server, make_repo: Any, test: str) -> tuple[str, str]:
    """A running test job (its shell's pid in ``<root>/pid``) and a queued one."""
    pid_file = server.root / "pid"
    command = f"echo $$ > {pid_file}; {test}"
    return await start_held_and_queued(server, make_repo(), command, pid_file)


def statuses(server: Server) -> dict[str, str]:
    with sqlite3.connect(server.root / "data" / "ledger.sqlite3") as conn:
        return dict(conn.execute("SELECT id, status FROM jobs").fetchall())


async def test_a_second_ctrl_c_stops_at_once(server: Server, make_repo: Any) -> None:
    server.start(CRAFTING_SHUTDOWN_GRACE_SECS="120")
    running, queued = await start_two_jobs(server, make_repo, "exec sleep 600")
    assert server.process is not None

    server.process.send_signal(signal.SIGINT)
    await wait_for_line(server, "SIGINT: stopping; running jobs get 120 s to finish")
    # The first one waits for the running job: the service is still there.
    await trio.sleep(1)
    assert server.process.poll() is None
    started = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    code = await trio.to_thread.run_sync(server.process.wait, 30)

    assert code == 128 + signal.SIGINT
    assert time.monotonic() - started < 10
    log = server.log.read_text()
    assert "crafting-table: SIGINT: stopping at once; running jobs are killed" in log
    assert "Traceback" not in log
    assert not procs.is_running(int((server.root / "pid").read_text()))
    assert statuses(server) == {running: "canceled", queued: "queued"}
    with sqlite3.connect(server.root / "data" / "ledger.sqlite3") as conn:
        [(error,)] = conn.execute("SELECT error FROM jobs WHERE id = ?", (running,))
    assert error == "service stopped at once; findings not parsed"


async def test_a_third_ctrl_c_leaves_running_jobs_to_the_next_start(
    server: Server, make_repo: Any
) -> None:
    # The recipe ignores SIGTERM and the kill grace is long, so the clean-up
    # the second Ctrl-C starts is still waiting when the third comes.
    server.start(CRAFTING_SHUTDOWN_GRACE_SECS="120", CRAFTING_KILL_GRACE_SECS="120")
    running, queued = await start_two_jobs(
        server, make_repo, "trap '' TERM; exec sleep 600"
    )
    assert server.process is not None
    recipe = int((server.root / "pid").read_text())
    try:
        await stop_three_times_then_restart(server, running, queued, recipe)
    finally:
        # A failure above must not leave a recipe that ignores SIGTERM.
        if procs.is_running(recipe):
            os.kill(recipe, signal.SIGKILL)


async def stop_three_times_then_restart(
    server: Server, running: str, queued: str, recipe: int
) -> None:
    assert server.process is not None
    for line in ("SIGINT: stopping;", "SIGINT: stopping at once;"):
        server.process.send_signal(signal.SIGINT)
        await wait_for_line(server, line)
    started = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    code = await trio.to_thread.run_sync(server.process.wait, 30)

    assert code == 128 + signal.SIGINT
    assert time.monotonic() - started < 5
    assert "SIGINT: exiting now; jobs still marked running are failed" in (
        server.log.read_text()
    )
    assert statuses(server) == {running: "running", queued: "queued"}
    assert procs.is_running(recipe)

    server.start()
    async with client(server) as api:
        orphan = await wait_job(api, running)
        later = await wait_job(api, queued)
    assert (orphan["job"]["status"], orphan["job"]["exit_code"]) == ("failed", -1)
    assert later["job"]["status"] == "succeeded"
    with trio.fail_after(10):
        while procs.is_running(recipe):
            await trio.sleep(0.05)
    assert server.stop() == 0
