"""Settings: defaults, parsing, and the example file that documents them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from crafting_table.config import Settings, likely_setting, unknown_variables
from crafting_table.models import ProjectIn

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_every_setting_is_in_the_example_file() -> None:
    documented = set(re.findall(r"CRAFTING_([A-Z0-9_]+)=", EXAMPLE.read_text()))
    fields = {name.upper() for name in Settings.model_fields}

    assert fields - documented == set()
    assert documented - fields == set()


def test_lists_take_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAFTING_LAN_CIDRS", "10.0.0.0/8, 127.0.0.0/8")
    monkeypatch.setenv("CRAFTING_GIT_HOSTS", '["git.example.com"]')

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.lan_cidrs == ["10.0.0.0/8", "127.0.0.0/8"]
    assert settings.git_hosts == ["git.example.com"]


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("CRAFTING_LAN_CIDRS", "10.0.0.0/33", "address range"),
        ("CRAFTING_LAN_CIDRS", "[10.0.0.0/8", "'\\[10.0.0.0/8' is not a JSON list"),
        ("CRAFTING_BIND", "8810", "HOST:PORT"),
        ("CRAFTING_MAX_JOBS", "0", "greater than or equal to 1"),
        ("CRAFTING_ALLOW_FILE_URLS", "sometimes", "never"),
    ],
)
def test_bad_values_say_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=fragment):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_unknown_variables_are_the_likely_typos() -> None:
    environ = {
        "CRAFTING_MAX_JOB": "1",
        "CRAFTING_BIND": "127.0.0.1:8810",
        "CRAFTING_TABLE_TOKEN": "ct_x",
        "CRAFTING_JOB_ID": "06h41",
        "CRAFTING_REPORTS": "/tmp/reports",
        "CRAFTING_TEST_REQUIRE_TOOLCHAINS": "1",
        "CRAFTING_SMTP_PASSWORD": "x",
        "PATH": "/usr/bin",
    }

    assert unknown_variables(environ) == ["CRAFTING_MAX_JOB", "CRAFTING_SMTP_PASSWORD"]


def test_a_misspelt_setting_gets_the_likely_one() -> None:
    assert likely_setting("CRAFTING_MAX_JOB") == "CRAFTING_MAX_JOBS"
    assert likely_setting("CRAFTING_WORKSPACE") == "CRAFTING_WORKSPACE_DIR"
    assert likely_setting("CRAFTING_SMTP_PASSWORD") == "CRAFTING_SMTP_PASS"
    assert likely_setting("CRAFTING_NOTHING_LIKE_IT") is None


def test_patcher_reports_what_is_missing() -> None:
    settings = Settings(_env_file=None, gitea_url="http://g")  # type: ignore[call-arg]

    assert settings.patcher_missing() == [
        "CRAFTING_CLAWDFORGE_URL",
        "CRAFTING_CLAWDFORGE_TOKEN",
        "CRAFTING_GITEA_TOKEN",
    ]


def test_defaults_without_any_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CRAFTING_"):
            monkeypatch.delenv(name)

    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    # The cores this process may run on: os.cpu_count() unless the host
    # pins the service to fewer.
    assert settings.max_jobs == len(os.sched_getaffinity(0))
    assert settings.max_jobs <= (os.cpu_count() or 1)
    assert settings.kill_grace_secs == 10.0
    assert settings.lan_cidrs == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "::1/128",
    ]
    assert settings.bind == "127.0.0.1:8810"
    assert settings.allow_file_urls == "admin"
    assert settings.max_log_bytes == 64 * 1024 * 1024
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.max_hook_body_bytes == 25 * 1024 * 1024


def test_the_default_workspace_is_outside_the_folder_the_service_starts_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Started from a checkout, a ./workspace would have every job read that
    # checkout's pyproject.toml.
    monkeypatch.delenv("CRAFTING_WORKSPACE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)

    chosen = Settings(_env_file=None).workspace_dir  # type: ignore[call-arg]

    if os.geteuid() == 0:
        assert chosen == Path("/var/lib/crafting-table/workspace")
    else:
        assert chosen == tmp_path / "state" / "crafting-table" / "workspace"
    assert Path.cwd() not in chosen.resolve().parents


def test_max_jobs_follows_the_cores_the_process_may_use() -> None:
    # In a child pinned to one core: the default is one job at a time.
    program = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from crafting_table.config import Settings;"
        "print(Settings(_env_file=None).max_jobs)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRAFTING_")}

    done = subprocess.run(
        [sys.executable, "-c", program],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout.strip() == "1"


def test_a_subproject_without_timeout_secs_gets_1800() -> None:
    spec = ProjectIn.model_validate(
        {"name": "demo", "git_url": "/srv/x.git", "subprojects": [{"test": "true"}]}
    )

    assert spec.subprojects[0].timeout_secs == 1800
    # What a job snapshots of its subproject carries the deadline too.
    assert spec.subprojects[0].model_dump()["timeout_secs"] == 1800


def test_a_project_without_languages_gets_those_of_its_subprojects() -> None:
    subprojects = [
        {"path": "api", "language": "rust", "test": "cargo test"},
        {"path": "web", "language": "typescript", "lint": "npx tsc"},
        {"path": "tools", "test": "make check"},
        {"path": "cli", "language": "rust", "lint": "cargo clippy"},
    ]
    base = {"name": "demo", "git_url": "/srv/x.git", "subprojects": subprojects}

    derived = ProjectIn.model_validate(base)
    given = ProjectIn.model_validate({**base, "languages": ["python"]})

    assert derived.languages == ["rust", "typescript"]
    assert given.languages == ["python"]
