"""Who may call what: every endpoint against every kind of caller.

Callers: nobody, a made-up bearer, a revoked bearer, an address outside
the LAN ranges, a token whose own ranges exclude the caller, another
owner, the owner, and an admin. Another owner's objects must answer
exactly like missing ones.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from crafting_table.ledger import findings as finding_store
from tests.support import Repo, run_job


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    # The status an authorised caller gets: owner of the objects, or admin.
    ok: int
    scope: str  # "lan" (no token), "any", "owner" or "admin"


def calls(job: str, patch: int, git_url: str) -> list[Call]:
    project = {
        "name": "demo",
        "git_url": git_url,
        "subprojects": [{"test": "true"}],
    }
    return [
        Call("GET", "/healthz", None, 200, "lan"),
        Call("GET", "/openapi.json", None, 200, "lan"),
        Call("GET", "/docs", None, 200, "lan"),
        Call("GET", "/admin/tokens", None, 200, "admin"),
        Call("POST", "/admin/tokens", {"name": "zed"}, 201, "admin"),
        Call("GET", "/projects", None, 200, "any"),
        Call("POST", "/projects", {**project, "name": "fresh"}, 201, "any"),
        Call("GET", "/projects/demo", None, 200, "owner"),
        Call("PUT", "/projects/demo", project | {"default_branch": "x"}, 200, "owner"),
        Call("POST", "/projects/demo/jobs", {"recipe": "test"}, 201, "owner"),
        Call("GET", "/jobs", None, 200, "any"),
        Call("GET", f"/jobs/{job}", None, 200, "owner"),
        Call("GET", f"/jobs/{job}/log", None, 200, "owner"),
        Call("GET", f"/jobs/{job}/findings", None, 200, "owner"),
        Call("GET", f"/jobs/{job}/findings.sarif", None, 200, "owner"),
        Call("POST", f"/jobs/{job}/cancel", None, 409, "owner"),
        Call("POST", f"/jobs/{job}/patches", {}, 503, "owner"),
        Call("GET", "/patches", None, 200, "any"),
        Call("GET", f"/patches/{patch}", None, 200, "owner"),
        Call("POST", f"/jobs/{job}/retry", None, 201, "owner"),
        Call("GET", "/digests/2026-01-15", None, 200, "admin"),
        Call("POST", "/admin/digest/run-now", {"dry_run": True}, 200, "admin"),
        Call("DELETE", "/admin/tokens/zed", None, 200, "admin"),
        Call("DELETE", "/projects/demo", None, 200, "owner"),
    ]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback is a trusted proxy here, so a test can claim any address."""
    settings.trusted_proxies = ["127.0.0.1/32"]
    return settings


async def mint(admin: httpx.AsyncClient, name: str, **extra: Any) -> str:
    answer = await admin.post("/admin/tokens", json={"name": name, **extra})
    assert answer.status_code == 201, answer.text
    bearer: str = answer.json()["bearer"]
    return bearer


async def own(
    service: ServiceHandle, bearer: str, owner: str, project: str, repo: Repo
) -> tuple[str, int]:
    """``owner`` registers ``project`` and runs one failing job; a patch
    attempt is recorded at its finding. Returns the job id and attempt id."""
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {bearer}"}
    ) as client:
        answer = await client.post(
            "/projects",
            json={
                "name": project,
                "git_url": repo.url,
                "subprojects": [{"test": "exit 1"}],
            },
        )
        assert answer.status_code == 201, answer.text
        job = (await run_job(client, project, recipe="test"))["job"]["id"]

    def add_attempt(conn: Any) -> int:
        finding = finding_store.for_job(conn, job)[0]
        now = time.time()
        cursor = conn.execute(
            "INSERT INTO patch_attempts (finding_id, job_id, project_name, owner,"
            " attempt_number, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 1, 'failed', ?, ?)",
            (finding.id, job, project, owner, now, now),
        )
        return int(cursor.lastrowid)

    return job, await service.ledger.write(add_attempt)


async def world(
    service: ServiceHandle, admin: httpx.AsyncClient, repo: Repo
) -> dict[str, Any]:
    """alice owns project demo with one finished job and one patch attempt."""
    alice = await mint(admin, "alice")
    job, patch = await own(service, alice, "alice", "demo", repo)
    revoked = await mint(admin, "gone")
    assert (await admin.delete("/admin/tokens/gone")).status_code == 200
    return {
        "job": job,
        "patch": patch,
        "git_url": repo.url,
        "bearers": {
            "owner": alice,
            "other": await mint(admin, "bob"),
            "admin": service.admin_bearer,
            "revoked": revoked,
            "bad": "ct_" + "x" * 43,
            "cidr": await mint(admin, "carol", ip_cidrs=["10.9.0.0/16"]),
        },
    }


def expected(call: Call, caller: str) -> int:
    if caller == "outside":
        return 403
    if call.scope == "lan":
        return call.ok
    if caller in ("none", "bad", "revoked"):
        return 401
    if caller == "cidr":
        return 403
    if caller == "admin":
        return call.ok
    if call.scope == "admin":
        return 403
    if call.scope == "owner" and caller == "other":
        return 404
    return call.ok


def headers_for(caller: str, bearers: dict[str, str]) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "outside":
        return {
            "Authorization": f"Bearer {bearers['admin']}",
            "X-Forwarded-For": "8.8.8.8",
        }
    return {"Authorization": f"Bearer {bearers[caller]}"}


@pytest.mark.parametrize(
    "caller", ["none", "bad", "revoked", "outside", "cidr", "other", "owner", "admin"]
)
async def test_matrix(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any, caller: str
) -> None:
    setup = await world(service, admin, make_repo())
    headers = headers_for(caller, setup["bearers"])
    seen = {}

    async with httpx.AsyncClient(base_url=service.url, headers=headers) as client:
        for call in calls(setup["job"], setup["patch"], setup["git_url"]):
            answer = await client.request(call.method, call.path, json=call.body)
            seen[f"{call.method} {call.path}"] = (
                answer.status_code,
                expected(call, caller),
            )
            if answer.status_code >= 400:
                assert answer.headers["content-type"].startswith("application/json")
                assert answer.json()["ok"] is False

    wrong = {k: v for k, v in seen.items() if v[0] != v[1]}
    assert wrong == {}, f"(got, expected) for {caller}"


async def test_other_owner_sees_the_same_404_as_missing(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    setup = await world(service, admin, make_repo())
    bob = {"Authorization": f"Bearer {setup['bearers']['other']}"}

    async with httpx.AsyncClient(base_url=service.url, headers=bob) as client:
        hidden = await client.get(f"/jobs/{setup['job']}")
        missing = await client.get("/jobs/" + "0" * 20)
        hidden_project = await client.get("/projects/demo")
        missing_project = await client.get("/projects/nothere")
        hidden_patch = await client.get(f"/patches/{setup['patch']}")
        missing_patch = await client.get(f"/patches/{setup['patch'] + 1000}")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"]
    assert hidden.json()["error"]["message"].replace(
        setup["job"], "X"
    ) == missing.json()["error"]["message"].replace("0" * 20, "X")
    assert hidden_project.json()["error"]["message"].replace("demo", "X") == (
        missing_project.json()["error"]["message"].replace("nothere", "X")
    )
    assert hidden_patch.status_code == missing_patch.status_code == 404
    assert json.loads(hidden_patch.text.replace(str(setup["patch"]), "X")) == (
        json.loads(missing_patch.text.replace(str(setup["patch"] + 1000), "X"))
    )


async def test_lists_show_own_rows_and_admin_all(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    setup = await world(service, admin, make_repo())
    bearers = setup["bearers"]
    bobs = await own(service, bearers["other"], "bob", "bobs", make_repo())
    mine = {
        "owner": ({"demo"}, {setup["job"]}, {setup["patch"]}),
        "other": ({"bobs"}, {bobs[0]}, {bobs[1]}),
        "admin": ({"demo", "bobs"}, {setup["job"], bobs[0]}, {setup["patch"], bobs[1]}),
    }

    for caller, (projects, jobs, patches) in mine.items():
        headers = headers_for(caller, bearers)
        async with httpx.AsyncClient(base_url=service.url, headers=headers) as client:
            seen = (
                {p["name"] for p in (await client.get("/projects")).json()["projects"]},
                {j["id"] for j in (await client.get("/jobs")).json()["jobs"]},
                {p["id"] for p in (await client.get("/patches")).json()["patches"]},
            )
        assert seen == (projects, jobs, patches), caller


@pytest.mark.parametrize(
    ("caller", "status"),
    [
        ("none", 401),
        ("bad", 401),
        ("revoked", 401),
        ("outside", 403),
        ("cidr", 403),
        ("other", 404),
        ("owner", 101),
        ("admin", 101),
    ],
)
async def test_websocket_authorization(
    service: ServiceHandle,
    admin: httpx.AsyncClient,
    make_repo: Any,
    caller: str,
    status: int,
) -> None:
    setup = await world(service, admin, make_repo())
    url = service.url.replace("http://", "ws://") + f"/jobs/{setup['job']}/log/ws"
    headers = [
        (k.encode(), v.encode())
        for k, v in headers_for(caller, setup["bearers"]).items()
    ]

    if status == 101:
        async with open_websocket_url(url, extra_headers=headers) as ws:
            with trio.fail_after(10):
                while "end" not in (message := await ws.get_message()):
                    pass
        assert '"status": "failed"' in message
    else:
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(url, extra_headers=headers):
                pass
        assert rejected.value.status_code == status


async def test_websocket_bearer_as_subprotocol(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    setup = await world(service, admin, make_repo())
    url = service.url.replace("http://", "ws://") + f"/jobs/{setup['job']}/log/ws"
    offered = ["crafting-table", "bearer." + setup["bearers"]["owner"]]

    async with open_websocket_url(url, subprotocols=offered) as ws:
        assert ws.subprotocol == "crafting-table"
        first = await ws.get_message()

    assert "lines" in first


async def test_revoked_token_fails_on_its_next_request(
    service: ServiceHandle, admin: httpx.AsyncClient
) -> None:
    bearer = await mint(admin, "dave")
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {bearer}"}
    ) as dave:
        assert (await dave.get("/projects")).status_code == 200
        assert (await admin.delete("/admin/tokens/dave")).status_code == 200
        answer = await dave.get("/projects")

    assert answer.status_code == 401
    assert "revoked" in answer.json()["error"]["message"]


async def test_last_admin_cannot_be_revoked(admin: httpx.AsyncClient) -> None:
    answer = await admin.delete("/admin/tokens/admin")

    assert answer.status_code == 409
    assert "last admin token" in answer.json()["error"]["message"]
