"""Helpers for tests that confine recipes: root, the recipe user, folders.

Switching users and writing control groups take root. Where the suite
runs without it those tests skip; with ``CRAFTING_TEST_REQUIRE_TOOLCHAINS=1``
(CI, which runs as root) they fail instead, like a missing toolchain.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crafting_table.cgroups import detect

# Made by the tests where missing (never removed: other tests may run).
RECIPE_USER = "crafting-recipe"


def _unavailable(reason: str) -> None:
    if os.environ.get("CRAFTING_TEST_REQUIRE_TOOLCHAINS") == "1":
        pytest.fail(reason + " (required here by CRAFTING_TEST_REQUIRE_TOOLCHAINS)")
    pytest.skip(reason)


def require_root() -> None:
    """Skip or fail the calling test unless it runs as root."""
    if os.geteuid() != 0:
        _unavailable("needs root to run recipes as another user")


def host_mode() -> str:
    """The control group mode a service detects on this host."""
    layout = detect("crafting-table-test-probe")
    layout.release()
    return layout.mode


def require_cgroups() -> str:
    """Skip or fail unless control groups are usable here; return the mode."""
    require_root()
    mode = host_mode()
    if mode == "none":
        _unavailable("needs writable control groups with pids and memory")
    return mode


def recipe_user() -> pwd.struct_passwd:
    """The unprivileged user that confined recipes run as, made if missing."""
    try:
        return pwd.getpwnam(RECIPE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", RECIPE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(RECIPE_USER)


@contextmanager
def reachable_folder() -> Iterator[Path]:
    """A temporary folder that any user may pass through (not list).

    Outside pytest's own temporary folders: pytest keeps their base private
    to their owner, and makes it so again whenever any session starts, so
    a recipe user could lose its way to them in the middle of a test.
    """
    folder = Path(tempfile.mkdtemp(prefix="crafting-table-test-"))
    os.chmod(folder, 0o711)  # noqa: S103 - passing through is the point
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
