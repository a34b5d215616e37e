"""ruff check, as JSON and in its two text formats.

``--output-format=json`` prints a pretty-printed array; each element has
``code``, ``message``, ``filename`` (absolute) and a 1-based ``location``. A
syntax error has no code (``invalid-syntax`` in newer versions).

Without ``--output-format`` (the way recipes are usually written) ruff
prints the ``full`` text format, a header ``F401 [*] message`` (or
``invalid-syntax: message``) followed by a `` --> file:line:col`` pointer,
a code frame and a ``help:`` line with the fix it suggests; ``concise``
puts it on one line, ``file:line:col: F401 [*] message``.

Every diagnostic is an error, whatever the format: that is what ruff itself
says in its JSON (``severity``, in newer versions) and SARIF output, and
any diagnostic fails its run. A recipe that switches formats keeps its
findings' severities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    ParseContext,
    Severity,
    ToolParser,
    as_int,
    as_str,
)

__all__ = ["RuffParser", "RuffTextParser"]

# A rule code (F401, with [*] when ruff can fix it) or a syntax error.
_DIAGNOSTIC = (
    r"(?:(?P<code>[A-Z]{1,5}[0-9]{1,5}) (?:\[\*\] )?|(?P<syntax>invalid-syntax): )"
    r"(?P<message>.+)"
)
_CONCISE = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<column>\d+): " + _DIAGNOSTIC + "$"
)
_HEADER = re.compile("^" + _DIAGNOSTIC + "$")
_POINTER = re.compile(r"^\s*--> (?P<file>.+?):(?P<line>\d+):(?P<column>\d+)$")
_HELP = re.compile(r"^help: (?P<fix>.+)$")


class RuffParser(ToolParser):
    """Diagnostics from ruff's JSON output."""

    tool: ClassVar[str] = "ruff"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not (
            isinstance(value, dict)
            and "filename" in value
            and isinstance(value.get("location"), dict)
            and "message" in value
        ):
            return ()
        code = as_str(value.get("code"))
        file, outside = self.place(as_str(value.get("filename")))
        location = value["location"]
        fix = value.get("fix")
        suggestion = fix.get("message") if isinstance(fix, dict) else None
        severity: Severity = "error"
        if value.get("severity") in ("error", "warning", "info"):
            severity = value["severity"]
        return (
            Finding(
                kind="lint",
                severity=severity,
                message=str(value.get("message"))[:1000],
                file=file,
                line=as_int(location.get("row")),
                column=as_int(location.get("column")),
                code=code,
                suggested_fix=as_str(suggestion),
                outside=outside,
                tool=self.tool,
                raw=_flat(value, location),
            ),
        )


def _flat(value: dict[str, Any], location: dict[str, Any]) -> dict[str, Any]:
    # The element without its nested fix edits, flattened to plain values:
    # cheaper to hold by the hundred thousand, and all a reader needs.
    end = value.get("end_location")
    end = end if isinstance(end, dict) else {}
    return {
        "code": value.get("code"),
        "name": value.get("name"),
        "message": value.get("message"),
        "filename": value.get("filename"),
        "row": location.get("row"),
        "column": location.get("column"),
        "end_row": end.get("row"),
        "end_column": end.get("column"),
        "noqa_row": value.get("noqa_row"),
        "url": value.get("url"),
    }


class RuffTextParser(ToolParser):
    """Diagnostics from ruff's ``full`` and ``concise`` text output."""

    tool: ClassVar[str] = "ruff"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"lint", "build", "test"})
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._header: tuple[str, str] | None = None
        # A full-format finding waits for its frame's help: line (the fix).
        self._held: Finding | None = None

    def feed_text(self, line: str) -> Iterable[Finding]:
        header, self._header = self._header, None
        if header is not None and (pointer := _POINTER.match(line)) is not None:
            done = self.finish()
            self._held = self._make(
                pointer["file"], pointer["line"], pointer["column"], *header
            )
            return done
        if self._held is not None and (help_line := _HELP.match(line)):
            self._held = replace(self._held, suggested_fix=help_line["fix"][:1000])
            return self.finish()
        if (concise := _CONCISE.match(line)) is not None:
            return (
                *self.finish(),
                self._make(
                    concise["file"],
                    concise["line"],
                    concise["column"],
                    *_code_and_message(concise),
                ),
            )
        if (match := _HEADER.match(line)) is not None:
            self._header = _code_and_message(match)
            return self.finish()
        return ()

    def finish(self) -> Iterable[Finding]:
        held, self._held = self._held, None
        return () if held is None else (held,)

    def _make(
        self, path: str, line: str, column: str, code: str, message: str
    ) -> Finding:
        file, outside = self.place(path)
        return Finding(
            kind="lint",
            severity="error",
            message=message[:1000],
            file=file,
            line=int(line) or None,
            column=int(column) or None,
            code=code,
            outside=outside,
            tool=self.tool,
            raw={"text": f"{code} {message}"},
        )


def _code_and_message(match: re.Match[str]) -> tuple[str, str]:
    return match["code"] or match["syntax"], match["message"]
