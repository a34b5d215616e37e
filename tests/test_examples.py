"""The example recipes and register-all.sh.

Every example is a valid project once its placeholders are filled, with the
commands whose output the parsers read. register-all.sh registers them all
with a live service; the forge token reaches the ledger, and no answer, log
line, output line or curl command line shows it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import trio

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from crafting_table.models import ProjectIn, Subproject
from crafting_table.urls import parse_git_url
from tests.linters import linter

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REGISTER_ALL = EXAMPLES / "register-all.sh"
RECIPES = sorted((EXAMPLES / "recipes").glob("*.json"))
NAMES = [path.stem for path in RECIPES]

GIT_HOST = "forge.example.com:3000"
# Characters that mean something to sed, JSON, a shell and a URL.
GITEA_TOKEN = 'gt0ken/with:odd@chars&"quotes"\\and%more'


def filled(path: Path, token: str = GITEA_TOKEN, host: str = GIT_HOST) -> ProjectIn:
    """The example at ``path`` with its placeholders filled, validated."""
    text = path.read_text()
    spec = json.loads(text)
    spec["git_url"] = (
        spec["git_url"]
        .replace("REPLACE_WITH_GITEA_TOKEN", quote(token, safe=""))
        .replace("REPLACE_WITH_GIT_HOST", host)
    )
    return ProjectIn.model_validate(spec)


def test_three_examples() -> None:
    assert NAMES == ["alpha", "beta", "gamma"]


def test_register_all_passes_shellcheck() -> None:
    done = subprocess.run(
        [linter("shellcheck"), str(REGISTER_ALL)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("path", RECIPES, ids=NAMES)
def test_example_carries_placeholders_only(path: Path) -> None:
    spec = json.loads(path.read_text())

    assert spec["name"] == path.stem
    assert spec["git_url"] == (
        "https://crafting-table:REPLACE_WITH_GITEA_TOKEN@REPLACE_WITH_GIT_HOST"
        f"/org/{path.stem}.git"
    )


@pytest.mark.parametrize("path", RECIPES, ids=NAMES)
def test_example_validates_once_filled(path: Path) -> None:
    project = filled(path)
    url = parse_git_url(project.git_url)

    assert url.host == GIT_HOST.partition(":")[0]
    assert url.password == GITEA_TOKEN
    assert all(sub.recipes() for sub in project.subprojects)
    assert all(sub.language in project.languages for sub in project.subprojects)


SHAPES = [
    ("alpha", 14, True),
    ("beta", 1, True),
    ("gamma", 1, False),
]


@pytest.mark.parametrize(("name", "count", "auto_patch"), SHAPES, ids=NAMES)
def test_example_shapes(name: str, count: int, auto_patch: bool) -> None:
    project = filled(EXAMPLES / "recipes" / f"{name}.json")

    assert len(project.subprojects) == count
    assert project.subproject(".") is not None
    assert project.notify.auto_patch is auto_patch
    assert project.notify.email


def test_alpha_has_one_sdk_per_language() -> None:
    project = filled(EXAMPLES / "recipes" / "alpha.json")
    sdks = [sub for sub in project.subprojects if sub.path != "."]

    assert len({sub.language for sub in sdks}) == len(sdks) == 13
    assert all(sub.path == f"clients/{sub.language}" for sub in sdks)
    # The path the reference's smoke procedure runs.
    assert project.subproject("clients/python") is not None


def test_beta_is_a_flask_app() -> None:
    (app,) = filled(EXAMPLES / "recipes" / "beta.json").subprojects

    assert (app.path, app.language) == (".", "python")


# The commands whose output the language's parser reads, by recipe.
PARSED = {
    "python": {
        "build": "mypy -O json .",
        "test": "pytest --tb=line -q",
        "lint": "ruff check --output-format=json .",
        "audit": "pip-audit -f json",
    },
    "rust": {
        "test": "cargo test",
        "lint": "cargo clippy --message-format=json",
        "audit": "cargo audit --json",
    },
    "go": {
        "test": "go test ./...",
        "lint": "go vet -json ./...",
        "audit": "govulncheck -json ./...",
    },
    "typescript": {"build": "tsc --noEmit", "lint": "eslint -f json ."},
    "javascript": {"lint": "eslint -f json ."},
    "shell": {"lint": "shellcheck -f json"},
}


def every_subproject() -> list[tuple[str, Subproject]]:
    """(id, subproject) for each subproject of each example."""
    return [
        (f"{path.stem}:{sub.path}", sub)
        for path in RECIPES
        for sub in filled(path).subprojects
    ]


SUBPROJECTS = every_subproject()


@pytest.mark.parametrize(
    "sub", [s for _, s in SUBPROJECTS], ids=[i for i, _ in SUBPROJECTS]
)
def test_recipes_produce_what_parsers_read(sub: Subproject) -> None:
    wanted = PARSED.get(sub.language)
    if wanted is None:
        # No parser of its own: the test results go to the reports folder.
        assert "$CRAFTING_REPORTS" in (sub.test or "")
        return
    for recipe, command in wanted.items():
        assert command in (sub.command(recipe) or ""), (recipe, sub.command(recipe))


# -- register-all.sh without a service: what curl is given ---------------------


def fake_curl(tmp_path: Path, status: int, body: str) -> dict[str, str]:
    """A curl that records its arguments, body and header file, then answers."""
    folder = tmp_path / "bin"
    folder.mkdir()
    record = tmp_path / "record"
    record.mkdir()
    (folder / "curl").write_text(
        "#!/bin/sh\n"
        f'record="{record}"\n'
        'n=$(ls "$record" | wc -l)\n'
        'printf "%s\\n" "$@" >"$record/$n.argv"\n'
        'cat >"$record/$n.body"\n'
        'cat /dev/fd/3 >"$record/$n.header"\n'
        f"printf '%s\\n%s' '{body}' '{status}'\n"
    )
    (folder / "curl").chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{folder}:{os.environ['PATH']}",
        "CRAFTING_TABLE_BASE_URL": "http://service.test:8810/",
        "CRAFTING_TABLE_TOKEN": "ct_admin_bearer_value",
        "GITEA_TOKEN": GITEA_TOKEN,
        "GIT_HOST": GIT_HOST,
    }


def register_all(env: dict[str, str], *files: str) -> subprocess.CompletedProcess[str]:
    """Run register-all.sh."""
    return subprocess.run(
        [str(REGISTER_ALL), *files],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_secrets_travel_on_stdin_and_fd_3_only(tmp_path: Path) -> None:
    env = fake_curl(tmp_path, 201, '{"ok": true}')

    done = register_all(env, str(EXAMPLES / "recipes" / "beta.json"))

    record = tmp_path / "record"
    argv = (record / "0.argv").read_text()
    body = json.loads((record / "0.body").read_text())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "beta: 201 registered\n"
    assert (
        record / "0.header"
    ).read_text() == "Authorization: Bearer ct_admin_bearer_value\n"
    assert "http://service.test:8810/projects" in argv.splitlines()
    for secret in ("ct_admin_bearer_value", GITEA_TOKEN, quote(GITEA_TOKEN, safe="")):
        assert secret not in argv
    assert parse_git_url(body["git_url"]).password == GITEA_TOKEN
    assert body == filled(EXAMPLES / "recipes" / "beta.json").model_dump(
        exclude_unset=True
    )


def test_error_message_is_shown_with_tokens_masked(tmp_path: Path) -> None:
    echoed = quote(GITEA_TOKEN, safe="")
    answer = json.dumps(
        {"ok": False, "error": {"code": "invalid", "message": f"bad url {echoed}"}}
    )
    env = fake_curl(tmp_path, 422, answer.replace("'", ""))

    done = register_all(env, str(EXAMPLES / "recipes" / "gamma.json"))

    assert done.returncode == 1
    assert done.stdout == "gamma: 422 bad url ***\n"


@pytest.mark.parametrize(
    ("unset", "complaint"),
    [
        ("CRAFTING_TABLE_TOKEN", "set CRAFTING_TABLE_TOKEN"),
        ("GITEA_TOKEN", "set GITEA_TOKEN"),
        ("GIT_HOST", "set GIT_HOST"),
    ],
    ids=["no-bearer", "no-forge-token", "no-host"],
)
def test_missing_setting_is_a_usage_error(
    tmp_path: Path, unset: str, complaint: str
) -> None:
    env = fake_curl(tmp_path, 201, "{}")
    del env[unset]

    done = register_all(env)

    assert done.returncode == 2
    assert complaint in done.stderr
    assert not list((tmp_path / "record").iterdir())


@pytest.mark.parametrize(
    ("name", "value"),
    [("GIT_HOST", "evil.example/path"), ("CRAFTING_TABLE_TOKEN", "two\nlines")],
    ids=["host-with-path", "bearer-with-newline"],
)
def test_malformed_setting_is_a_usage_error(
    tmp_path: Path, name: str, value: str
) -> None:
    env = {**fake_curl(tmp_path, 201, "{}"), name: value}

    done = register_all(env)

    assert done.returncode == 2
    assert not list((tmp_path / "record").iterdir())


# -- register-all.sh against the real service ----------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, allowing only the examples' forge host."""
    return settings.model_copy(
        update={"git_hosts": [GIT_HOST.partition(":")[0]], "access_log": True}
    )


def stored_git_urls(settings: Settings) -> dict[str, str]:
    """name -> git_url as the ledger holds them."""
    with sqlite3.connect(settings.ledger_path) as ledger:
        rows = ledger.execute("SELECT name, spec_json FROM projects").fetchall()
    return {name: json.loads(spec)["git_url"] for name, spec in rows}


async def run_register_all(url: str, bearer: str) -> subprocess.CompletedProcess[bytes]:
    """register-all.sh against the service at ``url``, off the event loop."""
    env = {
        **os.environ,
        "CRAFTING_TABLE_BASE_URL": url,
        "CRAFTING_TABLE_TOKEN": bearer,
        "GITEA_TOKEN": GITEA_TOKEN,
        "GIT_HOST": GIT_HOST,
    }
    with trio.fail_after(60):
        return await trio.run_process(
            [str(REGISTER_ALL)],
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_register_all_against_the_service(
    service: ServiceHandle,
    admin: httpx.AsyncClient,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert service.admin_bearer is not None
    secrets = [GITEA_TOKEN, quote(GITEA_TOKEN, safe=""), service.admin_bearer]

    first = await run_register_all(service.url, service.admin_bearer)
    again = await run_register_all(service.url, service.admin_bearer)
    listed = await admin.get("/projects")
    shown = [await admin.get(f"/projects/{name}") for name in NAMES]

    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.decode().splitlines() == [f"{n}: 201 registered" for n in NAMES]
    assert again.returncode == 1
    for name, line in zip(NAMES, again.stdout.decode().splitlines(), strict=True):
        assert line.startswith(f"{name}: 409 a project named '{name}' exists")
    forge = f"https://crafting-table:{quote(GITEA_TOKEN, safe='')}@{GIT_HOST}/org"
    assert stored_git_urls(settings) == {name: f"{forge}/{name}.git" for name in NAMES}
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["projects"]] == NAMES
    logged = [record.getMessage() for record in caplog.records]
    assert any("/projects" in line for line in logged), "the access log was not seen"
    seen = [
        first.stdout.decode(),
        first.stderr.decode(),
        again.stdout.decode(),
        again.stderr.decode(),
        listed.text,
        *(answer.text for answer in shown),
        *logged,
    ]
    for secret in secrets:
        assert not any(secret in text for text in seen)
