"""``tsc`` diagnostics, plain and ``--pretty``.

Plain (not a terminal): ``src/a.ts(4,42): error TS2307: message``, with a
message chain continued on indented lines. Pretty (a terminal, or
``--pretty``): ``src/a.ts:4:42 - error TS2307: message`` in colour, followed
by the chain and a code frame, and a closing "Found N errors" summary. One
finding per header line; continuation lines only lengthen its raw text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from crafting_table.parsers.base import Finding, Severity, ToolParser

__all__ = ["TscParser"]

_PLAIN = re.compile(
    r"^(?P<file>[^\s(][^(]*)\((?P<line>\d+),(?P<column>\d+)\): "
    r"(?P<severity>error|warning|message) (?P<code>TS\d+): (?P<message>.*)$"
)
_PRETTY = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<column>\d+) - "
    r"(?P<severity>error|warning|message) (?P<code>TS\d+): (?P<message>.*)$"
)
_SEVERITY: dict[str, Severity] = {"error": "error", "warning": "warning"}
# A header without a place: errors about the configuration or options.
_GLOBAL = re.compile(r"^(?P<severity>error|warning) (?P<code>TS\d+): (?P<message>.*)$")


class TscParser(ToolParser):
    """Type errors from the TypeScript compiler."""

    tool: ClassVar[str] = "tsc"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"build", "lint", "test"})
    wants_text: ClassVar[bool] = True

    def feed_text(self, line: str) -> Iterable[Finding]:
        match = _PLAIN.match(line) or _PRETTY.match(line)
        path = None
        if match is not None:
            path = match["file"]
        else:
            match = _GLOBAL.match(line)
            if match is None:
                return ()
        file, outside = self.place(path)
        severity = _SEVERITY.get(match["severity"], "info")
        groups = match.groupdict()
        return (
            Finding(
                kind="lint",
                severity=severity,
                message=match["message"][:1000],
                file=file,
                line=int(groups["line"]) if groups.get("line") else None,
                column=int(groups["column"]) if groups.get("column") else None,
                code=match["code"],
                outside=outside,
                tool=self.tool,
                raw={"text": line},
            ),
        )
