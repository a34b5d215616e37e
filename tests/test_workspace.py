"""The workspace: git is never steered by what a repository or recipe wrote."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table.config import Settings
from crafting_table.errors import GitError, UnsafeGitInput
from crafting_table.gitcmd import run_git
from crafting_table.workspace import Remote, Workspace, inherited_configs
from tests.support import Repo, register, run_job


async def test_repository_config_and_hooks_are_not_obeyed(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo ran")
    assert (await run_job(admin, "demo", recipe="test"))["job"]["status"] == "succeeded"

    # What a recipe could write into the clone if it could reach it.
    cache = service.settings.workspace_dir / "demo" / ".cache"
    pwned = tmp_path / "pwned"
    for hook in ("post-checkout", "reference-transaction", "post-merge"):
        script = cache / "hooks" / hook
        script.parent.mkdir(exist_ok=True)
        script.write_text(f"#!/bin/sh\ntouch {pwned}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    with open(cache / "config", "a") as config:
        config.write(
            f"[core]\n\tfsmonitor = touch {pwned}\n\tsshCommand = touch {pwned}\n"
            f"\thooksPath = {cache / 'hooks'}\n"
            f'[filter "x"]\n\tsmudge = touch {pwned}\n'
        )
    repo.write({".gitattributes": "* filter=x\n"}, "attributes")

    body = await run_job(admin, "demo", recipe="test")

    assert body["job"]["status"] == "succeeded"
    assert not pwned.exists()


async def test_credentials_stay_out_of_config_and_errors(
    admin: httpx.AsyncClient, service: ServiceHandle
) -> None:
    token = "s3cret-token-value"
    answer = await admin.post(
        "/projects",
        json={
            "name": "remote",
            "git_url": f"http://bot:{token}@127.0.0.1:9/org/repo.git",
            "subprojects": [{"test": "echo ran"}],
        },
    )
    assert answer.status_code == 201
    assert token not in answer.text
    assert answer.json()["project"]["git_url"] == "http://***@127.0.0.1:9/org/repo.git"

    body = await run_job(admin, "remote", recipe="test")
    log = (await admin.get(f"/jobs/{body['job']['id']}/log")).text

    assert body["job"]["status"] == "failed"
    assert token not in (body["job"]["error"] or "")
    assert token not in log
    config = (
        service.settings.workspace_dir / "remote" / ".cache" / "config"
    ).read_text()
    assert token not in config
    assert "127.0.0.1:9" not in config


async def test_file_urls_follow_the_policy(tmp_path: Path, make_repo: Any) -> None:
    repo: Repo = make_repo()
    workspace = Workspace(tmp_path / "ws")

    with pytest.raises(UnsafeGitInput, match="not allowed"):
        Remote.from_git_url(repo.url, allow_file=False)
    remote = Remote.from_git_url(repo.url, allow_file=True)
    await workspace.sync("p", remote)
    sha = await workspace.resolve("p", remote, ref="main", sha=None)

    assert sha == repo.git("rev-parse", "HEAD")


async def test_non_admin_cannot_register_a_local_path(
    admin: httpx.AsyncClient, service: ServiceHandle, make_repo: Any
) -> None:
    service.settings.allow_file_urls = "admin"
    minted = await admin.post("/admin/tokens", json={"name": "alice"})
    bearer = minted.json()["bearer"]
    repo: Repo = make_repo()

    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {bearer}"}
    ) as alice:
        answer = await alice.post(
            "/projects",
            json={
                "name": "mine",
                "git_url": repo.url,
                "subprojects": [{"test": "true"}],
            },
        )

    assert answer.status_code == 422
    assert "only admins may register" in answer.json()["error"]["message"]


async def test_a_local_path_runs_only_while_its_owner_is_an_admin(
    admin: httpx.AsyncClient, service: ServiceHandle, make_repo: Any
) -> None:
    service.settings.allow_file_urls = "admin"
    minted = await admin.post("/admin/tokens", json={"name": "ops", "is_admin": True})
    bearer = minted.json()["bearer"]
    repo: Repo = make_repo()
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {bearer}"}
    ) as ops:
        await register(ops, repo, test="echo ran")
        first = await run_job(ops, "demo", recipe="test")
    assert first["job"]["status"] == "succeeded", first["log_tail"]

    # No longer an admin: the project stays, its local clone no longer runs.
    assert (await admin.delete("/admin/tokens/ops")).status_code == 200
    second = await run_job(admin, "demo", recipe="test")

    assert second["job"]["status"] == "failed"
    assert "CRAFTING_ALLOW_FILE_URLS" in second["job"]["error"]
    assert not any(line == "ran" for line in second["log_tail"])


async def test_git_refuses_ext_transport_even_if_asked(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        await run_git(
            ["ls-remote", "--", f"ext::sh -c touch% {tmp_path}/x"], timeout=30
        )

    assert not (tmp_path / "x").exists()


async def test_fetches_are_coalesced(tmp_path: Path, make_repo: Any) -> None:
    import trio

    repo: Repo = make_repo()
    workspace = Workspace(tmp_path / "ws")
    remote = Remote.from_git_url(repo.url, allow_file=True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(workspace.sync, "p", remote)
        while workspace.fetch_count("p") == 0:
            await trio.lowlevel.checkpoint()
        # Asked while the first fetch is under way: it may have missed what
        # they want, so they get one more fetch, shared by all nine.
        for _ in range(9):
            nursery.start_soon(workspace.sync, "p", remote)

    assert workspace.fetch_count("p") == 2


async def test_read_only_leftovers_are_removed(tmp_path: Path, make_repo: Any) -> None:
    repo: Repo = make_repo()
    workspace = Workspace(tmp_path / "ws")
    remote = Remote.from_git_url(repo.url, allow_file=True)
    await workspace.sync("p", remote)
    sha = await workspace.resolve("p", remote, ref="main", sha=None)
    tree = await workspace.add_worktree("p", "job1", sha)
    locked = tree / "mod" / "pkg"
    locked.mkdir(parents=True)
    (locked / "file").write_text("x")
    os.chmod(locked, 0o500)
    os.chmod(locked.parent, 0o500)

    await workspace.remove_worktree("p", "job1")

    assert not tree.exists()


async def test_worktree_git_never_reads_the_worktrees_own_git_file(
    tmp_path: Path, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    other: Repo = make_repo({"other.txt": "x\n"})
    workspace = Workspace(tmp_path / "ws")
    remote = Remote.from_git_url(repo.url, allow_file=True)
    await workspace.sync("p", remote)
    sha = await workspace.resolve("p", remote, ref="main", sha=None)
    tree = await workspace.add_worktree("p", "job1", sha)
    # What a recipe could do to its worktree: point it at another repository.
    (tree / ".git").write_text(f"gitdir: {other.path / '.git'}\n")

    result = await workspace.worktree_git(
        "p", "job1", ["rev-parse", "--verify", "HEAD"]
    )

    assert result.stdout.strip() == sha != other.git("rev-parse", "HEAD")


async def test_a_repository_cannot_name_a_proxy_command(tmp_path: Path) -> None:
    marker = tmp_path / "proxied"
    proxy = tmp_path / "proxy.sh"
    proxy.write_text(f"#!/bin/sh\ntouch {marker}\n")
    proxy.chmod(0o755)
    bare = tmp_path / "bare.git"
    await run_git(["init", "--bare", "--quiet", "--", str(bare)], timeout=30)
    with open(bare / "config", "a") as config:
        config.write(f"[core]\n\tgitProxy = {proxy}\n")

    with pytest.raises(GitError):
        await run_git(["ls-remote", "--", "git://127.0.0.1:9/x"], git_dir=bare)

    assert not marker.exists()


def test_seal_sets_the_folder_modes_recipes_rely_on(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "p" / ".cache").mkdir(parents=True)
    (root / ".trash").mkdir()
    workspace = Workspace(root)

    workspace.seal()

    modes = {
        name: stat.S_IMODE((root / name).stat().st_mode)
        for name in (".", "p", "p/.cache", ".trash")
    }
    assert modes == {".": 0o711, "p": 0o711, "p/.cache": 0o700, ".trash": 0o700}


def test_configuration_above_the_workspace_is_found(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "workspace").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[tool.ruff]\n")
    (tmp_path / "package.json").write_text("{}\n")
    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo" / "config.toml").write_text("[build]\n")
    (checkout / "workspace" / "ruff.toml").write_text("")

    found = inherited_configs(checkout / "workspace")

    # Nearest first; what is inside the workspace itself is not inherited.
    assert found.index(checkout / "pyproject.toml") < found.index(
        tmp_path / "package.json"
    )
    assert tmp_path / ".cargo" / "config.toml" in found
    assert checkout / "workspace" / "ruff.toml" not in found


async def test_the_service_warns_of_configuration_its_jobs_would_read(
    settings: Settings,
    nursery: trio.Nursery,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    settings.workspace_dir = checkout / "workspace"

    service: ServiceHandle = await nursery.start(run_service, settings)
    await service.aclose()

    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        str(checkout / "pyproject.toml") in m and "CRAFTING_WORKSPACE_DIR" in m
        for m in warned
    ), warned
