"""The language of a subproject: which parsers read its jobs' logs.

A language is one of the names :data:`crafting_table.parsers.PARSERS`
knows, or ``generic``, which reads only the reports every language gets
(SARIF, JUnit, Checkstyle) and the exit code. A few common spellings are
taken for the name they stand for (``bash`` for ``shell``). A subproject
that names no language gets the one its recipe commands point to, when
they point to exactly one; see :func:`infer`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

GENERIC = "generic"

ALIASES: dict[str, str] = {
    "bash": "shell",
    "sh": "shell",
    "zsh": "shell",
    "golang": "go",
    "py": "python",
    "python3": "python",
    "rs": "rust",
    "ts": "typescript",
    "js": "javascript",
    "node": "javascript",
    "c++": "cpp",
    "cs": "csharp",
    "kt": "kotlin",
}
"""Other spellings of a language, each taken for the name it maps to."""

# The tools whose name in a recipe command gives the language away. Only
# tools a parser of that language reads, or their build drivers: a Python
# script run by a C project's Makefile must not make it a Python project.
_TOOLS: dict[str, str] = {
    **dict.fromkeys(("ruff", "mypy", "pytest", "pip-audit"), "python"),
    **dict.fromkeys(("cargo", "cargo-clippy", "clippy-driver"), "rust"),
    **dict.fromkeys(("go", "govulncheck", "golangci-lint"), "go"),
    "tsc": "typescript",
    **dict.fromkeys(("eslint", "npm", "npx", "pnpm", "yarn"), "javascript"),
    **dict.fromkeys(("shellcheck", "bats"), "shell"),
    **dict.fromkeys(("rubocop", "bundle", "bundler-audit"), "ruby"),
    **dict.fromkeys(("composer", "phpstan"), "php"),
    **dict.fromkeys(("gcc", "clang", "cc"), "c"),
    **dict.fromkeys(("g++", "clang++", "c++"), "cpp"),
    **dict.fromkeys(("javac", "mvn", "mvnw", "gradle", "gradlew"), "java"),
    "kotlinc": "kotlin",
    "dotnet": "csharp",
    **dict.fromkeys(("swift", "swiftc"), "swift"),
}

_WORD = re.compile(r"[^\s;&|()<>`\"'$=]+")


def known() -> list[str]:
    """Every language name a subproject may give, ``generic`` last."""
    from crafting_table.parsers import PARSERS

    return [*sorted(PARSERS), GENERIC]


def check(name: str, left_out: str = "the one the recipe commands point to") -> str:
    """``name`` as the language it stands for; ValueError naming the choices.

    ``left_out`` says what leaving the field out gives instead.
    """
    name = ALIASES.get(name, name)
    choices = known()
    if name not in choices:
        raise ValueError(
            f"{name!r} is not a language crafting-table reads; use one of "
            f"{', '.join(choices)} ('generic' reads only SARIF, JUnit and "
            f"Checkstyle reports and the exit code), or leave it out for {left_out}"
        )
    return name


def infer(commands: Iterable[str]) -> str:
    """The one language the tools named in ``commands`` point to, else generic.

    TypeScript and JavaScript share their parsers, so npm with tsc is
    TypeScript; any other mix (cargo and npm) is ambiguous and generic.
    """
    found: set[str] = set()
    for command in commands:
        for word in _WORD.findall(command):
            language = _TOOLS.get(word.rsplit("/", 1)[-1])
            if language:
                found.add(language)

    if found == {"javascript", "typescript"}:
        return "typescript"
    return found.pop() if len(found) == 1 else GENERIC
