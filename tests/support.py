"""Helpers for tests: a real git repository, and API calls that drive jobs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import trio

from crafting_table.messages import GetStats
from crafting_table.models import TERMINAL_STATUSES

if TYPE_CHECKING:
    from actors.serve import ServiceHandle

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Repo:
    """A real git repository in a temporary folder, for tests to commit into."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        """Run git in the repository; return its stdout."""
        done = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def write(self, files: dict[str, str], message: str = "change") -> str:
        """Write files (relative path -> text), commit them, return the sha."""
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        """The repository as a git_url (a local path)."""
        return str(self.path)


async def register(
    client: httpx.AsyncClient, repo: Repo, name: str = "demo", **subproject: Any
) -> dict[str, Any]:
    """Register ``repo`` as a project with one subproject; return the project."""
    sub = {"path": ".", "language": "generic", **subproject}
    answer = await client.post(
        "/projects", json={"name": name, "git_url": repo.url, "subprojects": [sub]}
    )
    assert answer.status_code == 201, answer.text
    project: dict[str, Any] = answer.json()["project"]
    return project


async def enqueue(client: httpx.AsyncClient, project: str, **body: Any) -> str:
    """Enqueue a job; return its id."""
    answer = await client.post(f"/projects/{project}/jobs", json=body)
    assert answer.status_code == 201, answer.text
    job_id: str = answer.json()["job_id"]
    return job_id


async def wait_job(
    client: httpx.AsyncClient, job_id: str, timeout: float = 60
) -> dict[str, Any]:
    """Poll a job until it is terminal; return ``GET /jobs/{id}``'s body."""
    with trio.fail_after(timeout):
        while True:
            answer = await client.get(f"/jobs/{job_id}")
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            if body["job"]["status"] in TERMINAL_STATUSES:
                return body
            await trio.sleep(0.05)


async def run_job(
    client: httpx.AsyncClient, project: str, timeout: float = 60, **body: Any
) -> dict[str, Any]:
    """Enqueue a job and wait for it to end."""
    return await wait_job(client, await enqueue(client, project, **body), timeout)


async def runner_idle(service: ServiceHandle, timeout: float = 30) -> None:
    """Wait until the Runner holds no job.

    A job is terminal before the Runner has cleaned up after it: the end is
    recorded first, so that watchers hear of it at once, and the recipe's
    leftover processes, control group and worktree go after.
    """
    runner = service.refs["runner"]
    with trio.fail_after(timeout):
        while (await runner.ask(GetStats()))["running"]:
            await trio.sleep(0.02)
