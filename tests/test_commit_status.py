"""Commit status: forge selection and bodies, then posts to a stand-in forge.

The end-to-end tests run the whole service against a stand-in forge on
loopback that both serves the project's repository (git's dumb HTTP
protocol) and records the statuses posted to it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pydantic import SecretStr

from crafting_table.commit_status import (
    StatusTarget,
    describe,
    final_state,
    post_status,
    retryable,
    status_body,
    target_for,
)
from crafting_table.config import Settings
from crafting_table.enqueue import enqueue as enqueue_job
from crafting_table.errors import ForgeError
from crafting_table.ledger import projects as project_store
from crafting_table.ledger.jobs import JobRow
from tests.digest_service import running
from tests.forge_server import StandInForge, stand_in_forge
from tests.support import GIT_ENV, Repo, enqueue, wait_job

GITEA_TOKEN = "gitea-token-0123456789"
GITHUB_TOKEN = "ghp_token0123456789"
PUBLIC = "https://ct.example.com"


# -- choosing the forge --------------------------------------------------------


def forge_settings(**values: Any) -> Settings:
    """Settings with only the given forge variables."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


GITEA = {"gitea_url": "https://git.corp.example:3000/", "gitea_token": "t1"}
GITHUB = {"github_token": "t2"}
GHE = {"github_token": "t3", "github_api_url": "https://ghe.corp.example/api/v3"}


@pytest.mark.parametrize(
    ("values", "git_url", "expected"),
    [
        pytest.param(
            GITEA,
            "https://git.corp.example/platform/app.git",
            ("gitea", "https://git.corp.example:3000/api/v1", "platform", "app"),
            id="gitea-https",
        ),
        pytest.param(
            GITEA,
            "git@git.corp.example:platform/app.git",
            ("gitea", "https://git.corp.example:3000/api/v1", "platform", "app"),
            id="gitea-scp-ssh",
        ),
        pytest.param(
            GITEA, "https://elsewhere.example/platform/app.git", None, id="other-host"
        ),
        pytest.param(
            {"gitea_url": "https://git.corp.example"},
            "https://git.corp.example/platform/app.git",
            None,
            id="gitea-without-token",
        ),
        pytest.param(
            GITHUB,
            "https://github.com/octo/widget.git",
            ("github", "https://api.github.com", "octo", "widget"),
            id="github",
        ),
        pytest.param(
            GHE,
            "https://ghe.corp.example/octo/widget",
            ("github", "https://ghe.corp.example/api/v3", "octo", "widget"),
            id="github-enterprise",
        ),
        pytest.param({}, "https://github.com/octo/widget.git", None, id="no-token"),
        pytest.param(GITHUB, "/srv/git/widget.git", None, id="local-path"),
        pytest.param(
            {**GITEA, **GITHUB},
            "https://github.com/octo/widget.git",
            ("github", "https://api.github.com", "octo", "widget"),
            id="both-configured",
        ),
    ],
)
def test_target_for(
    values: dict[str, str], git_url: str, expected: tuple[str, ...] | None
) -> None:
    target = target_for(forge_settings(**values), git_url)

    if expected is None:
        assert target is None
    else:
        assert target is not None
        assert (target.forge, target.base, target.owner, target.repo) == expected


@pytest.mark.parametrize(
    ("forge", "url", "authorization"),
    [
        pytest.param(
            "gitea",
            "https://g.example/api/v1/repos/a%20b/c/statuses/abc",
            "token tk",
            id="gitea",
        ),
        pytest.param(
            "github",
            "https://api.github.com/repos/a%20b/c/statuses/abc",
            "Bearer tk",
            id="github",
        ),
    ],
)
def test_target_urls_and_headers(forge: str, url: str, authorization: str) -> None:
    base = "https://g.example/api/v1" if forge == "gitea" else "https://api.github.com"
    target = StatusTarget(forge, base, "a b", "c", "tk")  # type: ignore[arg-type]

    assert target.url("abc") == url
    assert target.headers()["Authorization"] == authorization


def job_row(**changes: Any) -> JobRow:
    """A finished job as the ledger keeps it."""
    row = JobRow(
        id="06h3t2wy2338yw265sqh",
        project_name="app",
        owner="admin",
        subproject=".",
        recipe="test",
        ref="main",
        sha="c" * 40,
        status="succeeded",
        exit_code=0,
        error=None,
        snapshot={"command": "pytest", "timeout_secs": 600},
        trigger="push",
        retry_of=None,
        created_at=1.0,
        started_at=2.0,
        finished_at=3.0,
        findings_count=0,
        log_path="logs/app/x.log",
        log_bytes=10,
        pgid=None,
        proc_start=None,
        kill_mark=None,
    )
    return replace(row, **changes)


@pytest.mark.parametrize(
    ("changes", "state", "fragment"),
    [
        pytest.param({}, "success", "test succeeded", id="succeeded"),
        pytest.param(
            {"status": "failed", "exit_code": 2, "findings_count": 4},
            "failure",
            "failed with exit 2, 4 finding(s)",
            id="failed",
        ),
        pytest.param(
            {"status": "failed", "exit_code": None, "error": "cannot fetch"},
            "error",
            "could not run: cannot fetch",
            id="infrastructure",
        ),
        pytest.param(
            {"status": "timed_out", "exit_code": 143},
            "error",
            "timed out after 600 s",
            id="timed-out",
        ),
        pytest.param(
            {"status": "canceled", "exit_code": None},
            "error",
            "canceled",
            id="canceled",
        ),
    ],
)
def test_final_states(changes: dict[str, Any], state: str, fragment: str) -> None:
    job = job_row(**changes)

    assert final_state(job) == state
    assert fragment in describe(job, final_state(job))


def test_bodies() -> None:
    job = job_row(
        subproject="clients/python", error="x" * 500, status="failed", exit_code=None
    )

    body = status_body(job, final_state(job), PUBLIC + "/")
    pending = status_body(job_row(), "pending", None)

    assert body["context"] == "crafting-table/clients/python/test"
    assert body["target_url"] == f"{PUBLIC}/jobs/{job.id}"
    assert len(body["description"]) == 140
    assert pending == {
        "state": "pending",
        "description": "test running",
        "context": "crafting-table/test",
    }


async def test_post_errors_say_whether_to_retry(nursery: trio.Nursery) -> None:
    async with stand_in_forge(nursery, {}) as forge:
        forge.fail_next = 1
        forge.authorization = "token tk"
        good = StatusTarget("gitea", forge.url + "/api/v1", "o", "r", "tk")
        bad_token = StatusTarget("gitea", forge.url + "/api/v1", "o", "r", "nope")
        closed = StatusTarget("gitea", "http://127.0.0.1:9/api/v1", "o", "r", "tk")

        errors = []
        for target in (good, bad_token, closed):
            with pytest.raises(ForgeError) as caught:
                await post_status(target, "c" * 40, {"state": "pending"}, timeout=5)
            errors.append(caught.value)
        await post_status(good, "c" * 40, {"state": "pending"}, timeout=5)

    assert [e.details.get("status") for e in errors] == [500, 401, None]
    assert [retryable(e) for e in errors] == [True, False, True]
    assert "tk" not in " ".join(e.message for e in errors)
    assert [p.answered for p in forge.statuses] == [500, 401, 201]


# -- end to end ------------------------------------------------------------------


def publish(repo: Repo, bare: Path) -> None:
    """Push ``repo``'s main branch to ``bare`` and refresh its dumb-HTTP index."""
    env = {**os.environ, **GIT_ENV}
    if not bare.exists():
        subprocess.run(
            ["git", "init", "-q", "--bare", "-b", "main", str(bare)],
            env=env,
            check=True,
        )
    repo.git("push", "-q", str(bare), "main")
    subprocess.run(["git", "update-server-info"], cwd=bare, env=env, check=True)


@pytest.fixture
async def forge(
    nursery: trio.Nursery, tmp_path: Path, make_repo: Any
) -> AsyncIterator[tuple[StandInForge, Repo]]:
    """A stand-in forge serving ``platform/app`` from a fresh repository."""
    repo: Repo = make_repo({"README.md": "app\n"})
    bare = tmp_path / "forge" / "app.git"
    bare.parent.mkdir()
    publish(repo, bare)
    async with stand_in_forge(nursery, {"platform/app": bare}) as server:
        yield server, repo


def gitea_settings(settings: Settings, forge: StandInForge) -> Settings:
    """The service's settings with the stand-in as its Gitea."""
    return settings.model_copy(
        update={
            "gitea_url": forge.url,
            "gitea_token": SecretStr(GITEA_TOKEN),
            "public_url": PUBLIC,
        }
    )


async def register_app(
    client: httpx.AsyncClient, forge: StandInForge, **fields: Any
) -> None:
    """Register the stand-in's ``platform/app`` repository."""
    subprojects = fields.pop("subprojects", [{"path": ".", "test": "true"}])
    answer = await client.post(
        "/projects",
        json={
            "name": "app",
            "git_url": f"{forge.url}/platform/app.git",
            "subprojects": subprojects,
            **fields,
        },
    )
    assert answer.status_code == 201, answer.text


async def test_pending_then_success_on_gitea(
    settings: Settings, forge: tuple[StandInForge, Repo]
) -> None:
    server, _ = forge
    async with running(gitea_settings(settings, server)) as (_, client):
        await register_app(
            client, server, subprojects=[{"path": ".", "test": "sleep 2; echo ok"}]
        )

        done = await wait_job(client, await enqueue(client, "app", recipe="test"))
        posted = await server.wait_for(2)

    job = done["job"]
    assert job["status"] == "succeeded"
    assert [p.body["state"] for p in posted] == ["pending", "success"]
    for post in posted:
        assert (post.forge, post.owner, post.repo, post.sha) == (
            "gitea",
            "platform",
            "app",
            job["sha"],
        )
        assert post.headers["Authorization"] == f"token {GITEA_TOKEN}"
        assert post.body["context"] == "crafting-table/test"
        assert post.body["target_url"] == f"{PUBLIC}/jobs/{job['id']}"


@pytest.mark.parametrize(
    ("command", "timeout_secs", "state", "status"),
    [
        pytest.param("exit 1", 60, "failure", "failed", id="failure"),
        pytest.param("sleep 30", 1, "error", "timed_out", id="timed-out"),
        pytest.param("true", 60, "success", "succeeded", id="success"),
    ],
)
async def test_final_state_on_gitea(
    settings: Settings,
    forge: tuple[StandInForge, Repo],
    command: str,
    timeout_secs: int,
    state: str,
    status: str,
) -> None:
    server, _ = forge
    sub = {"path": ".", "test": command, "timeout_secs": timeout_secs}
    async with running(gitea_settings(settings, server)) as (_, client):
        await register_app(client, server, subprojects=[sub])

        done = await wait_job(client, await enqueue(client, "app", recipe="test"))
        with trio.fail_after(30):
            while not any(p.body["state"] != "pending" for p in server.accepted()):
                await server.wait_for(len(server.accepted()) + 1)

    assert done["job"]["status"] == status
    final = [p for p in server.accepted() if p.body["state"] != "pending"]
    assert [p.body["state"] for p in final] == [state]


async def test_a_failing_forge_neither_fails_nor_delays_the_job(
    settings: Settings, forge: tuple[StandInForge, Repo]
) -> None:
    server, _ = forge
    server.fail_states = {"success": 2}
    async with running(gitea_settings(settings, server)) as (_, client):
        await register_app(client, server)

        done = await wait_job(client, await enqueue(client, "app", recipe="test"))
        with trio.fail_after(30):
            while not any(p.body["state"] == "success" for p in server.accepted()):
                await server.wait_for(len(server.accepted()) + 1)

    job = done["job"]
    assert job["status"] == "succeeded"
    finals = [p for p in server.statuses if p.body["state"] != "pending"]
    assert [(p.body["state"], p.answered) for p in finals] == [
        ("success", 500),
        ("success", 500),
        ("success", 201),
    ]
    success = finals[-1]
    finished = datetime.fromisoformat(job["finished_at"]).timestamp()
    # The job ended before the forge took its status: it never waited for
    # the back-off (one, then two seconds).
    assert success.at - finished > 2.5


async def test_a_project_can_opt_out(
    settings: Settings, forge: tuple[StandInForge, Repo]
) -> None:
    server, _ = forge
    async with running(gitea_settings(settings, server)) as (_, client):
        await register_app(client, server, commit_status=False)
        first = await wait_job(client, await enqueue(client, "app", recipe="test"))
        # A second project on the same repository that did not opt out:
        # once its status arrives, the first one's would have too.
        answer = await client.post(
            "/projects",
            json={
                "name": "app-too",
                "git_url": f"{server.url}/platform/app.git",
                "subprojects": [{"path": ".", "test": "true"}],
            },
        )
        assert answer.status_code == 201, answer.text
        second = await wait_job(client, await enqueue(client, "app-too", recipe="test"))
        await server.wait_for(1)

    assert first["job"]["status"] == "succeeded"
    assert second["job"]["status"] == "succeeded"
    assert [p.body["target_url"] for p in server.statuses] == [
        f"{PUBLIC}/jobs/{second['job']['id']}"
    ]


async def test_github_statuses(
    settings: Settings, forge: tuple[StandInForge, Repo]
) -> None:
    server, repo = forge
    changed = settings.model_copy(
        update={"github_token": SecretStr(GITHUB_TOKEN), "github_api_url": server.url}
    )
    async with running(changed) as (_, client):
        await register_app(
            client, server, subprojects=[{"path": "lib", "lint": "exit 3"}]
        )
        sha = repo.write({"lib/x.txt": "x\n"})
        publish(repo, server.repos["platform/app"])

        done = await wait_job(
            client, await enqueue(client, "app", recipe="lint", sha=sha)
        )
        with trio.fail_after(30):
            while not any(p.body["state"] == "failure" for p in server.accepted()):
                await server.wait_for(len(server.accepted()) + 1)

    assert done["job"]["status"] == "failed"
    final = server.accepted()[-1]
    assert (final.forge, final.sha) == ("github", sha)
    assert final.headers["Authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert final.headers["Accept"] == "application/vnd.github+json"
    assert final.body["context"] == "crafting-table/lib/lint"
    # The generic parser's one finding for a failed recipe.
    assert final.body["description"] == "lint failed with exit 3, 1 finding(s)"


async def test_a_verify_run_posts_nothing(
    settings: Settings, forge: tuple[StandInForge, Repo]
) -> None:
    server, _ = forge
    async with running(gitea_settings(settings, server)) as (handle, client):
        await register_app(client, server)
        project = await handle.ledger.read(project_store.get, "app")
        assert project is not None
        # The patch loop's verify run, enqueued the way the Patcher does.
        verify = await enqueue_job(
            handle.ledger,
            handle.refs["runner"],
            project,
            recipe="test",
            subproject=None,
            ref="main",
            sha=None,
            trigger="verify",
        )
        first = await wait_job(client, verify.id)
        second = await wait_job(client, await enqueue(client, "app", recipe="test"))
        await server.wait_for(1)

    assert first["job"]["status"] == second["job"]["status"] == "succeeded"
    assert {p.body["target_url"] for p in server.statuses} == {
        f"{PUBLIC}/jobs/{second['job']['id']}"
    }
