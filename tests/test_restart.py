"""A service killed with SIGKILL mid-job, then started again on the same data."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from crafting_table import procs
from tests.support import Repo, enqueue, wait_job
from tests.test_runner import SPAWNER, survivors, wait_for_file


class Server:
    """``crafting-table serve`` in a child process, on a port it picks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.log = root / "serve.log"

    def start(self, **extra: str) -> None:
        env = {
            **os.environ,
            "CRAFTING_BIND": "127.0.0.1:0",
            "CRAFTING_DATA_DIR": str(self.root / "data"),
            "CRAFTING_WORKSPACE_DIR": str(self.root / "workspace"),
            "CRAFTING_CACHE_DIR": str(self.root / "caches"),
            "CRAFTING_MAX_JOBS": "1",
            "CRAFTING_KILL_GRACE_SECS": "1",
            **extra,
        }
        seen = self._listening_lines()
        handle = open(self.log, "a")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "crafting_table.cli.main", "serve"],
            cwd=self.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
            text=True,
        )
        handle.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = self._listening_lines()
            if len(found) > len(seen):
                self.url = found[-1]
                return
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError("the service did not start:\n" + self.log.read_text())

    def _listening_lines(self) -> list[str]:
        text = self.log.read_text() if self.log.exists() else ""
        return re.findall(r"listening on (http://\S+)", text)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A service in a child process; stopped at the end of the test."""
    instance = Server(tmp_path)
    yield instance
    if instance.process is not None and instance.process.poll() is None:
        instance.process.kill()
        instance.process.wait(10)


def client(server: Server) -> httpx.AsyncClient:
    bearer = (server.root / "data" / "admin-bearer.txt").read_text().strip()
    return httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {bearer}"}, timeout=30
    )


async def test_sigkill_mid_job_then_restart(
    server: Server, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo({"spawn.py": SPAWNER})
    pid_file = tmp_path / "pids"
    server.start()
    async with client(server) as api:
        answer = await api.post(
            "/projects",
            json={
                "name": "demo",
                "git_url": repo.url,
                "subprojects": [
                    {
                        "path": ".",
                        "test": f"python3 spawn.py {pid_file}",
                        "lint": "echo later",
                    }
                ],
            },
        )
        assert answer.status_code == 201, answer.text
        stranded = await enqueue(api, "demo", recipe="test")
        await wait_for_file(pid_file)
        queued = await enqueue(api, "demo", recipe="lint")

    server.kill()
    assert len(survivors(pid_file)) == 4, (
        "the recipe should outlive a SIGKILLed service"
    )
    server.start()

    async with client(server) as api:
        orphan = await wait_job(api, stranded)
        later = await wait_job(api, queued)
        log = (await api.get(f"/jobs/{stranded}/log")).text

    assert orphan["job"]["status"] == "failed"
    assert orphan["job"]["exit_code"] == -1
    assert "[crafting-table] runner restart, job orphaned" in log
    with trio.fail_after(10):
        while survivors(pid_file):
            await trio.sleep(0.05)
    assert later["job"]["status"] == "succeeded"
    assert "later" in later["log_tail"]
    with sqlite3.connect(server.root / "data" / "ledger.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert server.stop() == 0


async def test_sigterm_cancels_running_and_keeps_queued(
    server: Server, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    pid_file = tmp_path / "pid"
    server.start(CRAFTING_SHUTDOWN_GRACE_SECS="1")
    async with client(server) as api:
        answer = await api.post(
            "/projects",
            json={
                "name": "demo",
                "git_url": repo.url,
                "subprojects": [
                    {
                        "path": ".",
                        "test": f"echo $$ > {pid_file}; exec sleep 600",
                        "lint": "echo later",
                    }
                ],
            },
        )
        assert answer.status_code == 201, answer.text
        running = await enqueue(api, "demo", recipe="test")
        await wait_for_file(pid_file)
        queued = await enqueue(api, "demo", recipe="lint")

    started = time.monotonic()
    assert server.stop() == 0

    assert time.monotonic() - started < 30
    assert not procs.is_running(int(pid_file.read_text()))
    with sqlite3.connect(server.root / "data" / "ledger.sqlite3") as conn:
        rows = dict(conn.execute("SELECT id, status FROM jobs").fetchall())
    assert rows[running] == "canceled"
    assert rows[queued] == "queued"
    log = (server.root / "data" / "logs" / "demo" / f"{running}.log").read_text()
    assert "the service stopped; job canceled" in log
