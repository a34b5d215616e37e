"""The API fuzzed from its own OpenAPI document: no 5xx, no HTML error page."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
import trio

from actors.serve import ServiceHandle
from tests.support import Repo, register, run_job

HOOKS = "tests.server.schemathesis_hooks"


async def test_openapi_fuzz_finds_no_server_error(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    # Something to find: a project with a finished job, so that generated
    # ids sometimes hit real rows.
    repo: Repo = make_repo()
    await register(admin, repo, test="echo fuzz", lint="exit 3")
    await run_job(admin, "demo", recipe="lint")
    root = Path(__file__).resolve().parents[2]
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "no_crash,json_errors_only",
        "--header",
        f"Authorization: Bearer {service.admin_bearer}",
        "--max-examples",
        "25",
        "--phases",
        "examples,coverage,fuzzing",
        "--exclude-path-regex",
        "^/admin/tokens/\\{name\\}$",
        "--seed",
        "1",
        "--no-color",
        "--report-dir",
        str(tmp_path),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(root)}

    done = await trio.run_process(
        argv, env=env, cwd=root, capture_stdout=True, capture_stderr=True, check=False
    )

    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, output[-6000:]
    assert "json_errors_only" in output or "passed" in output.lower()
