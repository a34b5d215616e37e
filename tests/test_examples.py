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
import re
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import trio

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from crafting_table.models import ProjectIn
from crafting_table.parsers import PARSERS
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


# Each tool the examples run, and what its command must say so that its
# output reaches a parser: a format the language's parser reads in the log,
# or a report (JUnit, Checkstyle, SARIF) written into $CRAFTING_REPORTS.
REPORTS = '"$CRAFTING_REPORTS'
OUTPUT_FLAGS: dict[str, tuple[str, str]] = {
    "ruff": (r"\bruff check\b", "--output-format=json"),
    "mypy": (r"\bmypy\b", "-O json"),
    "pytest": (r"\bpytest\b", "--tb=line"),
    "pip-audit": (r"\bpip-audit\b", "-f json"),
    "clippy": (r"\bcargo clippy\b", "--message-format=json"),
    "cargo-audit": (r"\bcargo audit\b", "cargo audit --json"),
    "go-vet": (r"\bgo vet\b", "go vet -json"),
    "govulncheck": (r"\bgovulncheck\b", "govulncheck -json"),
    "eslint": (r"\beslint\b", "eslint -f json"),
    "npm-audit": (r"\bnpm audit\b", "npm audit --json"),
    "vitest": (r"\bvitest\b", f"--reporter=junit --outputFile.junit={REPORTS}/"),
    "node-test": (
        r"\bnode --test\b",
        f"--test-reporter=junit --test-reporter-destination={REPORTS}/",
    ),
    "shellcheck": (r"\bshellcheck\b", "shellcheck -f json"),
    "bats": (r"\bbats\b", f"--report-formatter junit --output {REPORTS}"),
    "rubocop": (r"\brubocop\b", "rubocop --format json"),
    "bundler-audit": (r"\bbundler?-audit\b", "check --update --format json"),
    "rspec": (r"\brspec\b", f"--format RspecJunitFormatter --out {REPORTS}/"),
    "phpstan": (r"\bphpstan\b", f"--error-format=checkstyle > {REPORTS}/"),
    "phpunit": (r"\bphpunit\b", f"--log-junit {REPORTS}/"),
    "composer-audit": (r"\bcomposer audit\b", "composer audit --format=json"),
    "surefire": (r"\bmvn\b.* test\b", f"surefire-reports/TEST-*.xml {REPORTS}"),
    "checkstyle": (r"checkstyle:check", f"checkstyle-result.xml {REPORTS}"),
    "gradle-test": (r"\bgradle\b.* test\b", f"test/TEST-*.xml {REPORTS}"),
    "detekt": (r"\bdetekt\b", f"detekt/detekt.sarif {REPORTS}"),
    "dotnet-build": (r"\bdotnet build\b", f"-p:ErrorLog={REPORTS}/"),
    "dotnet-test": (
        r"\bdotnet test\b",
        '--logger "junit;LogFilePath=$CRAFTING_REPORTS/',
    ),
    "ctest": (r"\bctest\b", f"--output-junit {REPORTS}/"),
    "dotnet-list-package": (r"\bdotnet list package\b", "--vulnerable"),
    "dotnet-list-json": (r"\bdotnet list package\b", "--format json"),
    # SDK 8 lists only restored projects, and a fresh worktree has none; the
    # restore's own audit (NuGetAudit) is left to the list, which says more.
    "dotnet-list-restore": (r"\bdotnet list package\b", "dotnet restore"),
    "swift-test": (r"\bswift test\b", f"--xunit-output {REPORTS}/"),
}

# Tools whose default output a parser of the language reads as it is.
DEFAULT_OUTPUT: dict[str, tuple[str, ...]] = {
    "rust": (r"\bcargo (build|test)\b",),
    "go": (r"\bgo (build|test)\b",),
    "typescript": (r"\btsc --noEmit\b",),
    "c": (r"\bcmake --build\b",),
    "cpp": (r"\bcmake --build\b",),
    "swift": (r"\bswift build\b",),
    "java": (r"\bmvn\b.* (compile|package|verify|install)\b",),
    "kotlin": (r"\bgradle\b.* (assemble|build|classes)\b",),
}

# Commands whose output no parser reads yet; each must stay on this list
# only as long as that holds, so the list names why.
UNPARSED = {
    # `npm run build` runs whatever the package names; tsc's errors, the
    # usual case, are read.
    ("javascript", "build"),
    # Dependency installs only: a failure has no place, and a recipe_fail
    # names it.
    ("ruby", "build"),
    ("php", "build"),
}


def every_command() -> list[tuple[str, str, str, str]]:
    """(id, language, recipe, command) for each recipe of each example."""
    return [
        (f"{path.stem}:{sub.path}:{recipe}", sub.language, recipe, command)
        for path in RECIPES
        for sub in filled(path).subprojects
        for recipe in ("build", "test", "lint", "audit")
        if (command := sub.command(recipe))
    ]


COMMANDS = every_command()


@pytest.mark.parametrize(
    ("language", "recipe", "command"),
    [c[1:] for c in COMMANDS],
    ids=[c[0] for c in COMMANDS],
)
def test_every_tool_prints_what_its_parser_reads(
    language: str, recipe: str, command: str
) -> None:
    tools = [
        (tool, flag)
        for tool, (pattern, flag) in OUTPUT_FLAGS.items()
        if re.search(pattern, command)
    ]
    defaults = DEFAULT_OUTPUT.get(language, ())

    for tool, flag in tools:
        assert flag in command, (tool, flag)
    if (language, recipe) in UNPARSED:
        assert not tools, "a parser reads this now: take it off UNPARSED"
    else:
        assert tools or any(re.search(d, command) for d in defaults), command
    assert "npm test" not in command, "npm test prints whatever the package says"
    assert "-Werror" not in command, "a lint build must go on to list every warning"


def test_flag_table_matches_the_parsers() -> None:
    # The table's tools for which the language has a parser of its own.
    languages = {"python", "rust", "go", "typescript", "javascript", "shell"}
    languages |= {"ruby", "php", "c", "cpp", "swift", "java", "kotlin", "csharp"}

    assert languages <= set(PARSERS)
    assert {language for _, language, _, _ in COMMANDS} <= set(PARSERS)


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
