"""Running git on the service's behalf, with nothing a repository can steer.

Every call goes through :func:`run_git`, which

* puts ``-c`` overrides before the subcommand so that configuration a
  recipe could have written into a repository (hooks, fsmonitor, ssh
  command, askpass, filters of submodules) is never obeyed;
* ignores the system and global git configuration, so the service behaves
  the same on every host;
* allows only the transports the caller allows (``ext::`` never, ``file``
  only when asked) through both ``GIT_ALLOW_PROTOCOL`` and
  ``protocol.*.allow``;
* never prompts: no terminal, askpass is ``false``, ssh runs in batch mode;
* hands credentials to git through a credential helper that reads them
  from the child's environment, so they never appear in argv or in a
  remote URL;
* runs under a deadline and redacts secrets from the error it raises;
* in a worktree, names the git folder and the work tree explicitly
  (``work_tree=``), so a ``.git`` file that a recipe rewrote is never read.

Callers still put user-supplied values after ``--`` and check refs with
:func:`crafting_table.urls.check_ref` first.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from crafting_table.errors import GitError
from crafting_table.redact import redact_text

logger = logging.getLogger(__name__)

_NETWORK_PROTOCOLS = ("https", "http", "ssh", "git")

# The helper prints the username and password that the caller put in the
# child's environment. It is a constant string: the secrets never enter argv.
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    'printf "username=%s\\npassword=%s\\n" "$CT_GIT_USERNAME" "$CT_GIT_PASSWORD"; }; f'
)

_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.sshCommand=ssh -o BatchMode=yes",
    "core.askPass=false",
    "safe.bareRepository=explicit",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "http.followRedirects=initial",
    "protocol.allow=never",
    "protocol.ext.allow=never",
    "advice.detachedHead=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "init.defaultBranch=main",
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password (or token) for an http(s) remote."""

    username: str | None
    password: str | None

    def secrets(self) -> list[str]:
        """The values to mask wherever git's output is shown.

        The password; the user name only when it stands alone, since then
        it is the token (``https://<token>@github.com``). Beside a password
        it is a name such as ``oauth2`` or ``crafting-table``, and masking
        it would mask that word in every log line and digest.
        """
        secret = self.password or self.username
        return [secret] if secret else []


@dataclass(frozen=True, slots=True)
class GitResult:
    """What a finished git command printed."""

    stdout: str
    stderr: str
    returncode: int


def git_env(allow_file: bool, credentials: Credentials | None) -> dict[str, str]:
    """The environment of a git child: minimal, promptless, transport-limited."""
    protocols = (
        [*_NETWORK_PROTOCOLS, "file"] if allow_file else list(_NETWORK_PROTOCOLS)
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "false",
        "SSH_ASKPASS": "false",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
        "GIT_PROTOCOL_FROM_USER": "0",
        # Set, even empty, it wins over any core.gitProxy command that a
        # repository's configuration could name for git:// remotes.
        "GIT_PROXY_COMMAND": "",
        "GIT_ALLOW_PROTOCOL": ":".join(protocols),
    }
    if credentials is not None:
        env["CT_GIT_USERNAME"] = credentials.username or ""
        env["CT_GIT_PASSWORD"] = credentials.password or ""
    return env


def git_argv(
    args: Sequence[str],
    *,
    git_dir: Path | None = None,
    work_tree: Path | None = None,
    allow_file: bool = False,
    credentials: Credentials | None = None,
) -> list[str]:
    """The full argv for ``git <args>`` with the safety overrides in front.

    With ``work_tree``, git trusts exactly that folder (``safe.directory``)
    however it is owned: the recipe user owns worktrees during a job.
    """
    argv = ["git"]
    for item in _SAFE_CONFIG:
        argv += ["-c", item]
    for proto in _NETWORK_PROTOCOLS:
        argv += ["-c", f"protocol.{proto}.allow=always"]
    argv += ["-c", f"protocol.file.allow={'always' if allow_file else 'never'}"]
    # An empty helper first resets any helper list a repository configured.
    argv += ["-c", "credential.helper="]
    if credentials is not None:
        argv += ["-c", f"credential.helper={_CREDENTIAL_HELPER}"]
    if work_tree is not None:
        argv += ["-c", f"safe.directory={work_tree}"]
    if git_dir is not None:
        argv.append(f"--git-dir={git_dir}")
    if work_tree is not None:
        argv.append(f"--work-tree={work_tree}")
    argv += list(args)
    return argv


async def run_git(
    args: Sequence[str],
    *,
    git_dir: Path | None = None,
    work_tree: Path | None = None,
    cwd: Path | None = None,
    allow_file: bool = False,
    credentials: Credentials | None = None,
    timeout: float = 600.0,
    check: bool = True,
    secrets: Sequence[str] = (),
) -> GitResult:
    """Run git and return its output.

    ``git_dir`` and ``work_tree`` are passed as ``--git-dir`` and
    ``--work-tree``; with both, git reads nothing from the work tree to
    find its repository.
    Raises :class:`GitError` (stderr redacted) when git exits non-zero and
    ``check`` is set, or when it does not finish within ``timeout`` seconds
    (the process is killed).
    """
    argv = git_argv(
        args,
        git_dir=git_dir,
        work_tree=work_tree,
        allow_file=allow_file,
        credentials=credentials,
    )
    env = git_env(allow_file, credentials)
    hidden = [*secrets, *(credentials.secrets() if credentials else [])]
    with trio.move_on_after(timeout) as scope:
        done = await trio.run_process(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    if scope.cancelled_caught:
        raise GitError(
            f"git {args[0]} did not finish within {timeout:g} s and was stopped"
        )
    result = GitResult(
        stdout=done.stdout.decode("utf-8", "replace"),
        stderr=redact_text(done.stderr.decode("utf-8", "replace"), hidden),
        returncode=done.returncode,
    )
    if check and result.returncode != 0:
        reason = _failure_reason(result.stderr) or f"exit status {result.returncode}"
        raise GitError(f"git {args[0]} failed: {reason}", stderr=result.stderr)
    return result


# What git prints after a failed fetch from a missing or unreachable
# remote, whatever the cause; as the last line it used to hide the cause.
_ADVICE = (
    "Please make sure you have the correct access rights",
    "and the repository exists.",
)


def _failure_reason(stderr: str) -> str:
    """The last lines of git's complaint, without its generic advice.

    The cause (``'/x' does not appear to be a git repository``, ``ssh:
    connect to host ...: Connection refused``) comes a line or two before
    the closing ``fatal: Could not read from remote repository``, so the
    last three lines that say something are kept, joined with "; ".
    """
    lines = [line.strip() for line in stderr.splitlines()]
    kept = [
        line
        for line in lines
        if line and line not in _ADVICE and not line.startswith("hint:")
    ]
    return "; ".join(kept[-3:])
