"""``composer audit --format=json``: one finding per advisory and package.

The report maps each package name under ``advisories`` to its advisories
(a list, or an object keyed by position when Composer filtered some out;
an empty report has ``"advisories": []``). Each advisory carries its
``advisoryId`` (``PKSA-...``), ``packageName``, ``affectedVersions`` (a
constraint such as ``>=5.0.0,<5.4.46|>=6.0.0,<6.4.14``), ``title``, ``cve``
(null when none was assigned), ``link``, ``reportedAt``, ``sources`` and,
since Composer 2.6, ``severity``. Composer 2.7 adds ``abandoned``, packages
no longer maintained, which are not vulnerabilities and are skipped.

The code is the CVE id, else the advisory id; the place is
``composer.lock``. Composer names the affected versions but not the fixed
ones, so there is no suggested fix: the message shows the affected range.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    ToolParser,
    advisory_severity,
    as_str,
)

__all__ = ["ComposerAuditParser"]


def _is_report(value: Any) -> bool:
    if not isinstance(value, dict) or "advisories" not in value:
        return False
    advisories = value["advisories"]
    # Nothing else prints a bare {"advisories": ...}: npm's old report has
    # "metadata" beside it, and its advisories are keyed by number.
    return "metadata" not in value and (
        advisories == [] or isinstance(advisories, dict)
    )


def _advisories(entries: Any) -> Iterator[dict[str, Any]]:
    items = entries.values() if isinstance(entries, dict) else entries
    if isinstance(items, Iterable):
        yield from (item for item in items if isinstance(item, dict))


class ComposerAuditParser(ToolParser):
    """Advisories from a Composer audit JSON report."""

    tool: ClassVar[str] = "composer-audit"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not _is_report(value) or not isinstance(value["advisories"], dict):
            return ()
        return [
            self._finding(str(package), advisory)
            for package, entries in value["advisories"].items()
            for advisory in _advisories(entries)
        ]

    def _finding(self, package: str, advisory: dict[str, Any]) -> Finding:
        affected = as_str(advisory.get("affectedVersions")) or "?"
        title = advisory.get("title", "")
        return Finding(
            kind="cve",
            severity=advisory_severity(advisory.get("severity")),
            message=f"{package} {affected}: {title}"[:1000],
            file="composer.lock",
            code=as_str(advisory.get("cve")) or as_str(advisory.get("advisoryId")),
            tool=self.tool,
            raw=advisory,
        )
