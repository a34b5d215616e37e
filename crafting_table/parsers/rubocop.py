"""RuboCop's ``--format json`` report: one finding per offense.

The report, a public interface of RuboCop since its first releases, lists
``files`` with their ``path`` and ``offenses``; each offense has a
``cop_name`` (the code, ``Lint/UselessAssignment``), a ``severity``
(``info``, ``refactor``, ``convention``, ``warning``, ``error``,
``fatal``), a ``message`` and a ``location`` whose ``start_line`` and
``start_column`` (older releases: ``line`` and ``column``) place it.
``correctable`` offenses suggest ``rubocop -a``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, Severity, ToolParser, as_int, as_str

__all__ = ["RubocopParser"]

_SEVERITY: dict[str, Severity] = {
    "fatal": "error",
    "error": "error",
    "warning": "warning",
    "convention": "info",
    "refactor": "info",
    "info": "info",
}


def _is_report(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("files"), list)
        and isinstance(value.get("metadata"), dict)
        and "rubocop_version" in value["metadata"]
    )


class RubocopParser(ToolParser):
    """Offenses from a RuboCop JSON report."""

    tool: ClassVar[str] = "rubocop"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not _is_report(value):
            return ()
        return [
            self._finding(entry["path"], offense)
            for entry in value["files"]
            if isinstance(entry, dict) and as_str(entry.get("path"))
            for offense in entry.get("offenses") or ()
            if isinstance(offense, dict) and as_str(offense.get("cop_name"))
        ]

    def _finding(self, path: str, offense: dict[str, Any]) -> Finding:
        location = offense.get("location")
        location = location if isinstance(location, dict) else {}
        line = as_int(location.get("start_line")) or as_int(location.get("line"))
        column = as_int(location.get("start_column")) or as_int(location.get("column"))
        file, outside = self.place(path)
        return Finding(
            kind="lint",
            severity=_SEVERITY.get(str(offense.get("severity")), "warning"),
            message=str(offense.get("message", ""))[:1000],
            file=file,
            line=line,
            column=column,
            code=offense["cop_name"],
            suggested_fix="rubocop -a" if offense.get("correctable") else None,
            outside=outside,
            tool=self.tool,
            raw=offense,
        )
