"""Turn a finished job's log into findings: :func:`parse_job`.

::

    ctx = ParseContext(language="python", recipe="lint", exit_code=1,
                       subproject="clients/python", workdir=worktree / "clients/python",
                       log=lambda: open_log_lines(job))
    findings = parse_job(ctx)

Resolution. :data:`PARSERS` lists, per language, the tool parsers that may
read its jobs; each claims some recipes (or all) and then recognises its
own tool's output by content, so a lint recipe running ruff and mypy gets
both. SARIF (in the log or as ``*.sarif`` files in the report folder), JUnit
XML and Checkstyle XML (``*.xml`` in the report folder) are read for every
language. A language nobody knows gets only those. When the job failed and
nothing found explains it, :mod:`~crafting_table.parsers.generic` adds one
``recipe_fail``: see :func:`explains`.

Who reads what (JSON formats are unmistakable, so their parsers read every
recipe; text formats only the recipes that print them)::

    rust        clippy/cargo JSON, cargo audit (any); rustc text (build,
                lint); cargo test (test)
    python      pip-audit, ruff JSON, mypy JSON (any); ruff and mypy text
                (lint, build, test); pytest (test, build)
    go          govulncheck (any); go vet and compiler errors (lint, build,
                test); go test (test)
    typescript  eslint, npm audit (any); tsc (build, lint, test)
    javascript  the same as typescript
    shell       shellcheck, JSON and text (any)
    ruby        rubocop JSON, bundler-audit JSON (any)
    php         composer audit JSON (any)
    c, cpp      GCC and Clang diagnostics (build, lint, test)
    swift       swiftc diagnostics, GCC's format (build, lint, test)
    java        javac diagnostics as javac, Gradle and Maven print them, and
                kotlinc's (build, lint, test)
    kotlin      the same as java
    csharp      dotnet list package --vulnerable JSON (any); also as c#,
                fsharp, f# and dotnet

The log is read once, line by line, whatever its size; see
:mod:`~crafting_table.parsers.jsonstream`. No parser raises on a bad log: a
log that stops being readable half-way keeps what was read before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from crafting_table.languages import ALIASES
from crafting_table.parsers.base import Finding, ParseContext, ToolParser
from crafting_table.parsers.bundler_audit import BundlerAuditParser
from crafting_table.parsers.cargo_audit import CargoAuditParser
from crafting_table.parsers.cargo_test import CargoTestParser
from crafting_table.parsers.checkstyle import CheckstyleParser
from crafting_table.parsers.clippy import ClippyParser
from crafting_table.parsers.composer_audit import ComposerAuditParser
from crafting_table.parsers.dotnet_audit import DotnetAuditParser
from crafting_table.parsers.eslint import EslintParser
from crafting_table.parsers.gcc import GccParser
from crafting_table.parsers.generic import recipe_failure
from crafting_table.parsers.gotest import GoTestParser
from crafting_table.parsers.govet import GoVetParser
from crafting_table.parsers.govulncheck import GovulncheckParser
from crafting_table.parsers.javac import JavacParser
from crafting_table.parsers.jsonstream import Document, scan
from crafting_table.parsers.junit import JunitParser
from crafting_table.parsers.kotlinc import KotlincParser
from crafting_table.parsers.mypy import MypyJsonParser, MypyTextParser
from crafting_table.parsers.npm_audit import NpmAuditParser
from crafting_table.parsers.pip_audit import PipAuditParser
from crafting_table.parsers.pytest_log import PytestParser
from crafting_table.parsers.rubocop import RubocopParser
from crafting_table.parsers.ruff import RuffParser, RuffTextParser
from crafting_table.parsers.rustc import RustcParser
from crafting_table.parsers.sarif import SarifParser
from crafting_table.parsers.shellcheck import ShellcheckParser
from crafting_table.parsers.tsc import TscParser

__all__ = [
    "PARSERS",
    "UNIVERSAL",
    "Finding",
    "ParseContext",
    "iter_findings",
    "parse_job",
    "parsers_for",
]

logger = logging.getLogger(__name__)

_TYPESCRIPT: tuple[type[ToolParser], ...] = (EslintParser, TscParser, NpmAuditParser)
# A Gradle or Maven project may compile Java and Kotlin sources together.
_JVM: tuple[type[ToolParser], ...] = (JavacParser, KotlincParser)
# Every .NET language restores from NuGet and audits the same way.
_DOTNET: tuple[type[ToolParser], ...] = (DotnetAuditParser,)

PARSERS: dict[str, tuple[type[ToolParser], ...]] = {
    "rust": (ClippyParser, RustcParser, CargoTestParser, CargoAuditParser),
    "python": (
        PipAuditParser,
        RuffParser,
        RuffTextParser,
        MypyJsonParser,
        MypyTextParser,
        PytestParser,
    ),
    "go": (GovulncheckParser, GoVetParser, GoTestParser),
    "typescript": _TYPESCRIPT,
    "javascript": _TYPESCRIPT,
    "shell": (ShellcheckParser,),
    "ruby": (RubocopParser, BundlerAuditParser),
    "php": (ComposerAuditParser,),
    "c": (GccParser,),
    "cpp": (GccParser,),
    "swift": (GccParser,),
    "java": _JVM,
    "kotlin": _JVM,
    "csharp": _DOTNET,
    "c#": _DOTNET,
    "fsharp": _DOTNET,
    "f#": _DOTNET,
    "dotnet": _DOTNET,
}
"""Tool parsers per language, in the order their findings are listed."""

UNIVERSAL: tuple[type[ToolParser], ...] = (SarifParser, JunitParser, CheckstyleParser)
"""Parsers consulted for every language and recipe."""


def parsers_for(language: str, recipe: str) -> list[type[ToolParser]]:
    """The parser classes that read a job of this language and recipe.

    Another spelling of a language (``golang``, ``bash``) reads as the one it
    stands for: projects stored before such names were mapped keep them.
    """
    name = language.lower()
    claimed = [
        parser
        for parser in PARSERS.get(ALIASES.get(name, name), ())
        if parser.recipes is None or recipe in parser.recipes
    ]
    return [*claimed, *UNIVERSAL]


def test_names(finding: Finding) -> set[str]:
    """The names a failed test goes by, so that a report repeating the log
    can be recognised: the runner's own id (``tests/test_a.py::T::t``,
    ``pkg.TestX``) and its dotted form as JUnit writes it (``tests.test_a.T.t``).
    Empty for any other finding.
    """
    test_id = finding.raw.get("test_id") if finding.kind == "test_fail" else None
    if not isinstance(test_id, str) or not test_id:
        return set()
    path, _, rest = test_id.partition("::")
    dotted = path.removesuffix(".py").replace("/", ".")
    if rest:
        dotted = f"{dotted}.{rest.replace('::', '.')}"
    return {test_id, dotted}


# Recipes whose tools exit non-zero for findings of any severity: a linter
# failing on its warnings has said why.
_FAILS_ON_ANY_FINDING = frozenset({"lint", "audit"})


def explains(finding: Finding, recipe: str) -> bool:
    """Whether ``finding`` is a reason for the job of ``recipe`` to fail.

    An error, a failed test, a vulnerability or a recipe failure is; a
    warning is only in a lint or audit recipe. A build whose log holds
    compiler warnings and a linker error nobody parses has not been
    explained by the warnings.
    """
    if finding.kind in ("test_fail", "cve", "recipe_fail"):
        return True
    return finding.severity == "error" or recipe in _FAILS_ON_ANY_FINDING


def iter_findings(ctx: ParseContext) -> Iterator[Finding]:
    """Yield the job's findings as the log is read; see :func:`parse_job`.

    Memory does not grow with the log: a finding is yielded as soon as its
    parser has it (parsers that need the whole log, such as pytest's
    summary, hold only what they will report).
    """
    parsers = [parser(ctx) for parser in parsers_for(ctx.language, ctx.recipe)]
    json_readers = [p.feed_json for p in parsers if p.wants_json]
    text_readers = [p.feed_text for p in parsers if p.wants_text]
    explained = False
    named_tests: set[str] = set()
    unreadable = False
    try:
        for event in scan(ctx.log()):
            readers = json_readers if isinstance(event, Document) else text_readers
            value = event.value if isinstance(event, Document) else event
            for read in readers:
                for finding in read(value):
                    explained = explained or explains(finding, ctx.recipe)
                    named_tests.update(test_names(finding))
                    yield finding
    except (OSError, UnicodeDecodeError, ValueError) as error:
        # The log file vanished, holds bytes that are not UTF-8 (with a
        # strict decoder), or was closed under us: keep what was read.
        logger.warning("log of %s job unreadable: %s", ctx.recipe, error)
        unreadable = True
    # Reports that may repeat the log finish last, once every test the log
    # named is known.
    for parser in sorted(parsers, key=lambda parser: parser.repeats_log_tests):
        for finding in parser.finish():
            names = test_names(finding)
            if parser.repeats_log_tests and named_tests & names:
                continue
            named_tests.update(names)
            explained = explained or explains(finding, ctx.recipe)
            yield finding
    if not explained:
        fallback = recipe_failure(ctx, log_unreadable=unreadable)
        if fallback is not None:
            yield fallback


def parse_job(ctx: ParseContext) -> list[Finding]:
    """All findings of a finished job, in log order per parser.

    Pure: reads only ``ctx.log()`` and files in ``ctx.reports_dir``, never
    raises on their content, and returns an empty list for a job that
    succeeded without findings. A failed job always gets a finding that
    explains it (a ``recipe_fail`` when no other does; see :func:`explains`).
    """
    return list(iter_findings(ctx))
