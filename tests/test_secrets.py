"""Secrets never reach a job's log, its live frames or its error.

The forge token and the admin bearer as a recipe prints them, whole, split
across two writes, URL-encoded or base64-encoded; a project's git
credentials in its own job logs, and in the error of a failed fetch whose
server repeats them.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio
from pydantic import SecretStr
from trio_websocket import open_websocket_url

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from tests.gitserver import GitServer
from tests.support import Repo, enqueue, register, run_job, wait_job

FORGE_TOKEN = "gt_5e1f0a9c+d/7b=secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with a forge token to keep secret."""
    settings.gitea_token = SecretStr(FORGE_TOKEN)
    return settings


async def watch(service: ServiceHandle, job_id: str) -> list[str]:
    """Every line a websocket watcher of the job receives until the end."""
    url = service.url.replace("http://", "ws://") + f"/jobs/{job_id}/log/ws"
    headers = [(b"Authorization", f"Bearer {service.admin_bearer}".encode())]
    lines: list[str] = []
    async with open_websocket_url(url, extra_headers=headers) as ws:
        with trio.fail_after(60):
            while True:
                message = json.loads(await ws.get_message())
                if message["type"] == "end":
                    return lines
                lines.extend(message["lines"])


async def test_secrets_printed_by_a_recipe_never_reach_the_log_or_watchers(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle
) -> None:
    bearer = service.admin_bearer
    assert bearer is not None
    half = len(FORGE_TOKEN) // 2
    shapes = {
        "whole": FORGE_TOKEN,
        "url-encoded": quote(FORGE_TOKEN, safe=""),
        "base64": base64.b64encode(FORGE_TOKEN.encode()).decode(),
        "basic-auth": base64.b64encode(f"x-token:{FORGE_TOKEN}".encode()).decode(),
        "bearer": bearer,
        "bearer-base64": base64.b64encode(bearer.encode()).decode(),
    }
    q = shlex.quote
    script = "".join(f"echo {name}={q(value)}\n" for name, value in shapes.items())
    script += (
        f"printf %s split={q(FORGE_TOKEN[:half])}\n"
        "sleep 0.5\n"
        f"printf '%s\\n' {q(FORGE_TOKEN[half:])}\n"
        "sleep 1\n"
    )
    repo: Repo = make_repo({"leak.sh": script})
    await register(admin, repo, test="sh leak.sh")

    job_id = await enqueue(admin, "demo", recipe="test")
    frames = await watch(service, job_id)
    body = await wait_job(admin, job_id)
    log = (await admin.get(f"/jobs/{job_id}/log")).text

    assert body["job"]["status"] == "succeeded", body["log_tail"]
    watched = "\n".join(frames)
    for name in [*shapes, "split"]:
        # Inside a longer base64 text only the secret's own characters go.
        assert re.search(rf"^{name}=\S*\*\*\*", log, re.MULTILINE), name
        assert re.search(rf"^{name}=\S*\*\*\*", watched, re.MULTILINE), name
    for value in shapes.values():
        assert value not in log
        assert value not in watched
    assert FORGE_TOKEN[:half] + FORGE_TOKEN[half:] not in log


async def test_git_credentials_are_masked_in_the_project_log(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    token = "tok-3f8e0c1d9a7b"
    repo: Repo = make_repo()
    served = tmp_path / "served"
    served.mkdir()
    repo.git("clone", "-q", "--bare", str(repo.path), str(served / "demo.git"))
    repo.git("--git-dir", str(served / "demo.git"), "update-server-info")

    with GitServer(served, "bot", token).running() as server:
        answer = await admin.post(
            "/projects",
            json={
                "name": "demo",
                "git_url": server.url("demo.git"),
                "subprojects": [{"test": f"echo token={token}; cat README.md"}],
            },
        )
        assert answer.status_code == 201, answer.text
        body = await run_job(admin, "demo", recipe="test")
        log = (await admin.get(f"/jobs/{body['job']['id']}/log")).text

    assert body["job"]["status"] == "succeeded", body["log_tail"]
    assert "hello" in body["log_tail"]
    assert "token=***" in log
    assert token not in log


@pytest.mark.parametrize("username", ["crafting-table", "oauth2"])
async def test_a_user_name_beside_a_token_stays_readable(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path, username: str
) -> None:
    # Forges want a user name beside a token (Gitea any, GitLab oauth2),
    # often a common word: masking it would mask that word in every log.
    token = "tok-5d1e7a2c9b40"
    repo: Repo = make_repo()
    served = tmp_path / "served"
    served.mkdir()
    repo.git("clone", "-q", "--bare", str(repo.path), str(served / "demo.git"))
    repo.git("--git-dir", str(served / "demo.git"), "update-server-info")

    with GitServer(served, username, token).running() as server:
        answer = await admin.post(
            "/projects",
            json={
                "name": "demo",
                "git_url": server.url("demo.git"),
                "subprojects": [{"test": f"echo built by {username} with {token}"}],
            },
        )
        assert answer.status_code == 201, answer.text
        body = await run_job(admin, "demo", recipe="test")
        log = (await admin.get(f"/jobs/{body['job']['id']}/log")).text

    assert body["job"]["status"] == "succeeded", body["log_tail"]
    assert f"built by {username} with ***" in body["log_tail"]
    assert token not in log


async def test_a_clone_failure_shows_no_credential(
    admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    token = "tok-a1b2c3d4e5f6"
    with GitServer(tmp_path, "bot", token).running() as server:
        answer = await admin.post(
            "/projects",
            json={
                "name": "echo",
                "git_url": server.url("echo/repo.git"),
                "subprojects": [{"test": "echo ran"}],
            },
        )
        assert answer.status_code == 201, answer.text
        body = await run_job(admin, "echo", recipe="test")
        log = (await admin.get(f"/jobs/{body['job']['id']}/log")).text

    error = body["job"]["error"] or ""
    encoded = base64.b64encode(f"bot:{token}".encode()).decode()
    assert body["job"]["status"] == "failed"
    assert "remote error" in error
    assert "***" in error
    for shown in (error, log, json.dumps(body)):
        assert token not in shown
        assert encoded not in shown
    assert "ran" not in body["log_tail"]


async def test_findings_and_logs_mask_what_a_report_or_a_user_token_holds(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    # A user's bearer is known to the service only by its hash, and a report
    # file never passes through the log: both are masked by their shape or
    # value when findings are stored.
    answer = await admin.post("/admin/tokens", json={"name": "dev"})
    assert answer.status_code == 201, answer.text
    user_bearer = answer.json()["bearer"]
    leaks = [
        f"token {FORGE_TOKEN}",
        f"bearer {user_bearer}",
        "remote https://bot:hunter2-pass@git.example.com/x.git",
    ]
    sarif = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "leaky"}},
                "results": [
                    {
                        "ruleId": "R1",
                        "level": "error",
                        "message": {"text": leak},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": "README.md"},
                                    "region": {"startLine": 1},
                                }
                            }
                        ],
                    }
                    for leak in leaks
                ],
            }
        ],
    }
    script = (
        f"printf '%s' {shlex.quote(json.dumps(sarif))} > $CRAFTING_REPORTS/r.sarif\n"
        f"echo user={shlex.quote(user_bearer)}\n"
    )
    repo: Repo = make_repo({"leak.sh": script})
    await register(admin, repo, lint="sh leak.sh")

    body = await run_job(admin, "demo", recipe="lint")
    job_id = body["job"]["id"]
    findings = (await admin.get(f"/jobs/{job_id}/findings")).json()["findings"]
    log = (await admin.get(f"/jobs/{job_id}/log")).text

    assert body["job"]["status"] == "succeeded", body["log_tail"]
    assert sorted(f["message"] for f in findings) == [
        "bearer ***",
        "remote https://***@git.example.com/x.git",
        "token ***",
    ]
    shown = json.dumps(findings)
    for secret in (FORGE_TOKEN, user_bearer, "hunter2-pass"):
        assert secret not in shown
        assert secret not in log
    assert "user=***" in log
