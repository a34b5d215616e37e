"""Webhooks on the real service: signed, forged, replayed and superseded pushes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from tests.digest_service import running as serving
from tests.forge_payloads import (
    ZERO,
    commit,
    github_ping,
    headers,
    push_body,
)
from tests.support import Repo, enqueue, wait_job

SECRET = "hook-secret-1234"
FORGES = [pytest.param("gitea", id="gitea"), pytest.param("github", id="github")]


@pytest.fixture
async def anonymous(service: ServiceHandle) -> AsyncIterator[httpx.AsyncClient]:
    """A client without a bearer, as a forge calls."""
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        yield client


async def register_mono(
    admin: httpx.AsyncClient, repo: Repo, **fields: Any
) -> dict[str, Any]:
    """Register ``repo`` with an api and a web subproject and push triggers."""
    body = {
        "name": "mono",
        "git_url": repo.url,
        "webhook_secret": SECRET,
        "on_push": ["test", "lint"],
        "subprojects": [
            {"path": "api", "test": "cat v.txt", "lint": "echo lint-api"},
            {"path": "web", "test": "cat v.txt"},
        ],
        **fields,
    }
    answer = await admin.post("/projects", json=body)
    assert answer.status_code == 201, answer.text
    project: dict[str, Any] = answer.json()["project"]
    return project


def mono_repo(make_repo: Any) -> Repo:
    """A repository with an api and a web folder."""
    repo: Repo = make_repo({"api/v.txt": "api-1\n", "web/v.txt": "web-1\n"})
    return repo


async def deliver(
    client: httpx.AsyncClient,
    forge: str,
    body: bytes,
    *,
    secret: str | None = SECRET,
    project: str = "mono",
    **kw: Any,
) -> httpx.Response:
    """POST a delivery the way ``forge`` does."""
    return await client.post(
        f"/hooks/{forge}/{project}",
        content=body,
        headers=headers(forge, body, secret, **kw),
    )


async def running(admin: httpx.AsyncClient, job_id: str) -> None:
    """Wait until the job has started."""
    with trio.fail_after(30):
        while (await admin.get(f"/jobs/{job_id}")).json()["job"]["status"] != "running":
            await trio.sleep(0.05)


async def settle(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Wait until no job is queued or running; return every job, oldest first.

    A test ends only then: the service fixture cancels whatever still runs.
    """
    with trio.fail_after(60):
        while True:
            jobs = await all_jobs(admin)
            if all(j["status"] not in ("queued", "running") for j in jobs):
                return jobs
            await trio.sleep(0.05)


async def all_jobs(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every job, oldest first."""
    jobs: list[dict[str, Any]] = (await admin.get("/jobs")).json()["jobs"]
    return list(reversed(jobs))


@pytest.mark.parametrize("forge", FORGES)
async def test_a_push_runs_the_touched_subproject_at_the_pushed_commit(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any, forge: str
) -> None:
    repo = mono_repo(make_repo)
    before = repo.git("rev-parse", "HEAD")
    await register_mono(admin, repo)
    after = repo.write({"web/v.txt": "web-2\n"}, "web only")
    # A later commit on the branch: the job must run the pushed one.
    repo.write({"web/v.txt": "web-3\n"}, "not pushed yet")
    body = push_body(
        forge,
        "refs/heads/main",
        before,
        after,
        commits=[commit(after, modified=["web/v.txt"])],
    )

    answer = await deliver(anonymous, forge, body)

    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["event"] == "push"
    assert [(j["subproject"], j["recipe"]) for j in data["enqueued"]] == [
        ("web", "test")
    ]
    job = data["enqueued"][0]
    assert (job["trigger"], job["ref"], job["sha"]) == ("push", "main", after)
    done = await wait_job(admin, job["id"])
    assert done["job"]["status"] == "succeeded"
    assert "web-2" in done["log_tail"]
    assert [j["id"] for j in await all_jobs(admin)] == [job["id"]]


@pytest.mark.parametrize("forge", FORGES)
async def test_a_push_touching_both_runs_every_on_push_recipe(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any, forge: str
) -> None:
    repo = mono_repo(make_repo)
    before = repo.git("rev-parse", "HEAD")
    await register_mono(admin, repo)
    after = repo.write({"api/v.txt": "api-2\n", "web/v.txt": "web-2\n"})
    body = push_body(
        forge,
        "refs/heads/main",
        before,
        after,
        commits=[commit(after, modified=["api/v.txt"], added=["web/v.txt"])],
    )

    answer = await deliver(anonymous, forge, body)

    pairs = [(j["subproject"], j["recipe"]) for j in answer.json()["enqueued"]]
    assert pairs == [("api", "test"), ("api", "lint"), ("web", "test")]
    assert [j["status"] for j in await settle(admin)] == ["succeeded"] * 3


async def test_paths_are_ignored_when_the_project_says_so(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any
) -> None:
    repo = mono_repo(make_repo)
    before = repo.git("rev-parse", "HEAD")
    await register_mono(admin, repo, push_paths_only=False, on_push=["test"])
    after = repo.write({"web/v.txt": "web-2\n"})
    body = push_body(
        "gitea",
        "refs/heads/main",
        before,
        after,
        commits=[commit(after, modified=["web/v.txt"])],
    )

    answer = await deliver(anonymous, "gitea", body)

    assert [j["subproject"] for j in answer.json()["enqueued"]] == ["api", "web"]
    await settle(admin)


@pytest.mark.parametrize("forge", FORGES)
@pytest.mark.parametrize(
    ("secret", "project"),
    [
        pytest.param("wrong-secret-000", "mono", id="wrong-secret"),
        pytest.param(None, "mono", id="unsigned"),
        pytest.param(SECRET, "nope", id="unknown-project"),
        pytest.param(SECRET, "plain", id="project-without-secret"),
    ],
)
async def test_forged_deliveries_are_refused_alike(
    admin: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    make_repo: Any,
    forge: str,
    secret: str | None,
    project: str,
) -> None:
    repo = mono_repo(make_repo)
    before = repo.git("rev-parse", "HEAD")
    await register_mono(admin, repo)
    plain = await admin.post(
        "/projects",
        json={
            "name": "plain",
            "git_url": repo.url,
            "on_push": ["test"],
            "subprojects": [{"path": "api", "test": "true"}],
        },
    )
    assert plain.status_code == 201, plain.text
    after = repo.write({"api/v.txt": "api-2\n"})
    body = push_body(
        forge, "refs/heads/main", before, after, commits=[commit(after, added=["api"])]
    )

    answer = await deliver(anonymous, forge, body, secret=secret, project=project)

    # The answer for a project that does not exist, to compare with.
    unknown = await deliver(anonymous, forge, body, project="never-registered")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert answer.json() == unknown.json()
    assert await all_jobs(admin) == []


async def test_a_tampered_body_is_refused(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any
) -> None:
    repo = mono_repo(make_repo)
    before = repo.git("rev-parse", "HEAD")
    await register_mono(admin, repo)
    after = repo.write({"api/v.txt": "api-2\n"})
    body = push_body("github", "refs/heads/main", before, after, commits=[])
    signed = headers("github", body, SECRET)
    tampered = body.replace(b"refs/heads/main", b"refs/heads/evil")

    answer = await anonymous.post(
        "/hooks/github/mono", content=tampered, headers=signed
    )

    assert answer.status_code == 401
    assert await all_jobs(admin) == []


@pytest.mark.parametrize("forge", FORGES)
async def test_a_replayed_delivery_runs_nothing(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any, forge: str
) -> None:
    repo = mono_repo(make_repo)
    before = repo.git("rev-parse", "HEAD")
    await register_mono(admin, repo, on_push=["test"])
    after = repo.write({"api/v.txt": "api-2\n"})
    body = push_body(
        forge,
        "refs/heads/main",
        before,
        after,
        commits=[commit(after, modified=["api/v.txt"])],
    )
    delivery = "5f1c2a4e-0b7d-4c36-9a51-7f0e9d2b8c11"

    first = await deliver(anonymous, forge, body, delivery=delivery)
    second = await deliver(anonymous, forge, body, delivery=delivery)

    assert len(first.json()["enqueued"]) == 1
    assert first.json()["replayed"] is False
    assert second.status_code == 200
    assert second.json()["replayed"] is True
    assert second.json()["enqueued"] == []
    assert len(await settle(admin)) == 1


@pytest.mark.parametrize(
    ("ref", "after_zero", "note"),
    [
        pytest.param("refs/heads/old", True, "branch deleted", id="branch-deletion"),
        pytest.param("refs/tags/v1.0.0", False, "not a branch", id="tag"),
    ],
)
@pytest.mark.parametrize("forge", FORGES)
async def test_deletions_and_tags_run_nothing(
    admin: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    make_repo: Any,
    forge: str,
    ref: str,
    after_zero: bool,
    note: str,
) -> None:
    repo = mono_repo(make_repo)
    head = repo.git("rev-parse", "HEAD")
    await register_mono(admin, repo)
    body = push_body(forge, ref, head, ZERO if after_zero else head, commits=[])

    answer = await deliver(anonymous, forge, body)

    assert answer.status_code == 200, answer.text
    assert answer.json()["enqueued"] == []
    assert note in answer.json()["note"]
    assert await all_jobs(admin) == []


async def test_a_ping_answers_and_runs_nothing(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any
) -> None:
    await register_mono(admin, mono_repo(make_repo))
    body = json.dumps(github_ping()).encode()

    answer = await deliver(anonymous, "github", body, event="ping")
    forged = await deliver(anonymous, "github", body, event="ping", secret="nope-nope")

    assert answer.status_code == 200, answer.text
    assert answer.json()["event"] == "ping"
    assert forged.status_code == 401
    assert await all_jobs(admin) == []


@pytest.mark.parametrize("forge", FORGES)
@pytest.mark.parametrize(
    ("event", "payload", "note"),
    [
        ("ping", github_ping(), "pong"),
        ("issues", {"action": "opened"}, "event 'issues' runs nothing"),
    ],
    ids=["ping", "other-event"],
)
async def test_an_event_that_runs_nothing_echoes_its_delivery(
    admin: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    make_repo: Any,
    forge: str,
    event: str,
    payload: dict[str, Any],
    note: str,
) -> None:
    await register_mono(admin, mono_repo(make_repo))
    body = json.dumps(payload).encode()
    delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

    answer = await deliver(anonymous, forge, body, event=event, delivery=delivery)

    assert answer.status_code == 200, answer.text
    assert answer.json()["delivery"] == delivery
    assert answer.json()["event"] == event
    assert note in answer.json()["note"]
    assert await all_jobs(admin) == []


async def test_a_newer_push_cancels_the_queued_jobs_of_the_older_one(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any
) -> None:
    repo = mono_repo(make_repo)
    base = repo.git("rev-parse", "HEAD")
    # One job at a time, and a slow API job holding the slot, so that the
    # pushes' jobs wait in the queue.
    await register_mono(
        admin,
        repo,
        on_push=["test"],
        max_concurrent_jobs=1,
        subprojects=[{"path": "api", "test": "cat v.txt", "build": "sleep 30"}],
    )
    blocker = await enqueue(admin, "mono", recipe="build")
    waiting = await enqueue(admin, "mono", recipe="test", ref="main")
    first = repo.write({"api/v.txt": "api-2\n"})
    second = repo.write({"api/v.txt": "api-3\n"})
    repo.git("checkout", "-q", "-b", "other")
    other = repo.write({"api/v.txt": "other\n"})
    repo.git("checkout", "-q", "main")
    await running(admin, blocker)
    changes = {"commits": [commit(first, modified=["api/v.txt"])]}

    one = await deliver(
        anonymous,
        "gitea",
        push_body("gitea", "refs/heads/main", base, first, **changes),
    )
    elsewhere = await deliver(
        anonymous,
        "gitea",
        push_body("gitea", "refs/heads/other", base, other, **changes),
    )
    two = await deliver(
        anonymous,
        "gitea",
        push_body("gitea", "refs/heads/main", first, second, **changes),
    )

    [old] = one.json()["enqueued"]
    [new] = two.json()["enqueued"]
    [kept] = elsewhere.json()["enqueued"]
    assert two.json()["canceled"] == [old["id"]]
    statuses = {j["id"]: j["status"] for j in await all_jobs(admin)}
    assert statuses[old["id"]] == "canceled"
    superseded = (await admin.get(f"/jobs/{old['id']}")).json()["job"]
    assert superseded["error"] == (
        f"superseded by job {new['id']}, of a newer push to {new['ref']}"
    )
    assert statuses[new["id"]] == statuses[kept["id"]] == "queued"
    # An API job on the same branch is somebody's request: it stays.
    assert statuses[waiting] == "queued"

    await admin.post(f"/jobs/{blocker}/cancel")
    done = await wait_job(admin, new["id"])
    assert done["job"]["status"] == "succeeded"
    assert "api-3" in done["log_tail"]
    await settle(admin)


async def test_superseded_jobs_stay_when_the_project_says_so(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, make_repo: Any
) -> None:
    repo = mono_repo(make_repo)
    base = repo.git("rev-parse", "HEAD")
    await register_mono(
        admin,
        repo,
        on_push=["test"],
        max_concurrent_jobs=1,
        cancel_superseded=False,
        subprojects=[{"path": "api", "test": "cat v.txt", "build": "sleep 30"}],
    )
    blocker = await enqueue(admin, "mono", recipe="build")
    first = repo.write({"api/v.txt": "api-2\n"})
    second = repo.write({"api/v.txt": "api-3\n"})
    changes = {"commits": [commit(first, modified=["api/v.txt"])]}
    await running(admin, blocker)

    await deliver(
        anonymous,
        "gitea",
        push_body("gitea", "refs/heads/main", base, first, **changes),
    )
    two = await deliver(
        anonymous,
        "gitea",
        push_body("gitea", "refs/heads/main", first, second, **changes),
    )

    assert two.json()["canceled"] == []
    statuses = [j["status"] for j in await all_jobs(admin)]
    assert statuses == ["running", "queued", "queued"]
    await admin.post(f"/jobs/{blocker}/cancel")
    statuses = [j["status"] for j in await settle(admin)]
    assert statuses == ["canceled", "succeeded", "succeeded"]


MIB = 1024 * 1024


def long_push(forge: str, repo: Repo, size: int) -> tuple[bytes, str]:
    """A push of one commit touching web/ whose file list makes ``size`` bytes.

    Forges list every changed file, so a large commit alone makes a
    delivery of many MiB. Returns the body and the pushed sha.
    """
    before = repo.git("rev-parse", "HEAD")
    after = repo.write({"web/v.txt": "web-big\n"}, "web and many more")
    # Each path takes about 25 bytes of JSON; 20 is a bound from below.
    many = [f"web/generated/file-{i:07d}.txt" for i in range(size // 20)]
    entry = commit(after, modified=["web/v.txt", *many])
    body = push_body(forge, "refs/heads/main", before, after, commits=[entry])
    assert len(body) > size
    return body, after


async def in_pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    """``body`` in pieces of ``size`` bytes, which httpx sends chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("forge", FORGES)
async def test_a_delivery_may_be_larger_than_an_api_body(
    service: ServiceHandle,
    admin: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    make_repo: Any,
    forge: str,
) -> None:
    repo = mono_repo(make_repo)
    await register_mono(admin, repo)
    body, after = long_push(forge, repo, 2 * MIB)

    delivered = await deliver(anonymous, forge, body)
    to_api = await admin.post(
        "/projects/mono/jobs",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert service.settings.max_body_bytes == MIB
    assert delivered.status_code == 200, delivered.text[:500]
    [job] = delivered.json()["enqueued"]
    assert (job["subproject"], job["sha"]) == ("web", after)
    assert (await wait_job(admin, job["id"]))["job"]["status"] == "succeeded"
    assert to_api.status_code == 413, to_api.text[:500]
    # The rest of the refused body is never read, so the connection cannot
    # serve another request; the client is told to open a new one.
    assert to_api.headers["connection"] == "close"
    error = to_api.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == {
        "limit_bytes": MIB,
        "setting": "CRAFTING_MAX_BODY_BYTES",
    }
    assert [j["id"] for j in await all_jobs(admin)] == [job["id"]]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_delivery_over_the_hook_limit_is_refused(
    settings: Settings, make_repo: Any, chunked: bool
) -> None:
    repo = mono_repo(make_repo)
    body, _ = long_push("github", repo, 3 * MIB)
    # A small hook limit keeps the test quick; the default is checked in
    # test_config and used by the test above.
    limited = settings.model_copy(update={"max_hook_body_bytes": 2 * MIB})

    async with serving(limited) as (handle, admin):
        await register_mono(admin, repo)
        sent_headers = headers("github", body, SECRET)
        content: bytes | AsyncIterator[bytes] = body
        if chunked:
            # No Content-Length: the limit must hold while the body arrives.
            content = in_pieces(body, MIB)
        async with httpx.AsyncClient(base_url=handle.url, timeout=30) as forge:
            answer = await forge.post(
                "/hooks/github/mono", content=content, headers=sent_headers
            )
        jobs = await all_jobs(admin)

    assert answer.status_code == 413, answer.text[:500]
    assert ("content-length" in answer.request.headers) is not chunked
    error = answer.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["message"] == (
        f"the request body is larger than {2 * MIB} bytes, the limit "
        "CRAFTING_MAX_HOOK_BODY_BYTES sets for this path; send a smaller body "
        "or raise the setting"
    )
    assert error["details"] == {
        "limit_bytes": 2 * MIB,
        "setting": "CRAFTING_MAX_HOOK_BODY_BYTES",
    }
    assert jobs == []
