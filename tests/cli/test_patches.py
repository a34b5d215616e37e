"""``crafting-table patch run | list | show`` with the patch loop switched on.

The agent host and Gitea are the stand-ins of :mod:`tests.patch_hosts`; the
project's remote is a bare repository where the stand-in Gitea finds it,
and its lint recipe runs the real ruff (see :mod:`tests.test_patch_loop`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pydantic import SecretStr

from crafting_table.config import Settings
from tests.cli.conftest import Cli
from tests.patch_hosts import (
    AGENT_TOKEN,
    GITEA_TOKEN,
    AgentStandIn,
    GiteaStandIn,
    start,
)
from tests.support import Repo
from tests.test_patch_loop import (
    BAD_HUNK,
    FILES,
    answer,
    diff_of,
    forge_remote,
    lint_job,
    project,
)


@pytest.fixture
async def agent_host(nursery: trio.Nursery) -> AgentStandIn:
    host = AgentStandIn()
    host.url = await start(host.app, nursery)
    return host


@pytest.fixture
async def gitea(nursery: trio.Nursery, tmp_path: Path) -> GiteaStandIn:
    host = GiteaStandIn(tmp_path / "forge")
    host.url = await start(host.app, nursery)
    return host


@pytest.fixture
async def settings(
    settings: Settings, agent_host: AgentStandIn, gitea: GiteaStandIn
) -> Settings:
    """The patch loop switched on, talking to the stand-ins."""
    settings.clawdforge_url = agent_host.url
    settings.clawdforge_token = SecretStr(AGENT_TOKEN)
    settings.gitea_url = gitea.url
    settings.gitea_token = SecretStr(GITEA_TOKEN)
    settings.patcher_max_attempts = 2
    settings.patcher_agent_timeout_secs = 5.0
    return settings


def fields(text: str) -> dict[str, str]:
    """The ``name: value`` block that starts an attempt's printout."""
    block = text.split("\n\n")[0]
    return {
        name.strip(): value.strip()
        for name, value in (line.split(":", 1) for line in block.splitlines())
    }


async def test_patch_run_list_and_show_a_real_attempt(
    cli: Cli,
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
    gitea: GiteaStandIn,
) -> None:
    repo: Repo = make_repo(FILES)
    await project(admin, forge_remote(repo, tmp_path))
    job_id, findings = await lint_job(admin)
    [target] = [f for f in findings if f["code"] == "F401"]
    fix = diff_of(repo, {"app.py": "import sys\n\nprint(sys.argv)\n"})
    agent_host.reply = lambda prompt: answer(fix)

    opened = await cli("patch", "run", job_id, "--finding", str(target["id"]))

    assert opened.status == 0, opened.err
    shown = fields(opened.out)
    [pull] = gitea.pulls
    assert shown["status"] == "pr_opened"
    assert shown["pull request"] == pull["html_url"]
    assert (shown["job"], shown["finding"], shown["try"]) == (
        job_id,
        str(target["id"]),
        "1",
    )
    assert shown["branch"] == f"crafting-table/auto/{job_id[-8:]}-{target['id']}"
    assert shown["error"] == "-"
    assert "\n\nRemove the unused import.\n\n" in opened.out
    assert opened.out.endswith(fix.rstrip("\n") + "\n")
    first = shown["attempt"]

    # A second try on the same finding whose diff does not apply.
    agent_host.reply = lambda prompt: answer(BAD_HUNK)
    failed = await cli("patch", "run", job_id, "--json")
    assert failed.status == 0, failed.err
    second = failed.json()["attempt"]
    assert (second["status"], second["attempt_number"]) == ("apply_failed", 2)
    assert "the diff does not apply" in second["error"]

    listed = await cli("patch", "list")
    header, *rows = listed.out.splitlines()
    assert header.split() == [
        "ID",
        "PROJECT",
        "JOB",
        "FINDING",
        "TRY",
        "STATUS",
        "CREATED",
        "OUTCOME",
    ]
    assert [row.split()[:6] for row in rows] == [
        [str(second["id"]), "alpha", job_id, str(target["id"]), "2", "apply_failed"],
        [first, "alpha", job_id, str(target["id"]), "1", "pr_opened"],
    ]
    assert rows[1].endswith(pull["html_url"])
    assert "the diff does not apply" in rows[0]
    only_opened = await cli("patch", "list", "--status", "pr_opened", "--json")
    assert [a["id"] for a in only_opened.json()["patches"]] == [int(first)]
    assert (await cli("patch", "list", "--project", "nope")).out == ""
    newest = await cli("patch", "list", "--limit", "1")
    assert newest.err == f"more: add --before {second['id']} for the next page\n"
    older = await cli("patch", "list", "--before", str(second["id"]))
    assert [row.split()[0] for row in older.out.splitlines()[1:]] == [first]

    again = await cli("patch", "show", first)
    assert again.status == 0
    assert again.out == opened.out
    as_json = await cli("patch", "show", first, "--json")
    assert as_json.json() == (await admin.get(f"/patches/{first}")).json()
