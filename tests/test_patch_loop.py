"""The patch loop end to end: real git, real jobs, real HTTP on loopback.

The project's remote is a bare repository at ``<tmp>/forge/org/alpha.git``;
its lint recipe runs the real ruff, whose JSON the real parser reads. The
agent host and Gitea are the stand-ins of :mod:`tests.patch_hosts`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from pydantic import SecretStr

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from tests.patch_hosts import (
    AGENT_TOKEN,
    GITEA_TOKEN,
    AgentStandIn,
    GiteaStandIn,
    start,
)
from tests.support import GIT_ENV, Repo, run_job

LINT = f"{sys.executable} -m ruff check --no-cache --output-format=json ."
APP = "import os\nimport sys\n\nprint(sys.argv)\n"
FILES = {"app.py": APP, "ruff.toml": '[lint]\nselect = ["F401"]\n'}
ENDED = {"apply_failed", "verify_failed", "pr_opened", "failed"}


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
    settings.patcher_agent_timeout_secs = 2.0
    return settings


def git(git_dir: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def forge_remote(repo: Repo, tmp_path: Path) -> Path:
    """A bare copy of ``repo`` where the stand-in Gitea finds org/alpha."""
    remote = tmp_path / "forge" / "org" / "alpha.git"
    remote.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(repo.path), str(remote)],
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return remote


def diff_of(repo: Repo, files: dict[str, str]) -> str:
    """The diff ``git diff`` prints for ``files`` written over ``repo``'s HEAD."""
    for name, text in files.items():
        (repo.path / name).write_text(text)
    repo.git("add", "-N", ".")
    text = repo.git("diff") + "\n"
    repo.git("reset", "-q", "--hard")
    return text


def answer(diff: str, confidence: float = 0.9) -> str:
    """A reply the way agents write them: prose around a fenced object."""
    body = json.dumps(
        {
            "diff": diff,
            "explanation": "Remove the unused import.",
            "confidence": confidence,
        },
        indent=2,
    )
    return f"Here is a patch.\n\n```json\n{body}\n```\n\nLet me know."


async def project(
    admin: httpx.AsyncClient,
    remote: Path,
    *,
    auto_patch: bool = False,
    lint: str = LINT,
    path: str = ".",
) -> None:
    reply = await admin.post(
        "/projects",
        json={
            "name": "alpha",
            "git_url": str(remote),
            "subprojects": [{"path": path, "language": "python", "lint": lint}],
            "notify": {"auto_patch": auto_patch},
        },
    )
    assert reply.status_code == 201, reply.text


async def lint_job(admin: httpx.AsyncClient) -> tuple[str, list[dict[str, Any]]]:
    """Run the lint recipe; the job id and its findings."""
    job = (await run_job(admin, "alpha", recipe="lint"))["job"]
    assert job["status"] == "failed", job
    findings = (await admin.get(f"/jobs/{job['id']}/findings")).json()["findings"]
    return job["id"], findings


async def trigger(admin: httpx.AsyncClient, job_id: str, **body: Any) -> httpx.Response:
    return await admin.post(f"/jobs/{job_id}/patches", json=body, timeout=180)


async def setup(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    path: str = ".",
) -> tuple[Repo, Path, str, dict[str, Any]]:
    prefix = "" if path == "." else f"{path}/"
    repo: Repo = make_repo({prefix + name: text for name, text in FILES.items()})
    remote = forge_remote(repo, tmp_path)
    await project(admin, remote, path=path)
    job_id, findings = await lint_job(admin)
    [target] = [f for f in findings if f["code"] == "F401"]
    return repo, remote, job_id, target


@pytest.mark.parametrize("path", [".", "clients/python"], ids=["root", "subproject"])
async def test_a_verified_patch_becomes_a_pull_request(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
    gitea: GiteaStandIn,
    path: str,
) -> None:
    repo, remote, job_id, target = await setup(admin, make_repo, tmp_path, path)
    assert target["file"] == "app.py"
    app = "app.py" if path == "." else f"{path}/app.py"
    base = git(remote, "rev-parse", "main").strip()
    fix = diff_of(repo, {app: "import sys\n\nprint(sys.argv)\n"})
    assert f"+++ b/{app}" in fix
    agent_host.reply = lambda prompt: answer(fix)

    reply = await trigger(admin, job_id, finding_id=target["id"])

    assert reply.status_code == 200, reply.text
    attempt = reply.json()["attempt"]
    assert attempt["status"] == "pr_opened", attempt
    branch = f"crafting-table/auto/{job_id[-8:]}-{target['id']}"
    assert attempt["branch"] == branch
    assert attempt["attempt_number"] == 1
    assert attempt["confidence"] == 0.9
    [pull] = gitea.pulls
    assert attempt["pr_url"] == pull["html_url"]
    assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "main")
    assert pull["title"] == f"Fix F401 in {app}:1"
    assert "Findings before" in pull["body"]
    assert "Findings after" in pull["body"]

    # The branch holds exactly the drafted diff, on top of the job's commit;
    # main is untouched.
    assert git(remote, "diff", f"main..{branch}") == fix
    assert attempt["diff"] == fix
    assert git(remote, "rev-parse", f"{branch}~1").strip() == base
    assert git(remote, "rev-parse", "main").strip() == base
    author = git(remote, "log", "-1", "--format=%an <%ae>", branch).strip()
    assert author == "crafting-table <crafting-table@localhost>"
    # The message as stored, byte for byte: title, the agent's explanation,
    # then where the finding came from.
    message = git(remote, "cat-file", "commit", branch).split("\n\n", 1)[1]
    assert message == (
        f"Fix F401 in {app}:1\n"
        "\n"
        "Remove the unused import.\n"
        "\n"
        f"Finding {target['id']} (lint F401) of job {job_id}, attempt 1.\n"
        "Drafted by the crafting-table patch loop.\n"
    )

    verify = (await admin.get(f"/jobs/{attempt['verify_job_id']}")).json()["job"]
    assert verify["trigger"] == "verify"
    assert verify["status"] == "succeeded"
    assert verify["sha"] == git(remote, "rev-parse", branch).strip()

    [opened] = agent_host.opened
    assert opened["metadata"] == {
        "project": "alpha",
        "job_id": job_id,
        "finding_id": target["id"],
    }
    assert agent_host.deleted == agent_host.sessions()
    [prompt] = agent_host.prompts
    assert "code: F401" in prompt
    assert f"where: {app}, line 1" in prompt
    assert ">1 | import os" in prompt
    assert agent_host.bad_auth == 0

    shown = (await admin.get(f"/patches/{attempt['id']}")).json()["attempt"]
    assert shown == attempt
    notifier = await actor_stats(admin, "notifier", patches_heard=1)
    assert notifier["patches_heard"] == 1


BAD_HUNK = (
    "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n-import json\n+import re\n"
    " import sys\n"
)
OUTSIDE = "--- /dev/null\n+++ b/../outside\n@@ -0,0 +1 @@\n+pwned\n"
GIT_CONFIG = (
    "--- a/.git/config\n+++ b/.git/config\n@@ -1 +1,2 @@\n [core]\n"
    "+\thooksPath = /tmp/hooks\n"
)
THROUGH_LINK = "--- /dev/null\n+++ b/conf/evil\n@@ -0,0 +1 @@\n+pwned\n"
NEW_LINK = (
    "diff --git a/shadow b/shadow\nnew file mode 120000\nindex 0000000..1111111\n"
    "--- /dev/null\n+++ b/shadow\n@@ -0,0 +1 @@\n+/etc/shadow\n"
    "\\ No newline at end of file\n"
)


@pytest.mark.parametrize(
    ("diff", "reason"),
    [
        pytest.param(BAD_HUNK, "the diff does not apply", id="bad-hunk"),
        pytest.param(OUTSIDE, "climbs out with '..'", id="outside"),
        pytest.param(GIT_CONFIG, "writes into .git", id="git-config"),
        pytest.param(THROUGH_LINK, "through the symbolic link 'conf'", id="via-link"),
        pytest.param(NEW_LINK, "creates a symbolic link", id="new-link"),
    ],
)
async def test_diffs_that_must_not_apply(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
    gitea: GiteaStandIn,
    service: ServiceHandle,
    diff: str,
    reason: str,
) -> None:
    repo: Repo = make_repo(FILES)
    os.symlink("/etc", repo.path / "conf")
    repo.write({}, "a link to /etc")
    remote = forge_remote(repo, tmp_path)
    await project(admin, remote)
    job_id, _ = await lint_job(admin)
    agent_host.reply = lambda prompt: answer(diff)

    reply = await trigger(admin, job_id)

    attempt = reply.json()["attempt"]
    assert attempt["status"] == "apply_failed", attempt
    assert reason in attempt["error"]
    assert attempt["diff"] == diff
    assert agent_host.deleted == agent_host.sessions()
    assert gitea.requests == []
    assert git(remote, "for-each-ref", "refs/heads/").count("\n") == 1
    assert not any(p.name == "outside" for p in tmp_path.rglob("outside"))
    cache = service.settings.workspace_dir / "alpha" / ".cache"
    assert "hooksPath" not in (cache / "config").read_text()
    assert not (cache.parent / "conf").exists()


@pytest.mark.parametrize(
    ("new_app", "reason"),
    [
        pytest.param(
            "import os\nimport sys\n\nprint(sys.argv, 'patched')\n",
            "the targeted finding is still reported: F401 at app.py:1",
            id="finding-stays",
        ),
        pytest.param(
            "import os  # noqa: F401\nimport sys\n\nprint(sys.argv)\n",
            "the patch adds '# noqa' to 'app.py'",
            id="noqa",
        ),
    ],
)
async def test_patches_that_fail_verification(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
    gitea: GiteaStandIn,
    new_app: str,
    reason: str,
) -> None:
    repo, remote, job_id, target = await setup(admin, make_repo, tmp_path)
    agent_host.reply = lambda prompt: answer(diff_of(repo, {"app.py": new_app}))

    reply = await trigger(admin, job_id, finding_id=target["id"])

    attempt = reply.json()["attempt"]
    assert attempt["status"] == "verify_failed", attempt
    assert reason in attempt["error"]
    assert attempt["pr_url"] is None
    assert gitea.requests == []
    assert git(remote, "for-each-ref", "refs/heads/").count("\n") == 1


@pytest.mark.parametrize(
    ("delay", "reply", "reason"),
    [
        pytest.param(5.0, "{}", "did not answer within 2 s", id="timeout"),
        pytest.param(
            0.0, "Sorry, I cannot do that.", "holds no JSON object", id="garbage"
        ),
        pytest.param(
            0.0,
            '{"diff": 12, "explanation": "x", "confidence": 1}',
            "'diff' must be a non-empty string",
            id="wrong-type",
        ),
    ],
)
async def test_agent_failures_fail_the_attempt(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
    delay: float,
    reply: str,
    reason: str,
) -> None:
    _, _, job_id, target = await setup(admin, make_repo, tmp_path)
    agent_host.delay = delay
    agent_host.reply = lambda prompt: reply

    answer_ = await trigger(admin, job_id, finding_id=target["id"])

    attempt = answer_.json()["attempt"]
    assert attempt["status"] == "failed", attempt
    assert reason in attempt["error"]
    assert attempt["diff"] is None
    with trio.fail_after(10):
        while agent_host.deleted != agent_host.sessions():
            await trio.sleep(0.05)
    assert len(agent_host.sessions()) == 1


async def test_attempts_stop_at_the_limit(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
) -> None:
    _, _, job_id, target = await setup(admin, make_repo, tmp_path)
    agent_host.reply = lambda prompt: "no idea"

    first = await trigger(admin, job_id, finding_id=target["id"])
    second = await trigger(admin, job_id)
    third = await trigger(admin, job_id, finding_id=target["id"])
    fourth = await trigger(admin, job_id)

    numbers = [r.json()["attempt"]["attempt_number"] for r in (first, second)]
    assert numbers == [1, 2]
    assert third.status_code == 409, third.text
    assert "CRAFTING_PATCHER_MAX_ATTEMPTS=2" in third.json()["error"]["message"]
    assert fourth.status_code == 409, fourth.text
    assert "limit of 2 attempts" in fourth.json()["error"]["message"]
    assert len(agent_host.prompts) == 2
    listed = (await admin.get("/patches", params={"project": "alpha"})).json()
    assert [p["attempt_number"] for p in listed["patches"]] == [2, 1]


async def test_manual_requests_that_are_refused(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    _, _, job_id, target = await setup(admin, make_repo, tmp_path)
    other_job, _ = await lint_job(admin)

    foreign = await trigger(admin, other_job, finding_id=target["id"])
    missing = await trigger(admin, job_id, finding_id=999999)
    malformed = await trigger(admin, job_id, finding_id="x")
    unknown_job = await trigger(admin, "nope")

    for refused in (foreign, missing, malformed):
        assert refused.status_code == 422, refused.text
    assert "is not a finding of job" in foreign.json()["error"]["message"]
    assert "finding_id" in malformed.json()["error"]["message"]
    assert unknown_job.status_code == 404


async def actor_stats(
    admin: httpx.AsyncClient, name: str, **at_least: int
) -> dict[str, Any]:
    """An actor's counters from /healthz once each named one reached its value."""
    with trio.fail_after(30):
        while True:
            health = (await admin.get("/healthz")).json()
            [actor] = [a for a in health["actors"] if a["name"] == name]
            stats: dict[str, Any] | None = actor["actor"]
            if stats and all(stats[k] >= v for k, v in at_least.items()):
                return stats
            await trio.sleep(0.05)


async def test_a_long_attempt_answers_202_then_ends(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
    service: ServiceHandle,
) -> None:
    _, _, job_id, target = await setup(admin, make_repo, tmp_path)
    service.settings.patcher_answer_wait_secs = 0.2
    agent_host.delay = 1.0
    agent_host.reply = lambda prompt: "no diff today"

    reply = await trigger(admin, job_id, finding_id=target["id"])

    assert reply.status_code == 202, reply.text
    attempt = reply.json()["attempt"]
    assert attempt["status"] == "drafting"
    with trio.fail_after(30):
        while attempt["status"] not in ENDED:
            await trio.sleep(0.1)
            shown = await admin.get(f"/patches/{attempt['id']}")
            attempt = shown.json()["attempt"]
    assert attempt["status"] == "failed"
    assert "holds no JSON object" in attempt["error"]
    patcher = await actor_stats(admin, "patcher")
    assert patcher["outcomes"] == {"failed": 1}
    assert patcher["running"] == 0


async def wait_patcher(admin: httpx.AsyncClient, handled: int) -> dict[str, Any]:
    """The patcher's health once it handled ``handled`` messages."""
    with trio.fail_after(60):
        while True:
            health = (await admin.get("/healthz")).json()
            [actor] = [a for a in health["actors"] if a["name"] == "patcher"]
            if actor["actor"] and actor["actor"]["handled"] >= handled:
                section: dict[str, Any] = health["patcher"]
                return section
            await trio.sleep(0.05)


async def wait_attempts(admin: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The project's attempts once ``count`` of them ended."""
    with trio.fail_after(90):
        while True:
            patches = (await admin.get("/patches", params={"project": "alpha"})).json()
            ended = [p for p in patches["patches"] if p["status"] in ENDED]
            if len(ended) >= count:
                return list(patches["patches"])
            await trio.sleep(0.1)


async def test_auto_patch_hook_fires_after_a_job_but_not_after_its_verify_job(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
) -> None:
    repo: Repo = make_repo(FILES)
    remote = forge_remote(repo, tmp_path)
    await project(admin, remote, auto_patch=True)
    # Renaming the import changes the flagged line, so the verify job's
    # finding has an identity no attempt has settled: only the verify
    # trigger keeps the hook from starting a second attempt on it.
    renamed = diff_of(repo, {"app.py": APP.replace("import os", "import os as o")})
    agent_host.reply = lambda prompt: answer(renamed)

    job_id, _ = await lint_job(admin)
    [attempt] = await wait_attempts(admin, 1)
    await wait_patcher(admin, 2)

    assert attempt["job_id"] == job_id
    assert attempt["status"] == "verify_failed"
    assert "1 new finding(s) appeared: F401 at app.py:1" in attempt["error"]
    patches = (await admin.get("/patches", params={"project": "alpha"})).json()
    assert len(patches["patches"]) == 1
    assert len(agent_host.prompts) == 1


async def test_no_hook_without_auto_patch(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
) -> None:
    await setup(admin, make_repo, tmp_path)

    section = await wait_patcher(admin, 1)

    assert section["enabled"] is True
    assert section["attempts_started"] == 0
    assert agent_host.opened == []


@pytest.mark.parametrize(
    ("links", "reported"),
    [
        pytest.param({"conf": "/etc"}, "conf/passwd", id="folder-link"),
        pytest.param({"users.py": "/etc/passwd"}, "users.py", id="file-link"),
    ],
)
async def test_context_never_follows_a_symlink(
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    agent_host: AgentStandIn,
    links: dict[str, str],
    reported: str,
) -> None:
    # A recipe printing what ruff would print about a file behind the link.
    report = json.dumps(
        [
            {
                "code": "E501",
                "message": "Line too long",
                "filename": reported,
                "location": {"row": 1, "column": 1},
            }
        ]
    )
    repo: Repo = make_repo({"report.json": report})
    for name, target in links.items():
        os.symlink(target, repo.path / name)
    repo.write({}, "links")
    remote = forge_remote(repo, tmp_path)
    await project(admin, remote, lint="cat report.json; exit 1")
    job_id, findings = await lint_job(admin)
    [finding] = findings
    agent_host.reply = lambda prompt: "nothing"

    reply = await trigger(admin, job_id, finding_id=finding["id"])

    assert reply.json()["attempt"]["status"] == "failed"
    [prompt] = agent_host.prompts
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert first_line not in prompt
    assert f"Source: not available ('{reported}' cannot be read" in prompt
