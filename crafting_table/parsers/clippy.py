"""``cargo clippy --message-format=json`` (and ``cargo build``/``check``).

Cargo prints one JSON object per line; the diagnostics are those with
``reason == "compiler-message"``. A finding is made from the first primary
span of the message; messages without spans ("3 warnings emitted") are
summaries, not findings. rustc's own errors come through the same way.

Duplicates: ``--all-targets`` compiles a crate twice (as a library and as
its test harness) and both units print the same diagnostics, which are one
problem in the code. But a macro expanded twice in one unit legitimately
prints the same diagnostic twice. The two cases are told apart by the
``compiler-artifact`` message that closes each unit: a diagnostic is emitted
as many times as it was printed within one unit's stretch of the log, at
most, never the sum over units.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    Severity,
    ToolParser,
    as_int,
    as_str,
    first_line,
)

__all__ = ["ClippyParser"]

_SEVERITY: dict[str, Severity] = {
    "error": "error",
    "error: internal compiler error": "error",
    "warning": "warning",
}

UnitKey = tuple[str, str]
DiagnosticKey = bytes


class ClippyParser(ToolParser):
    """Findings from cargo's JSON message stream."""

    tool: ClassVar[str] = "clippy"
    wants_json: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # How often each diagnostic has been emitted so far, and how often
        # it was printed in the current stretch of each unit.
        self._emitted: dict[DiagnosticKey, int] = {}
        self._stretch: dict[UnitKey, dict[DiagnosticKey, int]] = {}

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not isinstance(value, dict):
            return ()
        reason = value.get("reason")
        if reason == "compiler-artifact":
            self._stretch.pop(_unit(value), None)
            return ()
        if reason != "compiler-message":
            return ()
        message = value.get("message")
        if not isinstance(message, dict):
            return ()
        finding = self._finding(value, message)
        if finding is None:
            return ()
        # A digest rather than the tuple itself: one entry is kept per
        # distinct diagnostic for the whole log, so it should be small.
        key = hashlib.blake2b(
            repr(
                (
                    finding.file,
                    finding.line,
                    finding.column,
                    finding.code,
                    finding.message,
                )
            ).encode("utf-8", "surrogatepass"),
            digest_size=16,
        ).digest()
        # TODO: when cargo checks two units of one target in parallel (the
        # library and its test harness under --all-targets with -j2 or
        # more), their identical diagnostics can interleave before either
        # unit's compiler-artifact line and both copies are emitted; cargo's
        # messages do not say which unit printed them.
        stretch = self._stretch.setdefault(_unit(value), {})
        stretch[key] = seen = stretch.get(key, 0) + 1
        if seen <= self._emitted.get(key, 0):
            return ()
        self._emitted[key] = seen
        return (finding,)

    def _finding(
        self, value: dict[str, Any], message: dict[str, Any]
    ) -> Finding | None:
        spans = message.get("spans")
        if not isinstance(spans, list):
            return None
        for primary in spans:
            if isinstance(primary, dict) and primary.get("is_primary"):
                break
        else:
            return None
        file, outside = self.place(as_str(primary.get("file_name")))
        code_field = message.get("code")
        code = as_str(code_field.get("code")) if isinstance(code_field, dict) else None
        level = str(message.get("level", ""))
        text = first_line(str(message.get("message", "")))
        # A flat record of plain values: the full message (children,
        # macro expansions, source text) can be ten times larger, and a
        # flat dict of strings and numbers costs the garbage collector
        # nothing while thousands of findings are held.
        target = value.get("target")
        raw = {
            "package_id": value.get("package_id"),
            "target": target.get("name") if isinstance(target, dict) else None,
            "level": level,
            "message": message.get("message"),
            "code": code,
            "file_name": primary.get("file_name"),
            "line_start": primary.get("line_start"),
            "line_end": primary.get("line_end"),
            "column_start": primary.get("column_start"),
            "column_end": primary.get("column_end"),
            "label": primary.get("label"),
            "rendered": message.get("rendered"),
        }
        return Finding(
            kind="lint",
            severity=_SEVERITY.get(level, "info"),
            message=text,
            file=file,
            line=as_int(primary.get("line_start")),
            column=as_int(primary.get("column_start")),
            code=code,
            outside=outside,
            tool=self.tool,
            raw=raw,
        )


def _unit(value: dict[str, Any]) -> UnitKey:
    target = value.get("target")
    name = ""
    if isinstance(target, dict):
        name = f"{target.get('kind')}:{target.get('name')}"
    return str(value.get("package_id", "")), name
