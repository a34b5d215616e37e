"""Job latency and throughput against the bare git + shell floor.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/jobs.py --dir /dev/shm/ct-bench   # tmpfs: our cost
    .venv/bin/python bench/jobs.py --dir /tmp/ct-bench       # the real disk

It makes a repository of about 2,000 files, starts the service in a
process of its own (so that the client's work does not slow it down), and
in the same run measures:

* the floor: ``git worktree add`` + ``sh -c true`` + removal of the
  worktree, called directly, N times on the same warm bare clone;
* N jobs of recipe ``true`` one after the other, each timed from the
  enqueue request to its terminal status: as the ledger records it
  (``finished_at - created_at``), and as a client watching the job's
  websocket sees it;
* 200 jobs enqueued at once, timed until the last one ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import trio
from trio_websocket import open_websocket_url

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def make_repo(root: Path, files: int) -> Path:
    """A repository with ``files`` small files in 40 folders."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    for index in range(files):
        folder = repo / f"pkg{index % 40:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{index:05d}.py").write_text(f"VALUE = {index}\n" * 5)
    subprocess.run(
        ["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=GIT_ENV
    )
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=GIT_ENV)
    subprocess.run(["git", "commit", "-qm", "files"], cwd=repo, check=True, env=GIT_ENV)
    return repo


def floor(cache: Path, worktrees: Path, sha: str, runs: int) -> list[float]:
    """Seconds per bare worktree add + ``sh -c true`` + removal."""
    times = []
    for index in range(runs):
        path = worktrees / f"floor{index}"
        started = time.perf_counter()
        subprocess.run(
            [
                "git",
                f"--git-dir={cache}",
                "worktree",
                "add",
                "--detach",
                "--quiet",
                str(path),
                sha,
            ],
            check=True,
        )
        subprocess.run(["/bin/sh", "-c", "true"], cwd=path, check=True)
        subprocess.run(
            ["git", f"--git-dir={cache}", "worktree", "remove", "--force", str(path)],
            check=True,
        )
        times.append(time.perf_counter() - started)
    return times


async def run_one(api: httpx.AsyncClient, bearer: str) -> tuple[float, float]:
    """(ledger, client) seconds from enqueue to the job's terminal status."""
    started = time.perf_counter()
    answer = await api.post("/projects/bench/jobs", json={"recipe": "test"})
    job_id = answer.json()["job_id"]
    url = str(api.base_url).replace("http://", "ws://") + f"/jobs/{job_id}/log/ws"
    headers = [(b"Authorization", f"Bearer {bearer}".encode())]
    async with open_websocket_url(url, extra_headers=headers) as ws:
        while json.loads(await ws.get_message())["type"] != "end":
            pass
    seen = time.perf_counter() - started
    job = (await api.get(f"/jobs/{job_id}")).json()["job"]
    assert job["status"] == "succeeded", job
    recorded = stamp(job["finished_at"]) - stamp(job["created_at"])
    return recorded, seen


def stamp(text: str) -> float:
    """Unix seconds of an API timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def throughput(api: httpx.AsyncClient, count: int) -> float:
    """Jobs per second for ``count`` jobs enqueued at once."""
    started = time.perf_counter()
    ids = []
    for _ in range(count):
        answer = await api.post("/projects/bench/jobs", json={"recipe": "test"})
        ids.append(answer.json()["job_id"])
    while True:
        page = (
            await api.get("/jobs", params={"status": "succeeded", "limit": 500})
        ).json()
        done = {job["id"] for job in page["jobs"]}
        if done.issuperset(ids):
            return count / (time.perf_counter() - started)
        await trio.sleep(0.05)


async def wait_up(base: str, bearer_file: Path) -> str:
    """Wait for the service to answer; return the admin bearer."""
    async with httpx.AsyncClient(base_url=base) as probe:
        with trio.fail_after(60):
            while True:
                try:
                    await probe.get("/healthz")
                    return bearer_file.read_text().strip()
                except httpx.TransportError:
                    await trio.sleep(0.1)


def summary(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    median = statistics.median(ordered) * 1000
    return f"{name:<28} median {median:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


async def main(
    root: Path, runs: int, files: int, queued: int, extra_env: dict[str, str]
) -> None:
    """Run every measurement and print the report."""
    if root.exists():
        shutil.rmtree(root)
    repo = make_repo(root, files)
    env = {
        **os.environ,
        "CRAFTING_BIND": "127.0.0.1:18820",
        "CRAFTING_DATA_DIR": str(root / "data"),
        "CRAFTING_WORKSPACE_DIR": str(root / "workspace"),
        "CRAFTING_CACHE_DIR": str(root / "caches"),
        "CRAFTING_ALLOW_FILE_URLS": "always",
        "CRAFTING_ACCESS_LOG": "false",
        "CRAFTING_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    with open(root / "service.log", "ab") as log:
        service = subprocess.Popen(
            [sys.executable, "-m", "crafting_table.cli.main", "serve"],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        base = "http://127.0.0.1:18820"
        bearer = await wait_up(base, root / "data" / "admin-bearer.txt")
        headers = {"Authorization": f"Bearer {bearer}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as api:
            await api.post(
                "/projects",
                json={
                    "name": "bench",
                    "git_url": str(repo),
                    "subprojects": [{"test": "true"}],
                },
            )
            for _ in range(3):
                await run_one(api, bearer)  # warm the clone and the code paths

            cache = root / "workspace" / "bench" / ".cache"
            sha = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=repo,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            bare = await trio.to_thread.run_sync(
                floor, cache, root / "floor", sha, runs
            )
            pairs = [await run_one(api, bearer) for _ in range(runs)]
            rate = await throughput(api, queued)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(60)
    ours = [recorded for recorded, _ in pairs]
    watched = [seen for _, seen in pairs]

    print(f"repository: {files} files; {runs} runs each; folder {root}")
    print(summary("floor (git + sh + remove)", bare))
    print(summary("job, as the ledger records", ours))
    print(summary("job, as a watcher sees it", watched))
    ratio = statistics.median(ours) / statistics.median(bare)
    overhead = (statistics.median(ours) - statistics.median(bare)) * 1000
    print(
        f"ratio to the floor (median) {ratio:.2f}x, our overhead {overhead:.1f} ms/job"
    )
    print(
        f"throughput, {queued} queued jobs: {rate:.1f} jobs/s, {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--dir", type=Path, default=Path("/dev/shm/crafting-table-bench")
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--queued", type=int, default=200)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a CRAFTING_* setting for the service (repeatable)",
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    trio.run(main, args.dir, args.runs, args.files, args.queued, extra)
