"""A service killed with SIGKILL mid-job, then started again on the same data."""

from __future__ import annotations

import os
import re
import secrets
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
from crafting_table.ledger import connect
from crafting_table.ledger import jobs as job_store
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


async def start_held_and_queued(
    server: Server, repo: Repo, test: str, written: Path
) -> tuple[str, str]:
    """A test job running ``test`` until it has written ``written``, and a
    lint job queued behind it (``max_jobs`` is 1); their ids."""
    async with client(server) as api:
        answer = await api.post(
            "/projects",
            json={
                "name": "demo",
                "git_url": repo.url,
                "subprojects": [{"path": ".", "test": test, "lint": "echo later"}],
            },
        )
        assert answer.status_code == 201, answer.text
        running = await enqueue(api, "demo", recipe="test")
        await wait_for_file(written)
        queued = await enqueue(api, "demo", recipe="lint")
    return running, queued


async def test_sigkill_mid_job_then_restart(
    server: Server, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo({"spawn.py": SPAWNER})
    pid_file = tmp_path / "pids"
    server.start()
    stranded, queued = await start_held_and_queued(
        server, repo, f"python3 spawn.py {pid_file}", pid_file
    )

    server.kill()
    assert len(survivors(pid_file)) == 4, (
        "the recipe should outlive a SIGKILLed service"
    )
    left = server.root / "workspace" / "demo"
    assert (left / stranded).is_dir()
    assert (left / f"{stranded}.reports").is_dir()
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
    # The worktree and reports of the orphan go with the restart's sweep.
    with trio.fail_after(10):
        while (left / stranded).exists() or (left / f"{stranded}.reports").exists():
            await trio.sleep(0.05)
    worktrees = subprocess.run(
        ["git", "-C", str(left / ".cache"), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert stranded not in worktrees
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
        rows = {
            row[0]: row[1:]
            for row in conn.execute("SELECT id, status, error FROM jobs").fetchall()
        }
    assert rows[running] == ("canceled", "service stopped")
    assert rows[queued] == ("queued", None)
    log = (server.root / "data" / "logs" / "demo" / f"{running}.log").read_text()
    assert "the service stopped; job canceled" in log


def group_leader() -> subprocess.Popen[bytes]:
    """A ``sleep`` in a session, so a process group, of its own."""
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def strand(ledger_path: Path, project: str, pgid: int, proc_start: int | None) -> str:
    """Write a job as a dead service leaves it: running, its group recorded."""
    conn = connect(ledger_path)
    try:
        now = time.time()
        job_id = job_store.new_job_id(now)
        job_store.insert(
            conn,
            job_id=job_id,
            project=project,
            owner="admin",
            subproject=".",
            recipe="test",
            ref="main",
            sha=None,
            snapshot={"command": "sleep 300", "timeout_secs": 1800},
            log_path=f"logs/{project}/{job_id}.log",
            now=now,
        )
        job_store.claim(conn, job_id, secrets.token_hex(16), now)
        job_store.record_process(conn, job_id, None, pgid, proc_start)
    finally:
        conn.close()
    return job_id


async def test_restart_sweep_never_kills_a_recycled_pid(
    server: Server, tmp_path: Path
) -> None:
    # Two unrelated processes, each leading a process group of its own. The
    # ledger says the first one's pid led a stranded job's group, but with a
    # start time other than its own: the pid was reused since. The second
    # one's is recorded exactly, as if it were the stranded recipe, so the
    # sweep is seen to act at all.
    server.start()
    async with client(server) as api:
        answer = await api.post(
            "/projects",
            json={
                "name": "demo",
                # Registered only; no job of its own ever fetches it.
                "git_url": str(tmp_path),
                "subprojects": [{"path": ".", "test": "sleep 300"}],
            },
        )
        assert answer.status_code == 201, answer.text
    assert server.stop() == 0
    bystander, recipe = group_leader(), group_leader()
    try:
        born = procs.start_time(bystander.pid)
        assert born is not None
        ledger_path = server.root / "data" / "ledger.sqlite3"
        reused = strand(ledger_path, "demo", bystander.pid, born + 1)
        exact = strand(ledger_path, "demo", recipe.pid, procs.start_time(recipe.pid))

        server.start()
        async with client(server) as api:
            swept = [await wait_job(api, job_id) for job_id in (reused, exact)]

        assert [body["job"]["status"] for body in swept] == ["failed", "failed"]
        assert [body["job"]["exit_code"] for body in swept] == [-1, -1]
        assert recipe.wait(10) == -signal.SIGKILL
        assert bystander.poll() is None
        assert procs.is_running(bystander.pid)
        assert procs.start_time(bystander.pid) == born
    finally:
        for process in (bystander, recipe):
            process.kill()
            process.wait(10)
    assert server.stop() == 0
