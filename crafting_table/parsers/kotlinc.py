"""kotlinc's errors and warnings, as Gradle and the command line print them.

Under Gradle the compiler prefixes each message with its severity (``e:``
error, ``w:`` warning) and has written the place three ways over the
years::

    e: file:///src/main/kotlin/App.kt:12:8 Unresolved reference: foo
    e: /src/main/kotlin/App.kt: (12, 8): Unresolved reference: foo
    e: /src/main/kotlin/App.kt: [12, 8]: Unresolved reference: foo

(Kotlin 1.8 onwards, then 1.4 to 1.7, then older); a place without a line
drops the numbers. The Kotlin DSL compiler of Gradle's own build scripts
writes ``e: /build.gradle.kts:32:5: Unresolved reference: compile``.
``kotlinc`` on the command line writes the GCC-like
``src/App.kt:12:8: error: unresolved reference: foo`` followed by the source
line and carets, which are passed over.

Each diagnostic is one ``lint`` finding without a code (kotlinc prints
none), reported once. Messages without a place
(``e: java.lang.OutOfMemoryError``) and ``i:``/``v:`` lines are not
findings. kotlin-maven-plugin's own format is not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from crafting_table.parsers.base import Finding, ParseContext, Severity, ToolParser

__all__ = ["KotlincParser"]

_SOURCE = r"\.kts?"
_FORMATS = (
    re.compile(
        r"^(?P<level>[ew]): (?P<file>file:\S+?" + _SOURCE + r")"
        r"(?::(?P<line>\d+):(?P<column>\d+))? (?P<message>.*)$"
    ),
    re.compile(
        r"^(?P<level>[ew]): (?P<file>\S.*?" + _SOURCE + r"): "
        r"[(\[](?P<line>\d+), (?P<column>\d+)[)\]]: (?P<message>.*)$"
    ),
    re.compile(
        r"^(?P<level>[ew]): (?P<file>\S.*?" + _SOURCE + r")"
        r":(?P<line>\d+):(?P<column>\d+):? (?P<message>.*)$"
    ),
    re.compile(
        r"^(?P<file>[^\s:][^:]*" + _SOURCE + r"):(?P<line>\d+):(?P<column>\d+): "
        r"(?P<level>error|warning): (?P<message>.*)$"
    ),
)
_SEVERITY: dict[str, Severity] = {
    "e": "error",
    "error": "error",
    "w": "warning",
    "warning": "warning",
}
# Enough for any real build; past it a repeated diagnostic may be reported twice.
_SEEN_LIMIT = 65536


class KotlincParser(ToolParser):
    """Errors and warnings from the Kotlin compiler."""

    tool: ClassVar[str] = "kotlinc"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"build", "lint", "test"})
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._seen: set[tuple[str, str | None, str | None, str, str]] = set()

    def feed_text(self, line: str) -> Iterable[Finding]:
        if ".kt" not in line:
            # Most lines of a build log; skips the four expressions.
            return ()
        match = next((m for f in _FORMATS if (m := f.match(line))), None)
        if match is None:
            return ()
        level = match["level"]
        key = (match["file"], match["line"], match["column"], level, match["message"])
        if key in self._seen:
            return ()
        if len(self._seen) < _SEEN_LIMIT:
            self._seen.add(key)
        file, outside = self.place(match["file"])
        return (
            Finding(
                kind="lint",
                severity=_SEVERITY[level],
                message=match["message"][:1000],
                file=file,
                line=_number(match["line"]),
                column=_number(match["column"]),
                outside=outside,
                tool=self.tool,
                raw={"text": line},
            ),
        )


def _number(digits: str | None) -> int | None:
    """A line or column as printed; kotlinc writes none, or 0, when unknown."""
    if not digits:
        return None
    return int(digits) or None
