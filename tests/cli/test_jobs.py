"""``crafting-table job retry`` and ``job run --subproject`` against a live service."""

from __future__ import annotations

from typing import Any

import httpx

from tests.cli.conftest import Cli
from tests.support import Repo, enqueue, register, run_job, wait_job


async def test_job_retry_runs_the_same_snapshot_and_commit(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    first_sha = repo.git("rev-parse", "HEAD")
    await register(admin, repo, test="git rev-parse HEAD; exit 3")
    old = (await run_job(admin, "demo", recipe="test"))["job"]
    # Neither a new commit nor a changed recipe reaches the retry.
    repo.write({"later.txt": "later\n"})
    changed = await admin.put(
        "/projects/demo",
        json={
            "name": "demo",
            "git_url": repo.url,
            "subprojects": [{"path": ".", "language": "generic", "test": "exit 0"}],
        },
    )
    assert changed.status_code == 200, changed.text

    retried = await cli("job", "retry", old["id"])

    assert retried.status == 0
    new_id = retried.out.strip()
    assert retried.out == new_id + "\n"
    assert new_id != old["id"]
    assert f"queued job {new_id} (retry of {old['id']}): test of demo (.) at " in (
        retried.err
    )
    new = await wait_job(admin, new_id)
    assert (new["job"]["retry_of"], new["job"]["trigger"]) == (old["id"], "retry")
    assert (new["job"]["exit_code"], new["job"]["sha"]) == (3, first_sha)
    assert first_sha in new["log_tail"]
    shown = await cli("job", "show", new_id)
    assert f"retry of:   {old['id']}" in shown.out

    followed = await cli("job", "retry", new_id, "--follow")
    assert followed.status == 3
    recipe_lines = [
        line for line in followed.out.splitlines() if not line.startswith("[")
    ]
    assert recipe_lines == [first_sha]
    assert "failed with exit code 3" in followed.err.splitlines()[-1]
    as_json = await cli("job", "retry", old["id"], "--json")
    assert as_json.json()["job"]["retry_of"] == old["id"]


async def test_job_retry_of_an_unfinished_or_unknown_job_is_refused(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="sleep 60")
    running = await enqueue(admin, "demo", recipe="test")

    early = await cli("job", "retry", running)
    unknown = await cli("job", "retry", "no-such-job")
    await admin.post(f"/jobs/{running}/cancel")

    assert (early.status, early.out) == (1, "")
    assert early.err.startswith(f"crafting-table: conflict: job {running!r} is still ")
    assert early.err.endswith("; retry it once it has ended\n")
    assert (unknown.status, unknown.out) == (1, "")
    assert unknown.err == "crafting-table: not_found: no job with id 'no-such-job'\n"


async def test_job_run_subproject_picks_that_subprojects_recipe(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"api/name.txt": "api\n", "web/name.txt": "web\n"})
    answer = await admin.post(
        "/projects",
        json={
            "name": "duo",
            "git_url": repo.url,
            "subprojects": [
                {"path": path, "language": "generic", "test": test}
                for path, test in (
                    ("api", "echo api recipe in $(cat name.txt)"),
                    ("web", "echo web recipe in $(cat name.txt); exit 6"),
                )
            ],
        },
    )
    assert answer.status_code == 201, answer.text

    web = await cli("job", "run", "duo", "test", "--subproject", "web", "--follow")
    api = await cli("job", "run", "duo", "test", "--subproject", "api", "--follow")
    neither = await cli("job", "run", "duo", "test")
    unknown = await cli("job", "run", "duo", "test", "--subproject", "docs")

    assert web.status == 6
    assert "web recipe in web\n" in web.out
    assert "api recipe" not in web.out
    assert "test of duo (web) at main" in web.err
    assert api.status == 0
    assert "api recipe in api\n" in api.out
    assert "web recipe" not in api.out
    for refused in (neither, unknown):
        assert (refused.status, refused.out) == (1, "")
        assert refused.err.startswith("crafting-table: ")
        assert len(refused.err.splitlines()) == 1
        assert "; pass --subproject with one of 'api', 'web'" in refused.err
    assert "has no subproject 'docs'" in unknown.err


async def test_following_a_job_that_failed_before_its_recipe_says_why(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="exit 1")

    followed = await cli("job", "run", "demo", "test", "--ref", "nope", "--follow")

    assert followed.status == 125
    last = followed.err.splitlines()[-1]
    assert "failed: branch or tag 'nope' does not exist" in last
