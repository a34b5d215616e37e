"""Find the linters that the test extra installs (shellcheck, hadolint).

``pip install -e '.[test]'`` puts them beside the interpreter, which is not
on PATH when pytest runs as ``.venv/bin/pytest`` without an activated venv.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def linter(name: str) -> str:
    """The path of ``name``, next to this Python or on PATH; fail if absent."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is missing: install the test extra, pip install -e '.[test]'"
        )
    return found
