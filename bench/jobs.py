"""Job latency and throughput against the bare git + shell floor.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/jobs.py --dir /dev/shm/ct-bench   # tmpfs: our cost
    .venv/bin/python bench/jobs.py --dir /tmp/ct-bench       # the real disk

It makes a repository of about 2,000 files, starts the whole service in
this process, and in the same run measures:

* the floor: ``git worktree add`` + ``sh -c true`` + removal of the
  worktree, called directly, N times on the same warm bare clone;
* N jobs of recipe ``true`` one after the other, each timed from the
  enqueue request to the moment the API reports a terminal status;
* 200 jobs enqueued at once, timed until the last one ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import httpx
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table.config import Settings
from crafting_table.models import TERMINAL_STATUSES

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


async def run_one(api: httpx.AsyncClient) -> float:
    """Seconds from enqueue to a terminal status seen through the API."""
    started = time.perf_counter()
    answer = await api.post("/projects/bench/jobs", json={"recipe": "test"})
    job_id = answer.json()["job_id"]
    while True:
        body = (await api.get(f"/jobs/{job_id}")).json()
        if body["job"]["status"] in TERMINAL_STATUSES:
            assert body["job"]["status"] == "succeeded", body
            return time.perf_counter() - started
        await trio.sleep(0.001)


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


def summary(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    median = statistics.median(ordered) * 1000
    return f"{name:<28} median {median:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


async def main(root: Path, runs: int, files: int, queued: int) -> None:
    """Run every measurement and print the report."""
    if root.exists():
        shutil.rmtree(root)
    repo = make_repo(root, files)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bind="127.0.0.1:0",
        data_dir=root / "data",
        workspace_dir=root / "workspace",
        cache_dir=root / "caches",
        allow_file_urls="always",
        access_log=False,
        log_level="WARNING",
    )
    async with trio.open_nursery() as nursery:
        service: ServiceHandle = await nursery.start(run_service, settings)
        headers = {"Authorization": f"Bearer {service.admin_bearer}"}
        async with httpx.AsyncClient(base_url=service.url, headers=headers) as api:
            await api.post(
                "/projects",
                json={
                    "name": "bench",
                    "git_url": str(repo),
                    "subprojects": [{"test": "true"}],
                },
            )
            for _ in range(3):
                await run_one(api)  # warm the clone and the code paths

            cache = settings.workspace_dir.resolve() / "bench" / ".cache"
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
            ours = [await run_one(api) for _ in range(runs)]
            rate = await throughput(api, queued)
        service.stop()

    print(f"repository: {files} files; {runs} runs each; folder {root}")
    print(summary("floor (git + sh + remove)", bare))
    print(summary("crafting-table job", ours))
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
    args = parser.parse_args()
    trio.run(main, args.dir, args.runs, args.files, args.queued)
