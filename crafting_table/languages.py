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
import shlex
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

# Words that run the command after them: the tool is further on.
_PASS_THROUGH = frozenset(
    {"sudo", "env", "time", "exec", "nice", "nohup", "command", "xargs", "timeout"}
)
# Runners whose "run" sub-command starts the tool named next.
_RUNNERS = frozenset({"uv", "poetry", "pipx", "pdm", "hatch", "rye"})
# Tools that count themselves and may start another (npx tsc, bundle exec
# rubocop), with the sub-commands that do.
_LAUNCHERS: dict[str, frozenset[str] | None] = {
    "npx": None,
    "yarn": None,
    "npm": frozenset({"exec", "x"}),
    "pnpm": frozenset({"exec", "dlx"}),
    "bundle": frozenset({"exec"}),
}
_PYTHON = re.compile(r"python(3(\.\d+)?)?")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = frozenset({";", "&", "&&", "|", "||", "|&", "(", ")", ";;"})


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
    """The one language the tools of ``commands`` point to, else generic.

    Only the word in command position of each simple command counts (after
    variable assignments, and through ``sudo``, ``uv run``, ``python -m``,
    ``npx`` and the like), never an argument: ``pytest tests/go`` is Python.
    TypeScript and JavaScript share their parsers, so npm with tsc is
    TypeScript; any other mix (cargo and npm) is ambiguous and generic.
    """
    found: set[str] = set()
    for command in commands:
        for simple in _simple_commands(command):
            found.update(_languages_of(simple))

    if found == {"javascript", "typescript"}:
        return "typescript"
    return found.pop() if len(found) == 1 else GENERIC


def _simple_commands(command: str) -> list[list[str]]:
    """The words of each simple command in ``command``, redirections left out."""
    out: list[list[str]] = []
    for line in command.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            # An unbalanced quote: the words as they stand.
            tokens = line.split()
        words: list[str] = []
        redirect = False
        for token in tokens:
            if token in _SEPARATORS:
                out.append(words)
                words, redirect = [], False
            elif set(token) <= set("<>&|;()"):
                redirect = True
            elif redirect:
                redirect = False
            else:
                words.append(token)
        out.append(words)
    return [words for words in out if words]


def _languages_of(words: list[str]) -> list[str]:
    """The languages of the tool a simple command runs, through its wrappers."""
    found: list[str] = []
    i = 0
    while i < len(words):
        name = words[i].rsplit("/", 1)[-1]
        following = words[i + 1] if i + 1 < len(words) else ""
        if _ASSIGNMENT.match(words[i]) or words[i].startswith("-"):
            i += 1
        elif name in _PASS_THROUGH:
            # timeout's duration is no command.
            i += 2 if name == "timeout" and not following.startswith("-") else 1
        elif name in _RUNNERS and following == "run":
            i += 2
        elif _PYTHON.fullmatch(name):
            module = words[words.index("-m", i) + 1] if "-m" in words[i:-1] else ""
            language = _TOOLS.get(module.replace("_", "-"))
            return [*found, language] if language else found
        elif name in _TOOLS:
            found.append(_TOOLS[name])
            starts = _LAUNCHERS.get(name, frozenset())
            if name in _LAUNCHERS and starts is None:
                i += 1
            elif starts and following in starts:
                i += 2
            else:
                return found
        else:
            return found
    return found
