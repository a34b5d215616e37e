"""What the service's own git calls refuse, whatever a server or repository asks.

Redirects are followed for the first request to a remote only; a bare
repository committed inside a project is never taken for a repository;
submodules are never fetched or checked out; a server that asks for a
password gets none and no prompt or askpass program runs. Each is seen
from outside: what a real server on loopback received, which files
appeared, how the job ended.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle
from crafting_table import patchrepo
from crafting_table.errors import GitError
from crafting_table.gitcmd import run_git
from crafting_table.workspace import Remote, Workspace
from tests.gitserver import GitServer
from tests.smartgit import SmartGitServer
from tests.support import GIT_ENV, Repo, register, run_job

# A second loopback address: to git and curl, another host.
OTHER_HOST = "127.0.0.2"


def serve_bare(repo: Repo, root: Path, name: str) -> Path:
    """A bare copy of ``repo`` at ``root/name``, for a git server to serve."""
    root.mkdir(exist_ok=True)
    bare = root / name
    repo.git("clone", "-q", "--bare", str(repo.path), str(bare))
    return bare


def marker_script(path: Path, marker: Path) -> Path:
    """An executable that records each run in ``marker`` and prints a password."""
    path.write_text(f"#!/bin/sh\necho ran >> {marker}\necho hunter2\n")
    path.chmod(0o755)
    return path


async def register_remote(admin: httpx.AsyncClient, url: str) -> None:
    """Register ``url`` as project ``demo`` whose test recipe shows README.md."""
    answer = await admin.post(
        "/projects",
        json={
            "name": "demo",
            "git_url": url,
            "subprojects": [{"path": ".", "test": "cat README.md"}],
        },
    )
    assert answer.status_code == 201, answer.text


async def test_a_redirect_of_the_first_request_is_followed(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    root = tmp_path / "served"
    serve_bare(repo, root, "demo.git")

    with (
        SmartGitServer(root, host=OTHER_HOST).running() as moved,
        SmartGitServer(root).running() as first,
    ):
        # Only the reference advertisement moves; git then takes the new
        # address as the base of everything that follows.
        first.redirect = lambda method, path: (
            moved.url(path.lstrip("/")) if "/info/refs" in path else None
        )
        await register_remote(admin, first.url("demo.git"))
        body = await run_job(admin, "demo", recipe="test")

    assert body["job"]["status"] == "succeeded", body["log_tail"]
    assert "hello" in body["log_tail"]
    assert [method for method, _ in first.seen()] == ["GET"]
    assert ("GET", "/demo.git/info/refs?service=git-upload-pack") in moved.seen()
    assert ("POST", "/demo.git/git-upload-pack") in moved.seen()


async def test_a_redirect_of_a_later_request_is_refused(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    root = tmp_path / "served"
    serve_bare(repo, root, "demo.git")

    with (
        SmartGitServer(root, host=OTHER_HOST).running() as elsewhere,
        SmartGitServer(root).running() as server,
    ):
        # The advertisement is served here; the requests that carry the
        # negotiation (and, with credentials, the authorization) are sent
        # to another host.
        server.redirect = lambda method, path: (
            elsewhere.url(path.lstrip("/")) if method == "POST" else None
        )
        await register_remote(admin, server.url("demo.git"))
        body = await run_job(admin, "demo", recipe="test")
        log = (await admin.get(f"/jobs/{body['job']['id']}/log")).text

    assert body["job"]["status"] == "failed"
    assert (body["job"]["error"] or "").startswith("git fetch failed")
    assert ("POST", "/demo.git/git-upload-pack") in server.seen()
    assert elsewhere.seen() == []
    assert "hello" not in log


def write_embedded_bare(repo: Repo, folder: str, marker: Path) -> str:
    """Commit a bare repository at ``folder`` of ``repo``; return its own commit.

    Its configuration and hooks would touch ``marker`` if git ever used it:
    fsmonitor runs on every index read, the hooks on checkout and commit.
    """
    bare = repo.path / folder
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(bare)],
        env={**os.environ, **GIT_ENV},
        check=True,
    )

    def bare_git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--git-dir", str(bare), *args],
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    tree = bare_git("mktree")
    commit = bare_git("commit-tree", "-m", "embedded", tree)
    bare_git("update-ref", "refs/heads/main", commit)
    hooks = bare / "hooks"
    for hook in ("post-checkout", "pre-commit", "post-index-change"):
        marker_script(hooks / hook, marker)
    with open(bare / "config", "a") as config:
        config.write(f"[core]\n\tfsmonitor = touch {marker}\n\thooksPath = {hooks}\n")
    # Git leaves out empty folders; these are what make it a repository.
    for name in ("branches", "refs/tags", "objects/info", "objects/pack", "info"):
        (bare / name).mkdir(parents=True, exist_ok=True)
        (bare / name / ".keep").write_text("")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "vendor a bare repository")
    return commit


async def test_an_embedded_bare_repository_is_never_used_as_one(
    make_repo: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "obeyed"
    repo: Repo = make_repo()
    embedded_commit = write_embedded_bare(repo, "vendor/evil.git", marker)
    workspace = Workspace(tmp_path / "ws")
    remote = Remote.from_git_url(repo.url, allow_file=True)
    await workspace.sync("p", remote)
    tree, sha = await workspace.checkout("p", "job1", remote, ref="main", sha=None)
    embedded = tree / "vendor" / "evil.git"

    found = await run_git(
        ["rev-parse", "--verify", "HEAD"], cwd=embedded, check=False, timeout=30
    )
    # The patch loop's git calls find their repository from the folder.
    message = tmp_path / "message"
    message.write_text("commit into the embedded repository\n")
    with pytest.raises(GitError, match="cannot use bare repository"):
        await patchrepo.commit(embedded, message, timeout=30)
    # Git left to its defaults does take the folder for a repository.
    plain = subprocess.run(
        ["git", "rev-parse", "--verify", "HEAD"],
        cwd=embedded,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )

    assert (embedded / "HEAD").is_file()
    assert found.returncode != 0
    assert "cannot use bare repository" in found.stderr
    assert embedded_commit not in found.stdout
    assert sha == repo.git("rev-parse", "HEAD")
    assert plain.stdout.strip() == embedded_commit
    assert not marker.exists()


async def test_a_checkout_never_fetches_or_fills_a_submodule(
    admin: httpx.AsyncClient, service: ServiceHandle, make_repo: Any, tmp_path: Path
) -> None:
    library: Repo = make_repo({"lib.txt": "library\n"}, name="library")
    root = tmp_path / "served"
    serve_bare(library, root, "library.git")
    repo: Repo = make_repo()

    with SmartGitServer(root).running() as server:
        url = server.url("library.git")
        modules = f'[submodule "lib"]\n\tpath = lib\n\turl = {url}\n'
        repo.write({".gitmodules": modules}, "name the submodule")
        repo.git(
            "update-index",
            "--add",
            "--cacheinfo",
            f"160000,{library.git('rev-parse', 'HEAD')},lib",
        )
        repo.git("commit", "-q", "-m", "add the submodule")
        await register(
            admin, repo, test='test -d lib && test -z "$(ls -A lib)" && echo empty'
        )
        body = await run_job(admin, "demo", recipe="test")
        seen_by_the_service = server.seen()
        # The same repository cloned the way a person would fill its
        # submodules: the server hears of it, so silence above means
        # nothing asked.
        subprocess.run(
            ["git", "clone", "-q", "--recurse-submodules", repo.url, "copy"],
            cwd=tmp_path,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            check=True,
        )

    assert body["job"]["status"] == "succeeded", body["log_tail"]
    assert "empty" in body["log_tail"]
    assert seen_by_the_service == []
    assert server.seen() != []
    assert (tmp_path / "copy" / "lib" / "lib.txt").is_file()
    clone = service.settings.workspace_dir / "demo" / ".cache"
    assert not (clone / "modules").exists()


async def test_a_server_asking_for_a_password_gets_no_prompt_and_no_askpass(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = tmp_path / "asked"
    script = marker_script(tmp_path / "askpass.sh", marker)
    # What a host may have set for its people: none of it reaches git.
    for name in ("GIT_ASKPASS", "SSH_ASKPASS"):
        monkeypatch.setenv(name, str(script))
    monkeypatch.setenv("SSH_ASKPASS_REQUIRE", "force")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "1")
    monkeypatch.setenv("DISPLAY", ":0")
    repo: Repo = make_repo()
    served = tmp_path / "served"
    serve_bare(repo, served, "demo.git")
    repo.git("--git-dir", str(served / "demo.git"), "update-server-info")

    with GitServer(served, "bot", "the-password").running() as server:
        started = time.monotonic()
        await register_remote(admin, f"http://127.0.0.1:{server.port}/demo.git")
        body = await run_job(admin, "demo", recipe="test", timeout=30)
        took = time.monotonic() - started

    error = body["job"]["error"] or ""
    assert not marker.exists()
    assert body["job"]["status"] == "failed"
    assert "could not read Username" in error
    assert "prompts disabled" in error
    assert took < 10


async def test_a_repository_cannot_name_an_askpass_or_credential_helper(
    make_repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "asked"
    script = marker_script(tmp_path / "askpass.sh", marker)
    monkeypatch.setenv("GIT_ASKPASS", str(script))
    repo: Repo = make_repo()
    served = tmp_path / "served"
    serve_bare(repo, served, "demo.git")
    repo.git("--git-dir", str(served / "demo.git"), "update-server-info")
    bare = tmp_path / "clone.git"
    await run_git(["init", "--bare", "--quiet", "--", str(bare)], timeout=30)
    with open(bare / "config", "a") as config:
        config.write(
            f'[core]\n\taskPass = {script}\n[credential]\n\thelper = "!{script}"\n'
        )

    with (
        GitServer(served, "bot", "the-password").running() as server,
        trio.fail_after(10),
        pytest.raises(GitError) as refused,
    ):
        await run_git(
            ["ls-remote", "--", f"http://127.0.0.1:{server.port}/demo.git"],
            git_dir=bare,
            timeout=30,
        )

    assert not marker.exists()
    assert "could not read Username" in refused.value.message
