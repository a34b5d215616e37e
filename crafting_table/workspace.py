"""Bare clones and per-job worktrees.

Layout under the workspace folder::

    <project>/.cache        bare clone of the project's remote
    <project>/<job id>      detached worktree of one job, removed at its end

Fetches are serialised per project and coalesced: a job that asks for a
fetch while another is running waits for the next one, and a fetch that
started after a job asked serves it too, so a burst of jobs costs one or two
fetches, not one each. Every git call goes through
:func:`crafting_table.gitcmd.run_git`; in a worktree, always with the git
folder and work tree named (:meth:`Workspace.worktree_git`), never by
finding them from the worktree's ``.git`` file, which the recipe may have
rewritten.

Folder modes (:meth:`Workspace.seal`): the workspace and each project
folder let anyone pass but not list, so that a recipe running as another
user reaches its own worktree by name; clones and the trash are private
to the service (the executor opens a clone to the recipe user while a job
of its project runs).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import trio

from crafting_table.errors import GitError, UnsafeGitInput
from crafting_table.gitcmd import Credentials, GitResult, run_git
from crafting_table.urls import check_ref, parse_git_url, split_credentials

logger = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


async def no_local_repositories(owner: str) -> bool:
    """The policy where no owner may clone a repository on local disk."""
    return False


@dataclass(frozen=True, slots=True)
class Remote:
    """Where a project's code comes from, split for safe use."""

    url: str
    credentials: Credentials | None
    allow_file: bool

    @classmethod
    def from_git_url(cls, git_url: str, allow_file: bool) -> Remote:
        """Split credentials off ``git_url``; refuse what is unsafe."""
        try:
            parsed = parse_git_url(git_url)
        except ValueError as exc:
            raise UnsafeGitInput(str(exc)) from exc
        if parsed.is_file and not allow_file:
            raise UnsafeGitInput(
                "file:// repositories are not allowed here; ask an admin to "
                "register it or set CRAFTING_ALLOW_FILE_URLS"
            )
        clean, username, password = split_credentials(git_url)
        creds = Credentials(username, password) if (username or password) else None
        return cls(url=clean, credentials=creds, allow_file=parsed.is_file)


@dataclass(slots=True)
class _FetchState:
    lock: trio.Lock = field(default_factory=trio.Lock)
    fetches: int = 0


# The whole configuration a bare clone needs. It is written afresh before
# every fetch: a filter driver, fsmonitor, alternates or worktree config
# that anything else put into the clone is gone before git reads it.
_CLONE_CONFIG = """[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = true
"""
TRASH = ".trash"
# Configuration that common tools look for in every folder above the one
# they run in; found above the workspace, it would apply to every job.
INHERITED_CONFIGS = (
    "pyproject.toml",
    "setup.cfg",
    "tox.ini",
    "pytest.ini",
    ".pytest.ini",
    "ruff.toml",
    ".ruff.toml",
    "package.json",
    "tsconfig.json",
    "eslint.config.js",
    "eslint.config.mjs",
    "eslint.config.cjs",
    ".eslintrc.json",
    ".eslintrc.js",
    "Cargo.toml",
    ".cargo/config.toml",
    ".cargo/config",
    "go.mod",
    "go.work",
)
PASSAGE_MODE = 0o711
PRIVATE_MODE = 0o700
_UNTRUSTED_FILES = ("info/attributes", "objects/info/alternates", "config.worktree")


class Workspace:
    """The bare clones and worktrees under ``root``."""

    def __init__(self, root: Path, git_timeout: float = 600.0) -> None:
        self.root = root
        self.git_timeout = git_timeout
        self._fetch: dict[str, _FetchState] = {}
        # What is in the trash because this process is deleting it now.
        self._deleting: set[Path] = set()

    def project_dir(self, project: str) -> Path:
        """The folder holding a project's clone and worktrees."""
        return self.root / project

    def cache_dir(self, project: str) -> Path:
        """The bare clone of ``project``."""
        return self.root / project / ".cache"

    def worktree_dir(self, project: str, job_id: str) -> Path:
        """The worktree of one job."""
        return self.root / project / job_id

    def fetch_count(self, project: str) -> int:
        """How many fetches (or clones) ran for ``project``."""
        state = self._fetch.get(project)
        return state.fetches if state else 0

    async def sync(self, project: str, remote: Remote) -> None:
        """Make the bare clone current with the remote (clone it if missing).

        A fetch that started after this call began serves it, so concurrent
        jobs share fetches. Raises :class:`GitError` with a redacted reason.
        """
        state = self._fetch.setdefault(project, _FetchState())
        # A fetch that starts after this point serves this call; one already
        # under way may have missed commits pushed just now, so it does not.
        ticket = state.fetches
        async with state.lock:
            if state.fetches > ticket:
                return
            state.fetches += 1
            cache = self.cache_dir(project)
            if not (cache / "HEAD").exists():
                await self._clone(cache, remote)
            await trio.to_thread.run_sync(_reset_clone, cache)
            await self._fetch_refs(cache, remote)

    async def _clone(self, cache: Path, remote: Remote) -> None:
        # init + fetch rather than clone: the remote URL then never enters
        # the bare clone's config, with or without credentials.
        await trio.to_thread.run_sync(_remove_trees, [cache])
        await trio.to_thread.run_sync(_make_folder, cache.parent, PASSAGE_MODE)
        await trio.to_thread.run_sync(_make_folder, cache, PRIVATE_MODE)
        await run_git(
            ["init", "--bare", "--quiet", "--", str(cache)], timeout=self.git_timeout
        )

    async def _fetch_refs(self, cache: Path, remote: Remote, *extra: str) -> None:
        await run_git(
            [
                "fetch",
                "--quiet",
                "--prune",
                "--no-write-fetch-head",
                "--",
                remote.url,
                *(extra or _FETCH_REFSPECS),
            ],
            git_dir=cache,
            allow_file=remote.allow_file,
            credentials=remote.credentials,
            timeout=self.git_timeout,
        )

    async def resolve(
        self, project: str, remote: Remote, *, ref: str | None, sha: str | None
    ) -> str:
        """The full commit id of ``sha`` or of the branch or tag ``ref``.

        An exact sha missing from the clone is fetched by id (servers that
        allow it). Raises :class:`UnsafeGitInput` for a malformed ref or
        sha and :class:`GitError` when it does not exist.
        """
        cache = self.cache_dir(project)
        if sha is not None:
            wanted = sha.lower()
            if not _SHA.match(wanted):
                raise UnsafeGitInput(f"sha {sha!r} is not a hexadecimal commit id")
            found = await self._rev_parse(cache, f"{wanted}^{{commit}}")
            if found is None and len(wanted) == 40:
                await self._fetch_refs(cache, remote, wanted)
                found = await self._rev_parse(cache, f"{wanted}^{{commit}}")
            if found is None:
                raise GitError(
                    f"commit {sha!r} is not in the repository; push it or check the id"
                )
            return found
        assert ref is not None
        try:
            check_ref(ref)
        except ValueError as exc:
            raise UnsafeGitInput(str(exc)) from exc
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}"):
            found = await self._rev_parse(cache, f"{candidate}^{{commit}}")
            if found is not None:
                return found
        raise GitError(
            f"branch or tag {ref!r} does not exist in the repository"
            + await self._known_branches(project)
        )

    async def _rev_parse(self, cache: Path, spec: str) -> str | None:
        result = await run_git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", spec],
            git_dir=cache,
            check=False,
            timeout=self.git_timeout,
        )
        text = result.stdout.strip()
        return text if result.returncode == 0 and text else None

    async def checkout(
        self,
        project: str,
        job_id: str,
        remote: Remote,
        *,
        ref: str | None,
        sha: str | None,
    ) -> tuple[Path, str]:
        """A fresh worktree for ``job_id`` at ``sha`` or at branch or tag ``ref``.

        Returns the worktree and the full commit id. One git call in the
        common case: ``worktree add`` resolves the ref itself and the commit
        id is read from the worktree's HEAD, which costs no process. Raises
        like :meth:`resolve` when the ref or commit does not exist.
        """
        path = self.worktree_dir(project, job_id)
        if path.exists():
            await self.remove_worktree(project, job_id)
        if sha is not None:
            target = await self.resolve(project, remote, ref=None, sha=sha)
            candidates = [target]
        else:
            assert ref is not None
            try:
                check_ref(ref)
            except ValueError as exc:
                raise UnsafeGitInput(str(exc)) from exc
            candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}^{{commit}}"]
        for candidate in candidates:
            result = await self._add(project, path, candidate)
            if result.returncode == 0:
                return path, await self._head_of(project, job_id, path)
            if "invalid reference" not in result.stderr:
                raise GitError(f"git worktree add failed: {_last_line(result.stderr)}")
        raise GitError(
            f"branch or tag {ref!r} does not exist in the repository"
            + await self._known_branches(project)
        )

    async def _add(self, project: str, path: Path, commit: str) -> GitResult:
        # Under the project's lock: git fetch walks every worktree's HEAD and
        # fails on a half-made worktree. Checking out in the same command
        # (rather than making the record under the lock and checking out
        # after it) saves a git process per job; the price is that checkouts
        # of one project wait for each other, which on a few cores they do
        # anyway.
        state = self._fetch.setdefault(project, _FetchState())
        async with state.lock:
            return await run_git(
                ["worktree", "add", "--detach", "--quiet", "--", str(path), commit],
                git_dir=self.cache_dir(project),
                timeout=self.git_timeout,
                check=False,
            )

    def admin_dir(self, project: str, job_id: str) -> Path:
        """Git's folder for the worktree of one job, inside the bare clone."""
        return self.cache_dir(project) / "worktrees" / job_id

    async def worktree_git(
        self,
        project: str,
        job_id: str,
        args: list[str],
        *,
        check: bool = True,
        timeout: float | None = None,
    ) -> GitResult:
        """Run git on the worktree of ``job_id``, with every folder named.

        The git folder is the worktree's admin folder in the bare clone and
        the work tree is the job's folder, both as the service chose them:
        nothing the recipe wrote (its ``.git`` file, its own configuration)
        decides where git looks. Raises like :func:`run_git`.
        """
        return await run_git(
            args,
            git_dir=self.admin_dir(project, job_id),
            work_tree=self.worktree_dir(project, job_id),
            cwd=self.worktree_dir(project, job_id),
            check=check,
            timeout=self.git_timeout if timeout is None else timeout,
        )

    async def _head_of(self, project: str, job_id: str, path: Path) -> str:
        head = self.admin_dir(project, job_id) / "HEAD"
        try:
            text = head.read_text().strip()
        except OSError:
            text = ""
        if _SHA.match(text):
            return text
        result = await self.worktree_git(
            project,
            job_id,
            ["rev-parse", "--verify", "--quiet", "--end-of-options", "HEAD^{commit}"],
            check=False,
        )
        found = result.stdout.strip()
        if result.returncode != 0 or not found:
            raise GitError(f"cannot read the commit of the worktree of job {job_id}")
        return found

    async def _known_branches(self, project: str) -> str:
        result = await run_git(
            ["for-each-ref", "--count=10", "--format=%(refname:short)", "refs/heads/"],
            git_dir=self.cache_dir(project),
            timeout=self.git_timeout,
            check=False,
        )
        names = result.stdout.split()
        return f"; it has {', '.join(names)}" if names else "; it has no branches"

    async def add_worktree(self, project: str, job_id: str, sha: str) -> Path:
        """Check ``sha`` out into a fresh detached worktree for ``job_id``."""
        path = self.worktree_dir(project, job_id)
        if path.exists():
            await self.remove_worktree(project, job_id)
        result = await self._add(project, path, sha)
        if result.returncode != 0:
            raise GitError(f"git worktree add failed: {_last_line(result.stderr)}")
        return path

    async def remove_worktree(self, project: str, job_id: str) -> None:
        """Delete a job's worktree and git's record of it.

        Removed with the file system rather than ``git worktree remove``:
        the recipe could have rewritten the worktree's ``.git`` file, and
        nothing it wrote should steer what the service deletes.
        """
        path = self.worktree_dir(project, job_id)
        admin = self.admin_dir(project, job_id)
        # git fetch walks every worktree's HEAD in its connectivity check;
        # a record vanishing under it fails the fetch, so records leave only
        # between fetches.
        state = self._fetch.setdefault(project, _FetchState())
        async with state.lock:
            moved = await trio.to_thread.run_sync(self._to_trash, [admin, path])
        await self._delete(moved)

    async def remove_path(self, path: Path) -> None:
        """Delete a file or folder the service made (a job's report folder)."""
        await self._discard([path])

    async def remove_project(self, project: str) -> None:
        """Delete a project's clone and every worktree."""
        self._fetch.pop(project, None)
        await self._discard([self.project_dir(project)])

    async def empty_trash(self) -> int:
        """Delete what an earlier deletion left in the trash; how many entries.

        A deletion cut short (a kill, a deadline) leaves its folder there;
        what this process is deleting at the moment is left alone.
        """
        trash = self.root / TRASH
        if not trash.is_dir():
            return 0
        left = [p for p in sorted(trash.iterdir()) if p not in self._deleting]
        await self._delete(left)
        return len(left)

    async def _discard(self, paths: list[Path]) -> None:
        await self._delete(await trio.to_thread.run_sync(self._to_trash, paths))

    async def _delete(self, moved: list[Path]) -> None:
        self._deleting.update(moved)
        try:
            await delete_trees(moved)
        finally:
            self._deleting.difference_update(moved)

    def _to_trash(self, paths: list[Path]) -> list[Path]:
        # Each folder is first renamed into the trash, which is atomic, then
        # deleted: a git command running meanwhile in the same clone never
        # sees half a folder.
        trash = self.root / TRASH
        _make_folder(trash, PRIVATE_MODE)
        moved = []
        for path in paths:
            if not path.exists() and not path.is_symlink():
                continue
            target = trash / f"{path.name}-{os.urandom(6).hex()}"
            try:
                os.rename(path, target)
            except OSError:
                target = path
            moved.append(target)
        return moved

    def seal(self) -> None:
        """Set the folder modes that recipes rely on; see the module docstring.

        Blocks; call it at start, before any job runs (a clone opened to a
        running job would be closed again).
        """
        _make_folder(self.root, PASSAGE_MODE)
        if (self.root / TRASH).is_dir():
            os.chmod(self.root / TRASH, PRIVATE_MODE)
        for project in self.projects():
            os.chmod(self.project_dir(project), PASSAGE_MODE)
            if self.cache_dir(project).is_dir():
                os.chmod(self.cache_dir(project), PRIVATE_MODE)

    def projects(self) -> list[str]:
        """Projects that have a folder in the workspace."""
        if not self.root.exists():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.name.startswith(".")
        )

    async def prune(self, project: str) -> None:
        """``git worktree prune`` on the project's clone."""
        cache = self.cache_dir(project)
        if (cache / "HEAD").exists():
            await run_git(
                ["worktree", "prune"], git_dir=cache, timeout=self.git_timeout
            )

    async def gc(self, project: str) -> None:
        """``git gc --prune=now`` on the project's clone."""
        cache = self.cache_dir(project)
        if (cache / "HEAD").exists():
            await run_git(
                ["gc", "--quiet", "--prune=now"],
                git_dir=cache,
                timeout=self.git_timeout,
            )


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"


def _make_folder(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)


def _reset_clone(cache: Path) -> None:
    """Put back the clone's own configuration; drop files that steer git."""
    temporary = cache / "config.tmp"
    temporary.write_text(_CLONE_CONFIG)
    os.replace(temporary, cache / "config")
    for name in _UNTRUSTED_FILES:
        (cache / name).unlink(missing_ok=True)
    hooks = cache / "hooks"
    if hooks.is_dir() and not hooks.is_symlink():
        shutil.rmtree(hooks, onerror=_force_remove)
    elif hooks.is_symlink():
        hooks.unlink()


def inherited_configs(root: Path) -> list[Path]:
    """Tool configuration files in the folders above ``root``, nearest first."""
    found: list[Path] = []
    for folder in root.resolve().parents:
        found.extend(
            folder / name for name in INHERITED_CONFIGS if (folder / name).is_file()
        )
    return found


async def delete_trees(paths: list[Path]) -> None:
    """Delete files and folders, as ``rm -rf`` in a process of its own.

    A worktree holds thousands of files: unlinking them from a Python loop
    holds the interpreter lock for tens of milliseconds and slows whatever
    job runs next, while ``rm`` works beside the service on another core.
    Where ``rm`` cannot (read-only folders a recipe left), the slower way
    that first makes them writable takes over.
    """
    present = [p for p in paths if p.exists() or p.is_symlink()]
    if not present:
        return
    done = await trio.run_process(
        ["rm", "-rf", "--one-file-system", "--", *map(str, present)],
        stdin=subprocess.DEVNULL,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    if done.returncode != 0:
        await trio.to_thread.run_sync(_remove_trees, present)


def _remove_trees(paths: list[Path]) -> None:
    for path in paths:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, onerror=_force_remove)


def _force_remove(func: object, name: str, exc_info: object) -> None:
    # Recipes leave read-only folders behind (Go's module cache does): make
    # the parent writable and try once more instead of failing the clean-up.
    os.chmod(os.path.dirname(name), 0o700)
    if os.path.isdir(name) and not os.path.islink(name):
        os.chmod(name, 0o700)
        shutil.rmtree(name, ignore_errors=True)
    else:
        os.unlink(name)
