"""``POST /jobs/{id}/retry`` on the real service."""

from __future__ import annotations

from typing import Any

import httpx

from actors.serve import ServiceHandle
from tests.support import Repo, enqueue, register, run_job, wait_job


async def test_retry_runs_the_same_recipe_at_the_same_commit(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"v.txt": "one\n"})
    await register(admin, repo, test="cat v.txt; exit 3")
    first = (await run_job(admin, "demo", recipe="test"))["job"]
    # The project and the branch move on; the retry must not follow them.
    repo.write({"v.txt": "two\n"})
    changed = await admin.put(
        "/projects/demo",
        json={
            "name": "demo",
            "git_url": repo.url,
            "subprojects": [{"path": ".", "test": "echo changed"}],
        },
    )
    assert changed.status_code == 200, changed.text

    answer = await admin.post(f"/jobs/{first['id']}/retry")

    assert answer.status_code == 201, answer.text
    queued = answer.json()["job"]
    assert answer.json()["job_id"] == queued["id"] != first["id"]
    assert (queued["trigger"], queued["retry_of"]) == ("retry", first["id"])
    assert queued["command"] == first["command"] == "cat v.txt; exit 3"
    done = await wait_job(admin, queued["id"])
    assert done["job"]["sha"] == first["sha"]
    assert done["job"]["ref"] == first["ref"]
    assert done["job"]["exit_code"] == 3
    assert "one" in done["log_tail"]
    listed = (await admin.get("/jobs")).json()["jobs"]
    assert [j["retry_of"] for j in listed] == [first["id"], None]


async def test_a_retry_of_a_retry_links_to_its_own_original(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="true")
    first = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    second = (await admin.post(f"/jobs/{first}/retry")).json()["job_id"]
    await wait_job(admin, second)

    third = (await admin.post(f"/jobs/{second}/retry")).json()["job"]

    assert third["retry_of"] == second
    await wait_job(admin, third["id"])


async def test_a_running_job_cannot_be_retried(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="sleep 30")
    job_id = await enqueue(admin, "demo", recipe="test")

    answer = await admin.post(f"/jobs/{job_id}/retry")

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "conflict"
    await admin.post(f"/jobs/{job_id}/cancel")
    assert len((await admin.get("/jobs")).json()["jobs"]) == 1


async def test_another_owners_job_is_not_found(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="true")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    minted = await admin.post("/admin/tokens", json={"name": "bob"})
    bob = {"Authorization": f"Bearer {minted.json()['bearer']}"}

    async with httpx.AsyncClient(base_url=service.url, headers=bob) as client:
        hidden = await client.post(f"/jobs/{job_id}/retry")
        missing = await client.post("/jobs/" + "0" * 20 + "/retry")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]
    assert len((await admin.get("/jobs")).json()["jobs"]) == 1
