"""The git side of a patch: apply it, commit it, keep it, push it.

Every call goes through :func:`crafting_table.gitcmd.run_git`, so hooks,
prompts and repository configuration have no say. The worktree is a
detached worktree of the project's bare clone (``Workspace.add_worktree``).
No local branch is ever made: the Runner's fetch prunes ``refs/heads/*``
to what the remote has, and it refuses to touch a branch that a worktree
has checked out. The commit lives instead under
``refs/crafting-table/patches/<attempt>``, which no fetch refspec names,
and reaches the remote as ``<commit>:refs/heads/<branch>``.

Once an attempt has ended, its ref is needed no more (a pushed commit
lives on in the remote's branch): the GC lists the private refs with
:func:`private_refs`, deletes those of attempts ended long enough ago with
:func:`drop_refs`, and removes their commits with :func:`prune_objects`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from crafting_table.errors import ApplyFailed
from crafting_table.gitcmd import run_git
from crafting_table.workspace import Remote

AUTHOR_NAME = "crafting-table"
AUTHOR_EMAIL = "crafting-table@localhost"
PRIVATE_REFS = "refs/crafting-table/patches"


def private_ref(attempt_id: int) -> str:
    """The ref that keeps an attempt's commit reachable in the bare clone."""
    return f"{PRIVATE_REFS}/{attempt_id}"


def symlink_on_path(root: Path, paths: Iterable[str]) -> str | None:
    """Why one of ``paths`` may not be written: it is, or passes through, a
    symbolic link in the tree at ``root``. None when none does.

    Blocking (it looks at the file system); call it from a worker thread.
    """
    for path in paths:
        current = root
        for part in PurePosixPath(path).parts:
            current = current / part
            if current.is_symlink():
                link = current.relative_to(root).as_posix()
                if link == path:
                    return f"the diff writes to {path!r}, a symbolic link"
                return f"the diff writes to {path!r} through the symbolic link {link!r}"
    return None


async def apply(worktree: Path, patch_file: Path, strip: int, timeout: float) -> None:
    """Check, then apply ``patch_file`` to the worktree and its index.

    Raises :class:`ApplyFailed` with git's reason when it does not apply.
    """
    for args in (["apply", "--check", "--index"], ["apply", "--index"]):
        result = await run_git(
            [*args, f"-p{strip}", "--whitespace=nowarn", "--", str(patch_file)],
            cwd=worktree,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ApplyFailed(f"the diff does not apply: {_reason(result.stderr)}")


@dataclass(frozen=True, slots=True)
class StagedChange:
    """One path the applied patch changed, with its modes before and after."""

    path: str
    old_mode: str
    new_mode: str
    status: str


async def staged(worktree: Path, timeout: float) -> list[StagedChange]:
    """What the index holds against HEAD: git's own account of the change."""
    result = await run_git(
        ["diff", "--cached", "--raw", "-z", "--no-renames", "--no-ext-diff"],
        cwd=worktree,
        timeout=timeout,
    )
    fields = result.stdout.split("\0")
    changes = []
    for position in range(0, len(fields) - 1, 2):
        meta, path = fields[position], fields[position + 1]
        parts = meta.lstrip(":").split()
        if len(parts) < 5:
            continue
        changes.append(
            StagedChange(
                path=path, old_mode=parts[0], new_mode=parts[1], status=parts[4]
            )
        )
    return changes


async def staged_diff(worktree: Path, timeout: float) -> str:
    """The staged change as git writes a diff of it (what the branch will hold)."""
    result = await run_git(
        ["diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv"],
        cwd=worktree,
        timeout=timeout,
    )
    return result.stdout


async def commit(worktree: Path, message_file: Path, timeout: float) -> str:
    """Commit the index as :data:`AUTHOR_NAME`; return the new commit id."""
    await run_git(
        [
            "-c",
            f"user.name={AUTHOR_NAME}",
            "-c",
            f"user.email={AUTHOR_EMAIL}",
            "-c",
            "commit.gpgSign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "--cleanup=verbatim",
            f"--file={message_file}",
        ],
        cwd=worktree,
        timeout=timeout,
    )
    result = await run_git(
        ["rev-parse", "--verify", "HEAD^{commit}"], cwd=worktree, timeout=timeout
    )
    return result.stdout.strip()


async def keep(cache: Path, ref: str, sha: str, timeout: float) -> None:
    """Point ``ref`` in the bare clone at ``sha``."""
    await run_git(["update-ref", "--", ref, sha], git_dir=cache, timeout=timeout)


async def private_refs(cache: Path, timeout: float) -> dict[int, str]:
    """The private refs in the bare clone, by the id of their attempt.

    A ref under :data:`PRIVATE_REFS` whose last part is not an id is not
    ours and is left out.
    """
    result = await run_git(
        ["for-each-ref", "--format=%(refname)", f"{PRIVATE_REFS}/"],
        git_dir=cache,
        timeout=timeout,
    )
    refs = {}
    for name in result.stdout.split():
        tail = name.removeprefix(f"{PRIVATE_REFS}/")
        if tail.isdecimal():
            refs[int(tail)] = name
    return refs


async def drop_refs(cache: Path, refs: Iterable[str], timeout: float) -> None:
    """Delete ``refs`` from the bare clone; one already gone is no error."""
    for ref in refs:
        await run_git(
            ["update-ref", "-d", "--", ref], git_dir=cache, timeout=timeout, check=False
        )


async def prune_objects(cache: Path, older_than: float, timeout: float) -> None:
    """Remove the clone's unreachable loose objects older than ``older_than`` s.

    Only old ones: a fetch or a commit under way writes objects before a ref
    points at them, and those must survive. Packed objects wait for the
    GC's ``git gc`` of a quiet clone.
    """
    await run_git(
        ["prune", f"--expire={int(older_than)}.seconds.ago"],
        git_dir=cache,
        timeout=timeout,
    )


async def has_branch(cache: Path, name: str, timeout: float) -> bool:
    """True when the bare clone has branch ``name``."""
    result = await run_git(
        ["rev-parse", "--verify", "--quiet", f"refs/heads/{name}^{{commit}}"],
        git_dir=cache,
        timeout=timeout,
        check=False,
    )
    return result.returncode == 0


async def push(
    cache: Path, remote: Remote, sha: str, branch: str, timeout: float
) -> None:
    """Make ``branch`` on the remote point at ``sha``.

    Forced: the branch belongs to the patch loop (its prefix says so), and a
    later attempt at the same finding replaces what an earlier one pushed.
    Credentials reach git through its credential helper, never its argv or
    configuration. Raises :class:`GitError` with git's redacted reason.
    """
    await run_git(
        [
            "push",
            "--quiet",
            "--no-verify",
            "--porcelain",
            "--",
            remote.url,
            f"+{sha}:refs/heads/{branch}",
        ],
        git_dir=cache,
        allow_file=remote.allow_file,
        credentials=remote.credentials,
        timeout=timeout,
    )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only the service can read (blocking)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("error:", "fatal:"))]
    chosen = errors or lines
    text = "; ".join(line.removeprefix("error: ") for line in chosen[:3])
    return text[:500] or "git apply refused it"
