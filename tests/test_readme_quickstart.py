"""The README's Quickstart, run as written against a live service.

The first ``sh`` block after the "## Quickstart" heading is run by bash,
from the folder that holds the service's ``data`` folder (the block reads
``./data/admin-bearer.txt``), with its ``HOST=`` line pointed at a
``crafting-table serve`` started on a free loopback port. Only what the
README promises is checked: the job statuses it prints (lint succeeded,
test failed) and the last command's output, the test job's findings,
which must be one ``recipe_fail`` row. The rest of the block may change.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crafting_table.models import TERMINAL_STATUSES
from tests.test_restart import Server

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart() -> str:
    """The first ``sh`` block after the Quickstart heading."""
    text = README.read_text()
    _, heading, after = text.partition("\n## Quickstart\n")
    assert heading, "README.md has no '## Quickstart' heading"
    block = re.search(r"^```sh\n(.*?)^```", after, re.DOTALL | re.MULTILINE)
    assert block is not None, "no ```sh block after '## Quickstart'"
    return block[1]


def pointed_at(script: str, url: str) -> str:
    """``script`` with its one ``HOST=...`` line naming ``url``."""
    pointed, count = re.subn(r"^HOST=\S*$", f"HOST={url}", script, flags=re.MULTILINE)
    assert count == 1, "the Quickstart block should set HOST on one line of its own"
    return pointed


def last_value(stdout: str) -> Any:
    """The last line of output read as a Python or JSON value."""
    last = [line for line in stdout.splitlines() if line.strip()][-1]
    try:
        return ast.literal_eval(last)
    except (ValueError, SyntaxError):
        return json.loads(last)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``crafting-table serve`` in a child process, stopped after the test."""
    root = tmp_path / "here"
    root.mkdir()
    instance = Server(root)
    yield instance
    if instance.process is not None and instance.process.poll() is None:
        instance.process.kill()
        instance.process.wait(10)


def test_the_quickstart_runs_as_written(server: Server, tmp_path: Path) -> None:
    server.start()
    script = pointed_at(quickstart(), server.url)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {
        **os.environ,
        # mktemp -d lands in the test's folder; git reads no host-wide
        # configuration that could change what the block does.
        "TMPDIR": str(scratch),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    done = subprocess.run(
        ["bash", "-c", script],
        cwd=server.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    statuses = [line for line in done.stdout.splitlines() if line in TERMINAL_STATUSES]
    assert statuses == ["succeeded", "failed"], done.stdout
    findings = last_value(done.stdout)
    assert [f["kind"] for f in findings] == ["recipe_fail"], findings
    assert server.stop() == 0
