"""A first end-to-end run: register a repository, run two recipes."""

from __future__ import annotations

import httpx

from tests.support import Repo, register, run_job


async def test_passing_and_failing_recipes(
    admin: httpx.AsyncClient, make_repo: object
) -> None:
    repo: Repo = make_repo()  # type: ignore[operator]
    await register(admin, repo, test="echo hello; exit 0", lint="echo bad >&2; exit 3")

    passed = await run_job(admin, "demo", recipe="test")
    failed = await run_job(admin, "demo", recipe="lint")

    assert passed["job"]["status"] == "succeeded"
    assert passed["job"]["exit_code"] == 0
    assert "hello" in passed["log_tail"]
    assert failed["job"]["status"] == "failed"
    assert failed["job"]["exit_code"] == 3
    assert "bad" in failed["log_tail"]
