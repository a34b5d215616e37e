"""Settings: defaults, parsing, and the example file that documents them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from crafting_table.config import Settings

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


def test_patcher_reports_what_is_missing() -> None:
    settings = Settings(_env_file=None, gitea_url="http://g")  # type: ignore[call-arg]

    assert settings.patcher_missing() == [
        "CRAFTING_CLAWDFORGE_URL",
        "CRAFTING_CLAWDFORGE_TOKEN",
        "CRAFTING_GITEA_TOKEN",
    ]
