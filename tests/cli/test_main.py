"""The installed console scripts: present beside the interpreter, and they run."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

import pytest

from crafting_table import __version__

SCRIPTS = Path(sysconfig.get_path("scripts"))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["crafting-table", "--help"], "usage: crafting-table [-h]"),
        (["crafting-table", "job", "--help"], "    retry     run an ended job again"),
        (["crafting-table", "job", "retry", "--help"], "--follow"),
        (["crafting-table-mcp", "--help"], "usage: crafting-table-mcp [-h]"),
    ],
    ids=["client", "job", "job-retry", "mcp"],
)
def test_a_console_script_answers_help(argv: list[str], expected: str) -> None:
    script = SCRIPTS / argv[0]
    assert script.is_file(), f"{script} is not installed; pip install -e . ./mcp"
    assert os.access(script, os.X_OK)

    done = subprocess.run(
        [str(script), *argv[1:]],
        # argparse wraps help to the width it is told.
        env={**os.environ, "COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("name", ["crafting-table", "crafting-table-mcp"])
def test_a_console_script_names_its_version(name: str) -> None:
    done = subprocess.run(
        [str(SCRIPTS / name), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{name} ")
    if name == "crafting-table":
        assert done.stdout == f"crafting-table {__version__}\n"
