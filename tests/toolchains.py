"""Skip, or in CI fail, a test whose external toolchain is absent.

Tests that run a real compiler or linter call :func:`require`. On a user's
machine a missing tool skips the test; with
``CRAFTING_TEST_REQUIRE_TOOLCHAINS=1`` (set by ``.ci/run``) it fails, because
there every toolchain named in the README is part of the machine.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require(*commands: str) -> None:
    """Skip or fail the calling test unless every command is on PATH."""
    missing = [name for name in commands if shutil.which(name) is None]
    if not missing:
        return
    reason = f"toolchain missing: {', '.join(missing)}"
    if os.environ.get("CRAFTING_TEST_REQUIRE_TOOLCHAINS") == "1":
        pytest.fail(reason + " (required here by CRAFTING_TEST_REQUIRE_TOOLCHAINS)")
    pytest.skip(reason)
