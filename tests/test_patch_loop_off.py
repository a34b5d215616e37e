"""The patch loop without its settings: off, and saying what is missing."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from tests.support import Repo, register, run_job

REQUIRED = [
    "CRAFTING_CLAWDFORGE_URL",
    "CRAFTING_CLAWDFORGE_TOKEN",
    "CRAFTING_GITEA_URL",
    "CRAFTING_GITEA_TOKEN",
]


async def test_off_without_settings(admin: httpx.AsyncClient, make_repo: Any) -> None:
    repo: Repo = make_repo({"app.py": "import os\n"})
    await register(admin, repo, name="alpha", lint="exit 1")
    answer = await admin.put(
        "/projects/alpha",
        json={
            "name": "alpha",
            "git_url": repo.url,
            "subprojects": [{"path": ".", "lint": "exit 1"}],
            "notify": {"auto_patch": True},
        },
    )
    assert answer.status_code == 200, answer.text
    job = (await run_job(admin, "alpha", recipe="lint"))["job"]

    refused = await admin.post(f"/jobs/{job['id']}/patches", json={})

    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "not_configured"
    for name in REQUIRED:
        assert name in error["message"]
    assert error["details"]["missing"] == REQUIRED

    with trio.fail_after(30):
        while True:
            health = (await admin.get("/healthz")).json()
            [actor] = [a for a in health["actors"] if a["name"] == "patcher"]
            if actor["actor"] and actor["actor"]["handled"] >= 1:
                break
            await trio.sleep(0.05)
    assert health["patcher"]["enabled"] is False
    assert health["patcher"]["missing"] == REQUIRED
    assert "CRAFTING_GITEA_TOKEN" in health["patcher"]["reason"]
    assert health["patcher"]["attempts_started"] == 0
    patches = (await admin.get("/patches")).json()["patches"]
    assert patches == []
