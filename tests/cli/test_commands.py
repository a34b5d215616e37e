"""Every client sub-command against a live service: output and exit status."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle
from tests.cli.conftest import Cli
from tests.support import Repo, enqueue, register, run_job, wait_job

RUFF = f"{sys.executable} -m ruff check --no-cache --output-format=json ."


def recipe_file(tmp_path: Path, repo: Repo, **changes: Any) -> Path:
    spec = {
        "name": "alpha",
        "git_url": repo.url,
        "languages": ["python"],
        "subprojects": [
            {"path": ".", "language": "python", "lint": RUFF, "test": "echo ok"}
        ],
        **changes,
    }
    path = tmp_path / "alpha.json"
    path.write_text(json.dumps(spec))
    return path


def columns(line: str) -> list[str]:
    return line.split()


# -- token ------------------------------------------------------------------


async def test_token_mint_list_revoke(
    cli: Cli, service: ServiceHandle, admin: httpx.AsyncClient
) -> None:
    minted = await cli("token", "mint", "alice")
    assert minted.status == 0
    bearer = minted.out.strip()
    assert minted.out == bearer + "\n"
    assert "minted token 'alice'" in minted.err
    assert bearer not in minted.err
    as_alice = {"Authorization": f"Bearer {bearer}"}
    assert (await admin.get("/projects", headers=as_alice)).status_code == 200

    robot = await cli("token", "mint", "robot", "--admin", "--cidr", "10.0.0.0/8")
    assert "minted admin token 'robot'" in robot.err

    listed = await cli("token", "list")
    assert listed.status == 0
    header, *rows = listed.out.splitlines()
    assert columns(header)[:3] == ["NAME", "ADMIN", "CIDRS"]
    by_name = {columns(row)[0]: columns(row) for row in rows}
    assert set(by_name) == {"admin", "alice", "robot"}
    assert by_name["robot"][1:3] == ["yes", "10.0.0.0/8"]
    assert by_name["alice"][1:3] == ["no", "-"]
    # Columns are aligned: every row starts its second column where the
    # header does.
    start = header.index("ADMIN")
    assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows)

    as_json = await cli("token", "list", "--json")
    api = (await admin.get("/admin/tokens")).json()
    assert as_json.json() == api

    revoked = await cli("token", "revoke", "alice")
    assert (revoked.status, revoked.out) == (0, "revoked token 'alice'\n")
    assert (await admin.get("/projects", headers=as_alice)).status_code == 401
    again = await cli("token", "revoke", "alice")
    assert again.status == 1
    assert again.err == "crafting-table: not_found: no active token named 'alice'\n"


async def test_token_commands_need_an_admin_token(
    cli: Cli, admin: httpx.AsyncClient
) -> None:
    bearer = (await cli("token", "mint", "bob")).out.strip()

    refused = await cli("token", "list", token=bearer)

    assert refused.status == 1
    assert refused.out == ""
    assert refused.err.startswith("crafting-table: forbidden: token 'bob' is not")


# -- project ----------------------------------------------------------------


async def test_project_register_list_show_update_delete(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    path = recipe_file(tmp_path, repo)

    registered = await cli("project", "register", "-f", str(path))
    assert (registered.status, registered.out) == (
        0,
        "registered project 'alpha' (1 subproject, owner 'admin')\n",
    )
    taken = await cli("project", "register", "-f", str(path))
    assert taken.status == 1
    assert taken.err.startswith("crafting-table: conflict: ")

    listed = await cli("project", "list")
    header, row = listed.out.splitlines()
    assert columns(header) == ["NAME", "OWNER", "BRANCH", "SUBPROJECTS", "GIT", "URL"]
    assert columns(row) == ["alpha", "admin", "main", "1", repo.url]

    shown = await cli("project", "show", "alpha")
    assert shown.status == 0
    assert re.search(r"^default branch: +main$", shown.out, re.MULTILINE)
    recipes = [columns(line)[:3] for line in shown.out.splitlines() if line[:2] == ". "]
    assert recipes == [[".", "python", "test"], [".", "python", "lint"]]
    assert RUFF in shown.out
    assert (await cli("project", "show", "alpha", "--json")).json() == (
        await admin.get("/projects/alpha")
    ).json()

    assert registered.err == ""
    recipe_file(
        tmp_path,
        repo,
        default_branch="develop",
        subprojects=[{"path": ".", "test": "make check"}],
    )
    updated = await cli("project", "update", "-f", str(path))
    assert updated.out.startswith("updated project 'alpha'")
    assert updated.err.startswith("subproject '.' is generic: its findings come")
    assert (await admin.get("/projects/alpha")).json()["project"][
        "default_branch"
    ] == "develop"

    unconfirmed = await cli("project", "delete", "alpha")
    assert unconfirmed.status == 2
    assert "pass --yes to confirm" in unconfirmed.err
    assert (await admin.get("/projects/alpha")).status_code == 200
    deleted = await cli("project", "delete", "alpha", "--yes")
    assert (deleted.status, deleted.out) == (0, "deleted project 'alpha'\n")
    assert (await admin.get("/projects/alpha")).status_code == 404


async def test_project_show_lists_every_setting_but_the_secret(
    cli: Cli, make_repo: Any, tmp_path: Path
) -> None:
    secret = "hush-hush-webhook"
    path = recipe_file(
        tmp_path,
        make_repo(),
        notify={"email": ["ops@example.com"], "on": ["test_fail"], "auto_patch": True},
        webhook_secret=secret,
        on_push=["test", "lint"],
        push_paths_only=False,
        max_concurrent_jobs=3,
        commit_status=False,
        patch_policy={"may_edit_tests": True, "may_edit_lint_config": True},
        schedules=[
            {"cron": "0 3 * * *", "tz": "Europe/Berlin", "recipe": "lint"},
            {"cron": "*/15 * * * 1-5", "recipe": "test", "subproject": "."},
        ],
    )
    spec = json.loads(path.read_text())
    spec["subprojects"][0]["limits"] = {"memory_mb": 512, "pids": 64}
    path.write_text(json.dumps(spec))
    assert (await cli("project", "register", "-f", str(path))).status == 0

    shown = await cli("project", "show", "alpha")

    assert shown.status == 0
    settings, schedules, recipes = shown.out.split("\n\n")
    fields = {
        name: value.strip()
        for name, value in (line.split(":", 1) for line in settings.splitlines())
    }
    assert {
        name: fields[name]
        for name in (
            "notify",
            "notify on",
            "auto patch",
            "patches may",
            "on push",
            "push paths only",
            "cancel superseded",
            "webhook secret",
            "commit status",
            "max jobs",
            "schedules",
        )
    } == {
        "notify": "ops@example.com",
        "notify on": "test_fail",
        "auto patch": "yes",
        "patches may": "edit tests, edit lint config",
        "on push": "test,lint",
        "push paths only": "no",
        "cancel superseded": "yes",
        "webhook secret": "set",
        "commit status": "no",
        "max jobs": "3",
        "schedules": "2",
    }
    assert [columns(line) for line in schedules.splitlines()] == [
        ["RECIPE", "SUBPROJECT", "TZ", "CRON"],
        ["lint", "-", "Europe/Berlin", "0", "3", "*", "*", "*"],
        ["test", ".", "UTC", "*/15", "*", "*", "*", "1-5"],
    ]
    assert columns(recipes.splitlines()[1])[:5] == [
        ".",
        "python",
        "test",
        "1800s",
        "memory=512MB,pids=64",
    ]
    assert secret not in shown.out


@pytest.mark.parametrize(
    ("argv", "in_file", "branch"),
    [
        (("project", "update", "alpha"), "alpha", "develop"),
        (("project", "update", "alpha"), None, "develop"),
        (("project", "update"), "alpha", "develop"),
        (("project", "update", "beta"), "alpha", "main"),
        (("project", "update"), None, "main"),
    ],
    ids=[
        "name-and-file-agree",
        "name-given-file-has-none",
        "file-names-it",
        "name-and-file-differ",
        "no-name-anywhere",
    ],
)
async def test_project_update_takes_the_name_like_show_and_delete(
    cli: Cli,
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    argv: tuple[str, ...],
    in_file: str | None,
    branch: str,
) -> None:
    path = recipe_file(tmp_path, make_repo())
    assert (await cli("project", "register", "-f", str(path))).status == 0
    spec = {**json.loads(path.read_text()), "default_branch": "develop"}
    if in_file is None:
        del spec["name"]
    path.write_text(json.dumps(spec))

    ran = await cli(*argv, "-f", str(path))

    stored = (await admin.get("/projects/alpha")).json()["project"]
    assert stored["default_branch"] == branch
    if branch == "develop":
        assert (ran.status, ran.out) == (
            0,
            "updated project 'alpha' (1 subproject, owner 'admin')\n",
        )
    else:
        assert ran.status == 2
        assert ran.out == ""
        assert ran.err.startswith("crafting-table: ")
        assert "'name'" in ran.err or "names project 'alpha', not 'beta'" in ran.err


async def test_project_register_reads_standard_input(
    cli: Cli,
    admin: httpx.AsyncClient,
    make_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = recipe_file(tmp_path, make_repo()).read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    registered = await cli("project", "register", "-f", "-")

    assert registered.status == 0
    assert (await admin.get("/projects/alpha")).status_code == 200


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "holds JSON but not an object"),
        (b'{"name": "caf\xe9"}', "is not UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["missing-file", "not-json", "not-an-object", "latin-1", "too-deep"],
)
async def test_project_register_with_a_bad_file(
    cli: Cli, tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "recipe.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)

    ran = await cli("project", "register", "-f", str(path))

    assert ran.status == 2
    assert ran.out == ""
    assert ran.err.startswith("crafting-table: ")
    assert expected in ran.err


# -- job --------------------------------------------------------------------


async def test_job_run_without_follow_prints_the_id(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="exit 7")

    ran = await cli("job", "run", "demo", "test")

    assert ran.status == 0
    job_id = ran.out.strip()
    assert ran.out == job_id + "\n"
    assert f"queued job {job_id}: test of demo (.) at main" in ran.err
    body = await wait_job(admin, job_id)
    assert body["job"]["exit_code"] == 7


async def test_job_run_at_a_ref_or_sha(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    first = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    feature = repo.write({"feature.txt": "on the branch\n"})
    await register(admin, repo, test="git rev-parse HEAD")

    at_sha = await cli("job", "run", "demo", "test", "--sha", first, "--json")
    at_ref = await cli("job", "run", "demo", "test", "--ref", "feature")
    both = await cli("job", "run", "demo", "test", "--ref", "x", "--sha", first)

    assert at_sha.json()["job"]["sha"] == first
    assert at_sha.json()["ok"] is True
    assert "at feature" in at_ref.err
    assert both.status == 2
    assert "not allowed with argument" in both.err
    by_sha = await wait_job(admin, at_sha.json()["job_id"])
    by_ref = await wait_job(admin, at_ref.out.strip())
    assert first in by_sha["log_tail"]
    assert feature in by_ref["log_tail"]
    assert first not in by_ref["log_tail"]


@pytest.mark.parametrize(
    ("command", "timeout_secs", "expected_status", "final"),
    [
        ("echo first; echo second", 60, 0, "succeeded with exit code 0"),
        ("echo first; echo second; exit 3", 60, 3, "failed with exit code 3"),
        ("echo first; echo second; sleep 30", 1, 124, "timed_out"),
    ],
    ids=["succeeded", "failed", "timed-out"],
)
async def test_job_run_follow_prints_the_log_and_exits_with_the_job(
    cli: Cli,
    admin: httpx.AsyncClient,
    make_repo: Any,
    command: str,
    timeout_secs: int,
    expected_status: int,
    final: str,
) -> None:
    await register(admin, make_repo(), test=command, timeout_secs=timeout_secs)

    ran = await cli("job", "run", "demo", "test", "--follow")

    assert ran.status == expected_status
    job_id = ran.err.split()[2].rstrip(":")
    log = (await admin.get(f"/jobs/{job_id}/log")).text
    assert ran.out == log
    assert "first\nsecond\n" in ran.out
    assert f"job {job_id} {final}" in ran.err


async def test_follow_a_canceled_job_exits_130(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="echo started; sleep 60")
    job_id = await enqueue(admin, "demo", recipe="test")
    ran = None

    async def follow() -> None:
        nonlocal ran
        ran = await cli("job", "log", job_id, "--follow")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        with trio.fail_after(30):
            while (
                "started" not in (await admin.get(f"/jobs/{job_id}")).json()["log_tail"]
            ):
                await trio.sleep(0.05)
        assert (await admin.post(f"/jobs/{job_id}/cancel")).status_code == 200

    assert ran is not None
    assert ran.status == 130
    assert "started\n" in ran.out
    assert f"job {job_id} canceled" in ran.err


async def test_job_run_follow_json_prints_one_json_document_a_line(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="echo hello")

    ran = await cli("job", "run", "demo", "test", "--follow", "--json")

    assert ran.status == 0
    documents = [json.loads(line) for line in ran.out.splitlines()]
    enqueued, *frames, end = documents
    assert enqueued["ok"] is True
    assert enqueued["job"]["status"] == "queued"
    assert {frame["type"] for frame in frames} == {"lines"}
    assert "hello" in [line for frame in frames for line in frame["lines"]]
    assert end == {
        "type": "end",
        "status": "succeeded",
        "exit_code": 0,
        "error": None,
        "findings_count": 0,
    }


async def test_job_show_log_list_and_cancel(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="seq 1 50", build="sleep 60")
    done = (await run_job(admin, "demo", recipe="test"))["job"]
    whole = (await admin.get(f"/jobs/{done['id']}/log")).content

    shown = await cli("job", "show", done["id"], "--tail", "3")
    assert shown.status == 0
    fields = dict(
        line.split(":", 1) for line in shown.out.split("\n\n")[0].splitlines()
    )
    assert fields["status"].strip() == "succeeded"
    assert fields["exit code"].strip() == "0"
    assert fields["log"].strip() == f"{len(whole)} bytes"
    assert shown.out.split("\n\n")[1].splitlines() == whole.decode().splitlines()[-3:]

    logged = await cli("job", "log", done["id"])
    assert logged.out.encode() == whole
    resumed = await cli("job", "log", done["id"], "--offset", "100")
    assert resumed.out.encode() == whole[100:]
    past = await cli("job", "log", done["id"], "--offset", str(len(whole) + 5))
    assert past.status == 1
    assert past.err.startswith("crafting-table: range_not_satisfiable: offset")

    running = await enqueue(admin, "demo", recipe="build")
    with trio.fail_after(30):
        while (await admin.get(f"/jobs/{running}")).json()["job"]["status"] != (
            "running"
        ):
            await trio.sleep(0.05)
    listed = await cli("job", "list", "--status", "running")
    assert [columns(row)[0] for row in listed.out.splitlines()[1:]] == [running]
    canceled = await cli("job", "cancel", running)
    assert (canceled.status, canceled.out) == (0, f"job {running} canceled\n")
    again = await cli("job", "cancel", running)
    assert again.status == 1
    assert again.err == (
        f"crafting-table: conflict: job {running!r} already ended with status "
        f"'canceled'; 'crafting-table job retry {running}' runs it again\n"
    )

    everything = await cli("job", "list", "--project", "demo")
    ids = [columns(row)[0] for row in everything.out.splitlines()[1:]]
    assert ids == [running, done["id"]]
    as_json = await cli("job", "list", "--recipe", "test", "--json")
    assert [job["id"] for job in as_json.json()["jobs"]] == [done["id"]]


# -- findings ---------------------------------------------------------------


async def test_job_list_pages_back_with_before(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="true")
    oldest, middle, newest = [
        (await run_job(admin, "demo", recipe="test"))["job"]["id"] for _ in range(3)
    ]

    first = await cli("job", "list", "--limit", "2")
    assert [columns(row)[0] for row in first.out.splitlines()[1:]] == [newest, middle]
    assert first.err == f"more: add --before {middle} for the next page\n"
    second = await cli("job", "list", "--limit", "2", "--before", middle)
    assert [columns(row)[0] for row in second.out.splitlines()[1:]] == [oldest]
    assert second.err == ""

    as_json = await cli("job", "list", "--limit", "1", "--before", newest, "--json")
    assert [job["id"] for job in as_json.json()["jobs"]] == [middle]
    assert as_json.json()["next"] == middle
    refused = await cli("job", "list", "--before", "not-a-job-id")
    assert refused.status == 1
    assert "'not-a-job-id' is not a job id; pass the 'next' of the page" in (
        refused.err
    )


async def test_findings_table_filters_json_and_sarif(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"app.py": "import os\nimport sys\n"})
    await register(admin, repo, language="python", lint=RUFF)
    first = (await run_job(admin, "demo", recipe="lint"))["job"]["id"]
    repo.write({"app.py": "import os\n"})
    second = (await run_job(admin, "demo", recipe="lint"))["job"]["id"]

    table = await cli("findings", first)
    header, *rows = table.out.splitlines()
    assert columns(header) == [
        "ID",
        "SEVERITY",
        "KIND",
        "WHERE",
        "CODE",
        "STATE",
        "MESSAGE",
    ]
    assert sorted(columns(row)[2:6] for row in rows) == [
        ["lint", "app.py:1", "F401", "new"],
        ["lint", "app.py:2", "F401", "new"],
    ]
    assert "(fix: Remove unused import" in table.out

    nothing_new = await cli("findings", second, "--new")
    assert (nothing_new.status, nothing_new.out) == (0, "")
    assert nothing_new.err == f"job {second} has no findings that match\n"
    fixed = await cli("findings", second, "--fixed")
    assert [columns(row)[3:6] for row in fixed.out.splitlines()[1:]] == [
        ["app.py:2", "F401", "fixed"]
    ]
    assert (await cli("findings", first, "--kind", "cve")).out == ""
    as_json = await cli("findings", first, "--json")
    assert as_json.json() == (await admin.get(f"/jobs/{first}/findings")).json()

    sarif = (await cli("findings", first, "--sarif")).json()
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["F401", "F401"]
    both = await cli("findings", first, "--new", "--fixed")
    assert both.status == 2
    first_fixed = await cli("findings", first, "--fixed")
    assert (first_fixed.status, first_fixed.out) == (0, "")
    assert first_fixed.err.splitlines()[0] == (
        f"job {first} has no earlier run of its recipe to compare with: all its "
        "findings are new, none fixed"
    )
    over_api = await admin.get(f"/jobs/{first}/findings", params={"new": 1, "fixed": 1})
    assert over_api.status_code == 422
    assert "ask for one at a time" in over_api.json()["error"]["message"]


# -- patch ------------------------------------------------------------------


async def test_patch_commands(
    cli: Cli, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="exit 1")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]

    triggered = await cli("patch", "run", job_id, "--finding", "1")
    assert triggered.status == 1
    assert triggered.err.startswith(
        "crafting-table: not_configured: the patch loop is off: set "
    )
    listed = await cli("patch", "list")
    assert (listed.status, listed.out, listed.err) == (
        0,
        "",
        "no patch attempts match\n",
    )
    assert (await cli("patch", "list", "--json")).json() == {
        "ok": True,
        "patches": [],
        "next": None,
    }
    missing = await cli("patch", "show", "41")
    assert (missing.status, missing.err) == (
        1,
        "crafting-table: not_found: no patch attempt with id 41\n",
    )


# -- errors and settings ----------------------------------------------------


async def test_an_api_error_is_one_line_on_stderr(cli: Cli) -> None:
    ran = await cli("project", "show", "x")

    assert (ran.status, ran.out) == (1, "")
    assert ran.err == "crafting-table: not_found: no project named 'x'\n"


async def test_an_unreachable_service_is_named(cli: Cli) -> None:
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    for argv in (("job", "list"), ("job", "log", "x", "--follow")):
        ran = await cli(*argv, url=url)
        assert ran.status == 3, argv
        assert ran.out == ""
        assert ran.err.startswith(f"crafting-table: cannot reach the service at {url}")
        assert len(ran.err.splitlines()) == 1


async def test_without_any_token_it_says_where_one_comes_from(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path / "workspace")

    ran = await cli("job", "list", token=None)

    assert ran.status == 2
    assert "no bearer token: pass --token, set CRAFTING_TABLE_TOKEN" in ran.err


async def test_a_bad_url_is_a_usage_error(cli: Cli) -> None:
    ran = await cli("job", "list", url="localhost:8810")

    assert ran.status == 2
    assert "'localhost:8810' is not an http:// or https:// URL" in ran.err


@pytest.mark.parametrize("limit", ["-5", "0", "501", "many"])
async def test_a_limit_out_of_range_is_a_usage_error(cli: Cli, limit: str) -> None:
    for command in ("job", "patch"):
        ran = await cli(command, "list", "--limit", limit)

        assert ran.status == 2, ran
        assert f"{limit!r} is not a count from 1 to 500" in ran.err


async def test_settings_from_the_environment_and_the_bearer_file(
    cli: Cli,
    service: ServiceHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bob = (await cli("token", "mint", "bob")).out.strip()
    monkeypatch.setenv("CRAFTING_TABLE_BASE_URL", service.url)

    # Next to the data folder, the admin bearer file is the token.
    monkeypatch.chdir(service.settings.data_dir.parent)
    assert (await cli("token", "list", token=None, url=None)).status == 0
    # CRAFTING_DATA_DIR moves the file.
    monkeypatch.chdir(tmp_path / "workspace")
    assert (await cli("token", "list", token=None, url=None)).status == 2
    monkeypatch.setenv("CRAFTING_DATA_DIR", str(service.settings.data_dir))
    assert (await cli("token", "list", token=None, url=None)).status == 0
    # The environment's token beats the file; the flag beats both.
    monkeypatch.setenv("CRAFTING_TABLE_TOKEN", bob)
    as_bob = await cli("token", "list", token=None, url=None)
    assert as_bob.status == 1
    assert "token 'bob' is not an admin token" in as_bob.err
    assert (await cli("token", "list", url=None)).status == 0
    # The flag's URL beats the environment's.
    monkeypatch.setenv("CRAFTING_TABLE_BASE_URL", "http://127.0.0.1:9")
    assert (await cli("token", "list")).status == 0
    assert (await cli("token", "list", url=None)).status == 3


async def test_options_before_the_sub_command(cli: Cli, service: ServiceHandle) -> None:
    assert service.admin_bearer is not None

    ran = await cli(
        "--url",
        service.url,
        "--token",
        service.admin_bearer,
        "--json",
        "token",
        "list",
        token=None,
        url=None,
    )

    assert ran.status == 0
    assert [t["name"] for t in ran.json()["tokens"]] == ["admin"]


async def test_a_reader_that_goes_away_is_no_error(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    assert service.admin_bearer is not None
    await register(admin, make_repo(), test="seq 1 200000")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    client = f"{sys.executable} -m crafting_table.cli.main"
    script = f'{client} job log {job_id} | head -n 2; echo "exit ${{PIPESTATUS[0]}}"'
    env = {
        "PATH": "/usr/bin:/bin",
        "CRAFTING_TABLE_BASE_URL": service.url,
        "CRAFTING_TABLE_TOKEN": service.admin_bearer,
    }

    done = await trio.run_process(
        ["bash", "-c", script],
        env=env,
        capture_stdout=True,
        capture_stderr=True,
    )

    lines = done.stdout.decode().splitlines()
    assert lines[-1] == "exit 141"
    assert len(lines) == 3
    assert done.stderr == b""
