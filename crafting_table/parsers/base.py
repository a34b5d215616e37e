"""What every parser takes and returns.

A parser is a pure function from a finished job's log to findings: it never
touches the ledger, the network or the clock. It may read the job's report
folder (``ParseContext.reports_dir``), which the recipe wrote and the Parser
actor hands in before the worktree is removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["lint", "cve", "test_fail", "recipe_fail"]
Severity = Literal["error", "warning", "info"]

KINDS: tuple[Kind, ...] = ("lint", "cve", "test_fail", "recipe_fail")
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Finding:
    """One structured finding, before it has a ledger id.

    ``file`` is relative to the subproject when the tool pointed inside it;
    a path outside is kept as the tool gave it and ``outside`` is set.
    ``raw`` is the tool's own record (or the lines it came from) and is
    stored as ``raw_json``.
    """

    kind: Kind
    severity: Severity | None
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    code: str | None = None
    suggested_fix: str | None = None
    outside: bool = False
    tool: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """16 hex chars over ``kind|file|line|code``: stable across wording."""
        return fingerprint(self.kind, self.file, self.line, self.code)


def fingerprint(kind: str, file: str | None, line: int | None, code: str | None) -> str:
    """The reference fingerprint: a hash over kind, file, line and code."""
    text = f"{kind}|{file or ''}|{line if line is not None else ''}|{code or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


LogSource = Callable[[], Iterator[str]]
"""Opens the log afresh on each call and yields its lines (with their ends)."""


@dataclass(frozen=True, slots=True)
class ParseContext:
    """Everything a parser may look at.

    ``workdir`` is the absolute folder the recipe ran in (the worktree plus
    the subproject path); tools print absolute paths into it, which parsers
    make relative. ``log`` can be opened several times, so a log of any size
    is streamed rather than loaded.
    """

    language: str
    recipe: str
    exit_code: int | None
    subproject: str
    workdir: Path
    log: LogSource
    reports_dir: Path | None = None
