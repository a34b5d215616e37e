"""GCC and Clang diagnostics, which share one text format.

Both compilers (and swiftc, which follows Clang) print one header line per
diagnostic, then the source line and a caret, which are passed over::

    /src/calc.c:4:9: warning: unused variable 'unused' [-Wunused-variable]
    /src/shapes.cpp:10:12: error: 'undefined_name' was not declared in this scope
    /src/defs.h:3: warning: "MAX" redefined

The column may be missing. The bracketed option that enabled a warning is
its code, with the ``-Werror`` that promoted it taken off: GCC writes
``[-Werror=unused-variable]`` and Clang ``[-Werror,-Wunused-variable]``,
both ``-Wunused-variable`` here. An error without an option has no code.
``note:`` lines explain the diagnostic before them and are not findings;
``fatal error:`` is an error. A header included by several files repeats
its warnings once per file: each is reported once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from crafting_table.parsers.base import Finding, ParseContext, Severity, ToolParser

__all__ = ["GccParser", "option_code"]

_HEADER = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<column>\d+):)? "
    r"(?P<level>warning|error|fatal error): (?P<message>.*?)"
    r"(?: \[(?P<option>-W[^\]]*)\])?$"
)
_SEVERITY: dict[str, Severity] = {
    "warning": "warning",
    "error": "error",
    "fatal error": "error",
}
# Enough for any real build; past it a repeated warning may be reported twice.
_SEEN_LIMIT = 65536


def option_code(option: str | None) -> str | None:
    """The warning option named in brackets, without ``-Werror``."""
    if not option:
        return None
    last = option.split(",")[-1]
    if last.startswith("-Werror="):
        return "-W" + last.removeprefix("-Werror=")
    return None if last == "-Werror" else last


class GccParser(ToolParser):
    """Warnings and errors from GCC, Clang and compilers that print alike."""

    tool: ClassVar[str] = "gcc"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"build", "lint", "test"})
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._seen: set[tuple[str, str, str | None, str, str | None]] = set()

    def feed_text(self, line: str) -> Iterable[Finding]:
        match = _HEADER.match(line)
        if match is None:
            return ()
        code = option_code(match["option"])
        key = (match["file"], match["line"], match["column"], match["message"], code)
        if key in self._seen:
            return ()
        if len(self._seen) < _SEEN_LIMIT:
            self._seen.add(key)
        file, outside = self.place(match["file"])
        return (
            Finding(
                kind="lint",
                severity=_SEVERITY[match["level"]],
                message=match["message"][:1000],
                file=file,
                line=int(match["line"]) or None,
                column=int(match["column"]) if match["column"] else None,
                code=code,
                outside=outside,
                tool=self.tool,
                raw={"text": line},
            ),
        )
