"""What every parser takes and returns.

A parser is a pure function from a finished job's log to findings: it never
touches the ledger, the network or the clock. It may read the job's report
folder (``ParseContext.reports_dir``), which the recipe wrote and the Parser
actor hands in before the worktree is removed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal

from crafting_table.parsers.paths import relative_to_workdir

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
    # The job was stopped at its deadline: its exit code is the signal's.
    timed_out: bool = False


RECIPES: tuple[str, ...] = ("build", "test", "lint", "audit")
"""The recipe kinds a subproject may define."""

# Paths normalised per parser: logs name a few files many times, and a log
# naming millions of distinct paths must not grow the cache without bound.
_PLACE_CACHE = 4096


class ToolParser:
    """Reads one tool's output out of a log; subclassed once per format.

    :func:`crafting_table.parsers.parse_job` makes one instance per job and
    feeds it, in log order, every JSON value (:meth:`feed_json`, when
    ``wants_json``) and every cleaned text line (:meth:`feed_text`, when
    ``wants_text``), then calls :meth:`finish` once. Each returns the
    findings it can already give; a parser keeps state between calls only
    as far as its format needs (a test section, an open diagnostic).

    A parser recognises its tool by content: a value or line that is not
    its tool's output is ignored, so several parsers can share one log.
    ``recipes`` names the recipes for which it is consulted at all (None:
    every recipe). None of the methods may raise on any input.
    """

    tool: ClassVar[str] = "unknown"
    recipes: ClassVar[frozenset[str] | None] = None
    repeats_log_tests: ClassVar[bool] = False
    """True for a report that may repeat what the test runner printed: its
    ``test_fail`` findings for tests the log already named are dropped."""
    wants_json: ClassVar[bool] = False
    wants_text: ClassVar[bool] = False

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self._workdir = str(ctx.workdir)
        # Logs name the same few files over and over; normalising each path
        # once is a measurable part of reading a large log.
        self._place_cache: dict[str, tuple[str | None, bool]] = {}

    def feed_json(self, value: Any) -> Iterable[Finding]:
        """Findings from one JSON value (a document or an array element)."""
        return ()

    def feed_text(self, line: str) -> Iterable[Finding]:
        """Findings completed by one text line."""
        return ()

    def finish(self) -> Iterable[Finding]:
        """Findings still held when the log ends (or could not be read)."""
        return ()

    def place(self, path: str | None) -> tuple[str | None, bool]:
        """``(file, outside)`` for a path the tool printed; see ``paths``."""
        if not path:
            return None, False
        known = self._place_cache.get(path)
        if known is None:
            known = relative_to_workdir(path, self._workdir)
            if len(self._place_cache) < _PLACE_CACHE:
                self._place_cache[path] = known
        return known


# The levels vulnerability databases give (CVSS bands, GitHub's and npm's
# words), lower-cased; an unknown or missing level is a warning.
_ADVISORY_SEVERITY: dict[str, Severity] = {
    "critical": "error",
    "high": "error",
    "moderate": "warning",
    "medium": "warning",
    "low": "info",
    "info": "info",
    "none": "info",
}


def advisory_severity(level: object) -> Severity:
    """The severity of an advisory whose database rates it ``level``.

    A missing level (None) is unknown, not CVSS's "none": a warning.
    """
    if not isinstance(level, str):
        return "warning"
    return _ADVISORY_SEVERITY.get(level.lower(), "warning")


def as_int(value: object) -> int | None:
    """``value`` if it is a positive int (a line or column), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def as_str(value: object) -> str | None:
    """``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def first_line(text: str, limit: int = 1000) -> str:
    """The first line of a message, cut to ``limit`` characters."""
    return text.strip().split("\n", 1)[0][:limit]


def report_files(folder: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Regular files under ``folder`` whose names end in ``suffixes``, in order.

    The recipe wrote the folder: a symlink in it (to the ledger, say) is
    neither followed into a folder nor read as a file. Never raises.
    """
    found = []
    for top, folders, files in os.walk(folder, followlinks=False):
        folders.sort()
        for name in files:
            path = Path(top) / name
            if name.lower().endswith(suffixes) and not path.is_symlink():
                found.append(path)
    yield from sorted(found)


def open_report(path: Path) -> BinaryIO:
    """Open a report file for reading, refusing a symlink put there meanwhile.

    Raises OSError for a symlink (``O_NOFOLLOW``) or anything but a regular
    file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")
