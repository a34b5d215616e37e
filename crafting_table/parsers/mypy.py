"""mypy, in both of its output forms.

``mypy -O json`` prints one object per line with ``file``, ``line``, a
0-based ``column``, ``severity`` and ``code``. The classic text form is
``file:line: error: message  [code]``, or ``file:line:col:`` with
``--show-column-numbers`` (1-based there). Notes explain the error before
them and are not findings of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, Severity, ToolParser, as_int, as_str

__all__ = ["MypyJsonParser", "MypyTextParser"]

_LINE = re.compile(
    r"^(?P<file>[^\s:][^:]*\.pyi?):(?P<line>\d+):(?:(?P<column>\d+):)?"
    r" (?P<severity>error|warning): (?P<message>.*?)(?:  \[(?P<code>[\w-]+)\])?$"
)


class MypyJsonParser(ToolParser):
    """Errors from ``mypy -O json``."""

    tool: ClassVar[str] = "mypy"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not (
            isinstance(value, dict)
            and "file" in value
            and "severity" in value
            and "message" in value
            and "line" in value
        ):
            return ()
        severity = value["severity"]
        if severity not in ("error", "warning"):
            return ()
        file, outside = self.place(as_str(value.get("file")))
        column = value.get("column")
        column = column + 1 if isinstance(column, int) and column >= 0 else None
        message = str(value["message"])
        hint = as_str(value.get("hint"))
        return (
            Finding(
                kind="lint",
                severity=severity,
                message=message[:1000],
                file=file,
                line=as_int(value.get("line")),
                column=column,
                code=as_str(value.get("code")),
                suggested_fix=hint,
                outside=outside,
                tool=self.tool,
                raw=value,
            ),
        )


class MypyTextParser(ToolParser):
    """Errors from mypy's classic text output."""

    tool: ClassVar[str] = "mypy"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"lint", "build", "test"})
    wants_text: ClassVar[bool] = True

    def feed_text(self, line: str) -> Iterable[Finding]:
        match = _LINE.match(line)
        if match is None:
            return ()
        file, outside = self.place(match["file"])
        severity: Severity = "error" if match["severity"] == "error" else "warning"
        return (
            Finding(
                kind="lint",
                severity=severity,
                message=match["message"][:1000],
                file=file,
                line=int(match["line"]) or None,
                column=int(match["column"]) if match["column"] else None,
                code=match["code"],
                outside=outside,
                tool=self.tool,
                raw={"text": line},
            ),
        )
