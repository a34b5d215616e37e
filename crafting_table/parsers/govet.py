"""``go vet -json``: per package a ``# pkg`` line, then a JSON object.

The object maps the package path to analyzers, each to a list of
``{posn, message}`` with an absolute ``file:line:col`` position; a package
with nothing to say prints ``{}``. The analyzer is the code. go vet exits 0
in this mode even with findings, so they are warnings.

Packages that do not type-check never reach the analyzers; their compiler
errors (``vet: ./x.go:3:2: undefined: y`` or, under a ``# pkg`` line,
``./x.go:3:2: undefined: y``) are errors coded ``typecheck``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, ToolParser

__all__ = ["GoVetParser"]

_POSITION = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<column>\d+))?$")
_COMPILE_ERROR = re.compile(
    r"^(?:vet: )?(?P<file>[^\s:][^:]*\.go):(?P<line>\d+):(?:(?P<column>\d+):)?"
    r" (?P<message>.+)$"
)


class GoVetParser(ToolParser):
    """Analyzer reports (and type errors) from ``go vet``."""

    tool: ClassVar[str] = "go-vet"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"lint", "build", "test"})
    wants_json: ClassVar[bool] = True
    wants_text: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not isinstance(value, dict):
            return ()
        findings = []
        for package, analyzers in value.items():
            if not isinstance(analyzers, dict):
                return ()
            for analyzer, reports in analyzers.items():
                if not isinstance(reports, list):
                    return ()
                for report in reports:
                    if isinstance(report, dict) and "posn" in report:
                        findings.append(
                            self._finding(str(package), str(analyzer), report)
                        )
        return findings

    def _finding(self, package: str, analyzer: str, report: dict[str, Any]) -> Finding:
        position = _POSITION.match(str(report.get("posn", "")))
        path = line = column = None
        if position is not None:
            path = position["file"]
            line = int(position["line"]) or None
            column = int(position["column"]) if position["column"] else None
        file, outside = self.place(path)
        return Finding(
            kind="lint",
            severity="warning",
            message=str(report.get("message", ""))[:1000],
            file=file,
            line=line,
            column=column,
            code=analyzer,
            outside=outside,
            tool=self.tool,
            raw={"package": package, **report},
        )

    def feed_text(self, line: str) -> Iterable[Finding]:
        match = _COMPILE_ERROR.match(line)
        if match is None:
            return ()
        file, outside = self.place(match["file"])
        return (
            Finding(
                kind="lint",
                severity="error",
                message=match["message"][:1000],
                file=file,
                line=int(match["line"]) or None,
                column=int(match["column"]) if match["column"] else None,
                code="typecheck",
                outside=outside,
                tool=self.tool,
                raw={"text": line},
            ),
        )
