"""Language names: the choices, their other spellings, and inference."""

from __future__ import annotations

import pytest

from crafting_table import languages
from crafting_table.models import STORED, ProjectIn
from crafting_table.parsers import PARSERS, parsers_for


def project(**sub: object) -> ProjectIn:
    body = {"name": "x", "git_url": "https://git.example/x.git"}
    return ProjectIn.model_validate(body | {"subprojects": [{"path": ".", **sub}]})


def test_the_choices_are_the_parsed_languages_and_generic() -> None:
    assert set(languages.known()) == set(PARSERS) | {"generic"}
    assert all(alias in PARSERS for alias in languages.ALIASES.values())


@pytest.mark.parametrize(
    ("commands", "language"),
    [
        (["uv run pytest -q", "ruff check ."], "python"),
        ([".venv/bin/python -m mypy src"], "python"),
        (["python3 -m pip_audit -f json"], "python"),
        (["cargo clippy --message-format=json"], "rust"),
        (["cd crates/core && cargo build 2>&1"], "rust"),
        (["go vet -json ./...", "govulncheck -json ./..."], "go"),
        (["npm ci && npx eslint -f json ."], "javascript"),
        (["npm ci && npm run bundle"], "javascript"),
        (["npm ci && npx tsc --noEmit"], "typescript"),
        (["bundle exec rubocop --format json"], "ruby"),
        (["./gradlew build"], "java"),
        (["CC=clang gcc -Wall -c main.c"], "c"),
        (["timeout 600 pytest tests/go -k 'not cargo' | tee /tmp/cc"], "python"),
        (["ruff check . && echo 'good to go'"], "python"),
        (["cargo build && npm test"], "generic"),
        (["CC=gcc make", "echo done; exit 1"], "generic"),
        ([], "generic"),
    ],
    ids=[
        "uv-pytest-ruff",
        "venv-python-m-mypy",
        "python-m-pip-audit",
        "cargo",
        "cd-then-cargo",
        "go-vet-govulncheck",
        "npm-npx-eslint",
        "npm-run-script",
        "npx-tsc",
        "bundle-exec",
        "gradlew",
        "assignment-then-gcc",
        "arguments-do-not-count",
        "echo-words-do-not-count",
        "two-languages",
        "no-tool",
        "no-command",
    ],
)
def test_the_tools_a_recipe_names_give_its_language(
    commands: list[str], language: str
) -> None:
    assert languages.infer(commands) == language


def test_a_given_language_wins_over_the_commands() -> None:
    assert project(language="generic", lint="ruff check .").subprojects[0].language == (
        "generic"
    )
    assert project(lint="ruff check .").subprojects[0].language == "python"
    assert project(language=" Golang ", test="true").subprojects[0].language == "go"


def test_a_stored_project_keeps_a_language_this_version_does_not_know() -> None:
    body = {
        "name": "x",
        "git_url": "https://git.example/x.git",
        "subprojects": [{"path": ".", "language": "nix", "build": "nix build"}],
    }

    with pytest.raises(ValueError, match="'nix' is not a language"):
        ProjectIn.model_validate(body)
    assert ProjectIn.model_validate(body, context=STORED).subprojects[0].language == (
        "nix"
    )


def test_a_null_language_is_left_out() -> None:
    only = project(language=None, lint="ruff check .").subprojects[0]

    assert only.language == "python"


def test_the_project_languages_are_checked_like_a_subprojects() -> None:
    body = {
        "name": "x",
        "git_url": "https://git.example/x.git",
        "subprojects": [{"path": ".", "language": "python", "test": "true"}],
    }

    with pytest.raises(ValueError, match=r"'pyhton' is not a language.*subprojects"):
        ProjectIn.model_validate(body | {"languages": ["pyhton"]})
    assert ProjectIn.model_validate(body | {"languages": ["Golang"]}).languages == [
        "go"
    ]
    assert ProjectIn.model_validate(body).languages == ["python"]
    assert ProjectIn.model_validate(body | {"languages": None}).languages == ["python"]
    spelt_twice = ProjectIn.model_validate(body | {"languages": ["python", "py"]})
    assert spelt_twice.languages == ["python"]


def test_a_stored_alias_is_read_by_the_parsers_it_stands_for() -> None:
    assert parsers_for("golang", "lint") == parsers_for("go", "lint")
    assert parsers_for("Bash", "lint") == parsers_for("shell", "lint")
