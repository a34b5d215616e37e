"""``crafting-table serve`` refusing to start says why in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crafting_table.cli.main", "serve"],
        cwd=tmp_path,
        env={**os.environ, "CRAFTING_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = serve(tmp_path, CRAFTING_BIND=f"127.0.0.1:{port}")

    assert done.returncode == 1
    assert "crafting-table: cannot start: Address already in use" in done.stderr
    assert "set CRAFTING_BIND" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"CRAFTING_RECIPE_USER": "no-such-user-here"},
            "no-such-user-here",
            id="user",
        ),
        pytest.param(
            {"CRAFTING_CONTAINMENT": "sometimes"}, "CRAFTING_CONTAINMENT", id="mode"
        ),
        pytest.param({"CRAFTING_BIND": "nowhere"}, "HOST:PORT", id="bind"),
    ],
)
def test_bad_settings(tmp_path: Path, env: dict[str, str], message: str) -> None:
    done = serve(tmp_path, **env)

    assert done.returncode in (1, 2)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
