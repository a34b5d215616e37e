"""``ruff check --output-format=json``: a (pretty-printed) array of diagnostics.

Each element has ``code``, ``message``, ``filename`` (absolute) and a
1-based ``location``. A syntax error has no code. Newer ruff versions say
``severity``; older ones do not, and their diagnostics are warnings, syntax
errors errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, Severity, ToolParser, as_int, as_str

__all__ = ["RuffParser"]


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
        severity: Severity = "warning" if code else "error"
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
                raw=value,
            ),
        )
