"""The GC actor: stale worktrees, quiet clones, folders of deleted projects."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table.config import Settings
from crafting_table.messages import GetStats, Tick
from tests.support import GIT_ENV, Repo, register, runner_idle
from tests.support import run_job as enqueue_and_wait


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Everything older than a minute is stale; the timer itself stays idle."""
    settings.gc_interval_secs = 3600
    settings.worktree_max_age_secs = 60
    settings.clone_quiet_secs = 60
    settings.log_retention_days = 1
    return settings


def age(path: Path, seconds: float) -> None:
    """Backdate ``path``'s modification time."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


async def collect(service: ServiceHandle) -> dict[str, Any]:
    """Run one GC pass now and return the GC's statistics."""
    gc = service.refs["gc"]
    before = (await gc.ask(GetStats()))["runs"]
    await gc.tell(Tick())
    with trio.fail_after(30):
        while (stats := await gc.ask(GetStats()))["runs"] == before:
            await trio.sleep(0.02)
    return stats


async def run_job(
    service: ServiceHandle, client: httpx.AsyncClient, project: str, **body: Any
) -> dict[str, Any]:
    """Run a job and wait until the Runner has also deleted its worktree."""
    answer = await enqueue_and_wait(client, project, **body)
    await runner_idle(service)
    return answer


async def test_stale_worktrees_and_deleted_projects_go(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="true")
    await run_job(service, admin, "demo", recipe="test")
    folder = service.settings.workspace_dir / "demo"
    stale = folder / "0stale"
    fresh = folder / "0fresh"
    for path in (stale, fresh):
        path.mkdir()
        (path / "file").write_text("x")
    age(stale, 3600)
    orphan = service.settings.workspace_dir / "gone-project" / ".cache"
    orphan.mkdir(parents=True)

    stats = await collect(service)

    assert not stale.exists()
    assert fresh.exists()
    assert not orphan.parent.exists()
    assert (folder / ".cache").exists()
    assert stats["worktrees_removed"] == 1


async def test_quiet_clones_are_collected_once(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="true")
    await run_job(service, admin, "demo", recipe="test")
    await service.ledger.write(
        lambda conn: conn.execute("UPDATE jobs SET created_at = created_at - 3600")
    )

    first = await collect(service)
    second = await collect(service)

    assert first["clones_collected"] == 1
    assert second["clones_collected"] == 1


async def test_old_logs_expire(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo kept")
    old = (await run_job(service, admin, "demo", recipe="test"))["job"]["id"]
    new = (await run_job(service, admin, "demo", recipe="test"))["job"]["id"]
    await service.ledger.write(
        lambda conn: conn.execute(
            "UPDATE jobs SET finished_at = finished_at - 2 * 86400 WHERE id = ?", (old,)
        )
    )

    stats = await collect(service)

    logs = service.settings.data_dir / "logs" / "demo"
    assert not (logs / f"{old}.log").exists()
    assert (logs / f"{new}.log").exists()
    assert stats["logs_removed"] == 1


async def test_what_a_cut_short_deletion_left_in_the_trash_goes(
    service: ServiceHandle,
) -> None:
    # As a kill during ``rm`` leaves it: renamed into the trash, half there,
    # with a read-only folder as Go's module cache makes.
    left = service.settings.workspace_dir / ".trash" / "0job-1a2b3c"
    (left / "mod" / "pkg").mkdir(parents=True)
    (left / "mod" / "pkg" / "go.mod").write_text("module pkg\n")
    (left / "mod").chmod(0o555)

    await collect(service)

    assert not left.exists()
    assert (service.settings.workspace_dir / ".trash").is_dir()


def bare_git(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git on the bare clone ``cache``, as a person at the host would."""
    return subprocess.run(
        ["git", f"--git-dir={cache}", *args],
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )


def worktrees(cache: Path) -> list[str]:
    """The worktree paths ``git worktree list`` shows, the clone itself left out."""
    listing = bare_git(cache, "worktree", "list", "--porcelain")
    assert listing.returncode == 0, listing.stderr
    paths = [
        line.removeprefix("worktree ")
        for line in listing.stdout.splitlines()
        if line.startswith("worktree ")
    ]
    return [p for p in paths if Path(p) != cache]


async def test_stale_git_worktrees_are_removed_and_pruned(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    sha = repo.git("rev-parse", "HEAD")
    await register(admin, repo, test="true")
    await run_job(service, admin, "demo", recipe="test")
    folder = service.settings.workspace_dir / "demo"
    cache = folder / ".cache"
    # Two real worktrees of the clone in the project's folder, one aged past
    # the limit; and one whose folder was deleted behind git's back, which
    # only `git worktree prune` takes out of git's records.
    stale, fresh, lost = folder / "0stale", folder / "0fresh", tmp_path / "lost"
    for path in (stale, fresh, lost):
        added = bare_git(cache, "worktree", "add", "--detach", str(path), sha)
        assert added.returncode == 0, added.stderr
    age(stale, 3600)
    shutil.rmtree(lost)
    assert sorted(worktrees(cache)) == sorted(map(str, (stale, fresh, lost)))

    stats = await collect(service)

    assert not stale.exists()
    assert (fresh / "README.md").exists()
    assert worktrees(cache) == [str(fresh)]
    assert sorted(p.name for p in (cache / "worktrees").iterdir()) == ["0fresh"]
    assert stats["worktrees_removed"] == 1


async def test_quiet_clone_loses_an_unreachable_object(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    head = repo.git("rev-parse", "HEAD")
    await register(admin, repo, test="true")
    await run_job(service, admin, "demo", recipe="test")
    cache = service.settings.workspace_dir / "demo" / ".cache"
    written = subprocess.run(
        ["git", f"--git-dir={cache}", "hash-object", "-w", "--stdin"],
        input="nothing points at this blob\n",
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    blob = written.stdout.strip()
    loose = cache / "objects" / blob[:2] / blob[2:]
    assert loose.exists()
    assert bare_git(cache, "cat-file", "-e", blob).returncode == 0
    await service.ledger.write(
        lambda conn: conn.execute("UPDATE jobs SET created_at = created_at - 3600")
    )

    stats = await collect(service)

    assert stats["clones_collected"] == 1
    assert not loose.exists()
    assert bare_git(cache, "cat-file", "-e", blob).returncode != 0
    assert bare_git(cache, "cat-file", "-e", head).returncode == 0


async def test_the_timer_runs_passes_without_a_tick(
    settings: Settings, nursery: trio.Nursery
) -> None:
    quick = settings.model_copy(update={"gc_interval_secs": 0.1})
    orphan = quick.workspace_dir / "gone-project" / ".cache"
    orphan.mkdir(parents=True)
    service: ServiceHandle = await nursery.start(run_service, quick)
    try:
        gc = service.refs["gc"]
        with trio.fail_after(30):
            while (await gc.ask(GetStats()))["runs"] < 2:
                await trio.sleep(0.02)
    finally:
        await service.aclose()

    assert not orphan.parent.exists()


async def add_attempt(service: ServiceHandle, status: str, updated_ago: float) -> int:
    """The next patch attempt at the project's first finding; return its id."""

    def add(conn: Any) -> int:
        finding = conn.execute("SELECT id, job_id FROM findings").fetchone()
        made = conn.execute("SELECT COUNT(*) FROM patch_attempts").fetchone()[0]
        then = time.time() - updated_ago
        cursor = conn.execute(
            "INSERT INTO patch_attempts (finding_id, job_id, project_name, owner,"
            " attempt_number, status, created_at, updated_at)"
            " VALUES (?, ?, 'demo', 'admin', ?, ?, ?, ?)",
            (finding[0], finding[1], made + 1, status, then, then),
        )
        return int(cursor.lastrowid)

    attempt: int = await service.ledger.write(add)
    return attempt


def kept_commit(cache: Path, base: str, ref: str) -> str:
    """A new commit on ``base`` held by ``ref``, as a patch attempt keeps one."""
    made = bare_git(cache, "commit-tree", f"{base}^{{tree}}", "-p", base, "-m", ref)
    assert made.returncode == 0, made.stderr
    sha = made.stdout.strip()
    assert bare_git(cache, "update-ref", ref, sha).returncode == 0
    return sha


def loose(cache: Path, sha: str) -> Path:
    """Where git keeps ``sha`` as a loose object."""
    return cache / "objects" / sha[:2] / sha[2:]


async def test_private_refs_of_ended_patch_attempts_go(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    head = repo.git("rev-parse", "HEAD")
    await register(admin, repo, lint="exit 1")
    await run_job(service, admin, "demo", recipe="lint")
    cache = service.settings.workspace_dir / "demo" / ".cache"
    hours = 3 * 3600
    attempts = {
        "ended-long-ago": await add_attempt(service, "pr_opened", hours),
        "ended-just-now": await add_attempt(service, "verify_failed", 0),
        "under-way": await add_attempt(service, "verifying", hours),
    }
    refs = {name: f"refs/crafting-table/patches/{n}" for name, n in attempts.items()}
    # A ref whose attempt row is gone, and one that names no attempt.
    refs["row-gone"] = "refs/crafting-table/patches/999999"
    refs["not-an-id"] = "refs/crafting-table/patches/scratch"
    commits = {name: kept_commit(cache, head, ref) for name, ref in refs.items()}
    # Objects as old as their attempts; the gone row's commit is younger
    # than any prune may touch (a fetch could be writing such an object).
    for name in ("ended-long-ago", "under-way"):
        age(loose(cache, commits[name]), hours)

    stats = await collect(service)

    listing = bare_git(
        cache, "for-each-ref", "--format=%(refname)", "refs/crafting-table/"
    )
    assert sorted(listing.stdout.split()) == sorted(
        refs[name] for name in ("ended-just-now", "under-way", "not-an-id")
    )
    assert stats["patch_refs_removed"] == 2
    present = {
        name: bare_git(cache, "cat-file", "-e", sha).returncode == 0
        for name, sha in commits.items()
    }
    assert present == {
        "ended-long-ago": False,
        "ended-just-now": True,
        "under-way": True,
        "row-gone": True,
        "not-an-id": True,
    }
    assert bare_git(cache, "cat-file", "-e", head).returncode == 0
