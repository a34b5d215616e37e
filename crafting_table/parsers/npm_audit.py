"""``npm audit --json`` (report version 2): one finding per vulnerable package.

``vulnerabilities`` maps each package to its severity, the advisories that
hit it directly (objects in ``via``) or the packages it is vulnerable
through (names in ``via``), and ``fixAvailable``: ``true`` (``npm audit
fix`` will do), ``false``, or the package to bump (``{name, version,
isSemVerMajor}``). The code is the advisory's GHSA id, the ids joined by
commas when several advisories hit one package, and None when the package
is only vulnerable through others.

npm's severities map onto ours: critical and high are errors, moderate a
warning, low and info are info.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    ToolParser,
    advisory_severity,
    as_str,
)

__all__ = ["NpmAuditParser"]

_GHSA = re.compile(r"GHSA(?:-[0-9a-z]{4}){3}")


class NpmAuditParser(ToolParser):
    """Vulnerable packages from an npm audit report."""

    tool: ClassVar[str] = "npm-audit"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not (
            isinstance(value, dict)
            and value.get("auditReportVersion") == 2
            and isinstance(value.get("vulnerabilities"), dict)
        ):
            return ()
        return [
            self._finding(str(name), entry)
            for name, entry in value["vulnerabilities"].items()
            if isinstance(entry, dict)
        ]

    def _finding(self, name: str, entry: dict[str, Any]) -> Finding:
        via = entry.get("via")
        via = via if isinstance(via, list) else []
        advisories = [item for item in via if isinstance(item, dict)]
        through = [item for item in via if isinstance(item, str)]
        ids = sorted({i for i in map(_advisory_id, advisories) if i is not None})
        level = str(entry.get("severity", ""))
        if advisories:
            titles = "; ".join(sorted({str(a.get("title", "")) for a in advisories}))
            what = titles
        else:
            what = f"vulnerable through {', '.join(through) or 'dependencies'}"
        return Finding(
            kind="cve",
            severity=advisory_severity(level),
            message=f"{name} {entry.get('range', '')}: {what}"[:1000],
            file="package-lock.json",
            code=",".join(ids) or None,
            suggested_fix=_fix(entry.get("fixAvailable")),
            tool=self.tool,
            raw={
                "package": name,
                "npm_severity": level,
                "is_direct": entry.get("isDirect"),
                "range": entry.get("range"),
                "via": through,
                "advisories": advisories,
            },
        )


def _advisory_id(advisory: dict[str, Any]) -> str | None:
    match = _GHSA.search(str(advisory.get("url", "")))
    if match is not None:
        return match.group(0)
    source = advisory.get("source")
    return f"npm-{source}" if source is not None else None


def _fix(available: Any) -> str | None:
    if available is True:
        return "npm audit fix"
    if isinstance(available, dict) and as_str(available.get("name")):
        text = f"bump {available['name']} to {available.get('version')}"
        if available.get("isSemVerMajor"):
            text += " (semver-major)"
        return text
    return None
