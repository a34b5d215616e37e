"""``cargo audit --json``: one document, vulnerabilities and warnings.

``vulnerabilities.list[]`` are errors. ``warnings`` maps a kind
(``unmaintained``, ``unsound``, ``yanked``, ``notice``) to entries that are
findings of severity warning; a yanked crate has no advisory, so its code
is ``yanked``. The fix is the smallest version a ``versions.patched``
requirement names above the installed one (``>=0.16.3`` gives
``bump to 0.16.3``); no patched version, no suggested fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, Severity, ToolParser, as_str
from crafting_table.parsers.versions import lower_bounds, smallest_above

__all__ = ["CargoAuditParser"]


class CargoAuditParser(ToolParser):
    """Advisories from a ``cargo audit --json`` report."""

    tool: ClassVar[str] = "cargo-audit"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not _is_report(value):
            return ()
        findings = []
        vulnerabilities = value.get("vulnerabilities")
        if isinstance(vulnerabilities, dict):
            for entry in _entries(vulnerabilities.get("list")):
                findings.append(self._finding(entry, "error", None))
        warnings = value.get("warnings")
        if isinstance(warnings, dict):
            for kind, entries in warnings.items():
                for entry in _entries(entries):
                    findings.append(self._finding(entry, "warning", str(kind)))
        return findings

    def _finding(
        self, entry: dict[str, Any], severity: Severity, informational: str | None
    ) -> Finding:
        advisory = entry.get("advisory")
        advisory = advisory if isinstance(advisory, dict) else {}
        package = entry.get("package")
        package = package if isinstance(package, dict) else {}
        name = as_str(package.get("name")) or "?"
        installed = as_str(package.get("version"))
        versions = entry.get("versions")
        patched = versions.get("patched") if isinstance(versions, dict) else None
        patched = [str(p) for p in patched] if isinstance(patched, list) else []
        fixed = smallest_above(lower_bounds(patched), installed)
        code = as_str(advisory.get("id")) or informational or as_str(entry.get("kind"))
        title = as_str(advisory.get("title")) or (informational or "advisory")
        return Finding(
            kind="cve",
            severity=severity,
            message=f"{name} {installed or ''}: {title}".replace("  ", " ")[:1000],
            file="Cargo.lock",
            code=code,
            suggested_fix=f"bump to {fixed}" if fixed else None,
            tool=self.tool,
            raw={
                "package": name,
                "installed_version": installed,
                "informational": informational,
                "aliases": advisory.get("aliases"),
                "cvss": advisory.get("cvss"),
                "patched": patched,
                "url": advisory.get("url"),
            },
        )


def _is_report(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("vulnerabilities"), dict)
        and ("lockfile" in value or "database" in value or "warnings" in value)
    )


def _entries(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]
