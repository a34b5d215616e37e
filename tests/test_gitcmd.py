"""What :func:`crafting_table.gitcmd.run_git` says when git fails.

A job's error line is the reason git gave, so it must name the cause (the
missing repository, the refused connection) rather than the advice that git
prints after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crafting_table.errors import GitError
from crafting_table.gitcmd import run_git


async def test_a_missing_local_repository_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "repo"

    with pytest.raises(GitError) as refused:
        await run_git(["ls-remote", "--", str(missing)], allow_file=True)

    message = str(refused.value)
    assert "does not appear to be a git repository" in message
    assert str(missing) in message
    assert "Please make sure" not in message
    assert "the repository exists" not in message


async def test_a_refused_ssh_connection_keeps_its_cause() -> None:
    # Port 1 on loopback: nothing listens there, so ssh is refused at once.
    with pytest.raises(GitError) as refused:
        await run_git(["ls-remote", "--", "ssh://127.0.0.1:1/repo.git"], timeout=30)

    message = str(refused.value)
    assert "Connection refused" in message
    assert "Could not read from remote repository" in message
    assert "correct access rights" not in message


async def test_a_failure_without_stderr_gives_the_exit_status(tmp_path: Path) -> None:
    await run_git(["init", "--quiet", "--bare", str(tmp_path)])

    with pytest.raises(GitError, match=r"git rev-parse failed: exit status 1$"):
        await run_git(
            ["rev-parse", "--quiet", "--verify", "nope^{commit}"],
            git_dir=tmp_path,
        )
