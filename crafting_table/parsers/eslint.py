"""``eslint -f json``: an array of per-file results.

Each result has an absolute ``filePath`` and ``messages``; each message is
a finding with the rule as code, severity 1 a warning and 2 an error. A
file that does not parse gives one message with ``fatal: true`` and no
rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, Severity, ToolParser, as_int, as_str

__all__ = ["EslintParser"]


class EslintParser(ToolParser):
    """Problems from eslint's JSON formatter."""

    tool: ClassVar[str] = "eslint"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not (
            isinstance(value, dict)
            and isinstance(value.get("filePath"), str)
            and isinstance(value.get("messages"), list)
        ):
            return ()
        file, outside = self.place(value["filePath"])
        findings = []
        for message in value["messages"]:
            if not isinstance(message, dict):
                continue
            severity: Severity = "error" if message.get("severity") == 2 else "warning"
            fix = message.get("suggestions")
            findings.append(
                Finding(
                    kind="lint",
                    severity=severity,
                    message=str(message.get("message", ""))[:1000],
                    file=file,
                    line=as_int(message.get("line")),
                    column=as_int(message.get("column")),
                    code=as_str(message.get("ruleId")),
                    suggested_fix=_suggestion(fix),
                    outside=outside,
                    tool=self.tool,
                    raw=message,
                )
            )
        return findings


def _suggestion(suggestions: Any) -> str | None:
    if (
        isinstance(suggestions, list)
        and suggestions
        and isinstance(suggestions[0], dict)
    ):
        return as_str(suggestions[0].get("desc"))
    return None
