"""ShellCheck: ``-f json``, ``-f json1`` and the default terminal format.

``-f json`` prints an array of comments (``file``, ``line``, ``column``,
``level``, numeric ``code``); ``-f json1`` wraps the same in
``{"comments": [...]}``. The terminal format groups comments under
``In FILE line N:``, echoes the source line (which may end in a raw CR when
the script has DOS line ends) and points at the column with
``^-- SC2034 (warning): message``. Codes are ``SC`` + number; the level
``style`` has no equivalent among our severities and becomes ``info``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    ParseContext,
    Severity,
    ToolParser,
    as_int,
    as_str,
)

__all__ = ["ShellcheckParser"]

_SEVERITY: dict[str, Severity] = {
    "error": "error",
    "warning": "warning",
    "info": "info",
    "style": "info",
}
_IN_FILE = re.compile(r"^In (?P<file>.+) line (?P<line>\d+):$")
_POINTER = re.compile(
    r"^(?P<pad> *)\^[-^]*\s+SC(?P<code>\d+) \((?P<level>error|warning|info|style)\): "
    r"(?P<message>.*)$"
)
# gcc format (-f gcc): file:line:col: level: message [SCnnnn]
_GCC = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<column>\d+): "
    r"(?P<level>error|warning|note|style|info): (?P<message>.*) \[SC(?P<code>\d+)\]$"
)


class ShellcheckParser(ToolParser):
    """Comments from ShellCheck in any of its common formats."""

    tool: ClassVar[str] = "shellcheck"
    wants_json: ClassVar[bool] = True
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._where: tuple[str, int] | None = None

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if isinstance(value, dict) and isinstance(value.get("comments"), list):
            return [f for c in value["comments"] for f in self._comment(c)]
        return self._comment(value)

    def _comment(self, value: Any) -> list[Finding]:
        if not (
            isinstance(value, dict)
            and isinstance(value.get("code"), int)
            and "level" in value
            and "file" in value
            and "line" in value
        ):
            return []
        file, outside = self.place(as_str(value.get("file")))
        return [
            self._make(
                file,
                outside,
                as_int(value.get("line")),
                as_int(value.get("column")),
                str(value.get("level")),
                value["code"],
                str(value.get("message", "")),
                raw=value,
            )
        ]

    def feed_text(self, line: str) -> Iterable[Finding]:
        if (header := _IN_FILE.match(line)) is not None:
            self._where = (header["file"], int(header["line"]))
            return ()
        if self._where is not None and (pointer := _POINTER.match(line)) is not None:
            file, outside = self.place(self._where[0])
            return (
                self._make(
                    file,
                    outside,
                    self._where[1] or None,
                    len(pointer["pad"]) + 1,
                    pointer["level"],
                    int(pointer["code"]),
                    pointer["message"],
                    raw={"text": line},
                ),
            )
        if (gcc := _GCC.match(line)) is not None:
            file, outside = self.place(gcc["file"])
            level = "info" if gcc["level"] == "note" else gcc["level"]
            return (
                self._make(
                    file,
                    outside,
                    int(gcc["line"]) or None,
                    int(gcc["column"]) or None,
                    level,
                    int(gcc["code"]),
                    gcc["message"],
                    raw={"text": line},
                ),
            )
        return ()

    def _make(
        self,
        file: str | None,
        outside: bool,
        line: int | None,
        column: int | None,
        level: str,
        code: int,
        message: str,
        *,
        raw: dict[str, Any],
    ) -> Finding:
        return Finding(
            kind="lint",
            severity=_SEVERITY.get(level, "warning"),
            message=message[:1000],
            file=file,
            line=line,
            column=column,
            code=f"SC{code}",
            outside=outside,
            tool=self.tool,
            raw={**raw, "level": level},
        )
