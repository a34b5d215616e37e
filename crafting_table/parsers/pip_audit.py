"""``pip-audit -f json``: one document listing every dependency.

Each ``dependencies[].vulns[]`` entry is a finding coded by its id
(``PYSEC-...``, ``GHSA-...``). pip-audit gives neither a severity nor the
manifest it read, so severity is None and the file is the nominal
``requirements.txt``. The fix is the smallest ``fix_versions`` entry above
the installed version.

A report in which every dependency was skipped ("could not be audited")
means the vulnerability feed was not reached; pip-audit still exits 0, so
that becomes one ``recipe_fail`` coded ``not_audited``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, ToolParser, as_str, first_line
from crafting_table.parsers.versions import smallest_above

__all__ = ["PipAuditParser"]


class PipAuditParser(ToolParser):
    """Vulnerabilities from a pip-audit JSON report."""

    tool: ClassVar[str] = "pip-audit"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not isinstance(value, dict) or not isinstance(
            value.get("dependencies"), list
        ):
            return ()
        findings = []
        dependencies = [d for d in value["dependencies"] if isinstance(d, dict)]
        skipped = [d for d in dependencies if as_str(d.get("skip_reason"))]
        if dependencies and len(skipped) == len(dependencies):
            return (self._not_audited(skipped),)
        for dependency in value["dependencies"]:
            if not isinstance(dependency, dict) or not isinstance(
                dependency.get("vulns"), list
            ):
                continue
            for vuln in dependency["vulns"]:
                if isinstance(vuln, dict) and as_str(vuln.get("id")):
                    findings.append(self._finding(dependency, vuln))
        return findings

    def _not_audited(self, skipped: list[dict[str, Any]]) -> Finding:
        # pip-audit exits 0 when its vulnerability feed answers nothing for
        # every dependency (feed unreachable, private index): that is no
        # audit at all, not a clean one.
        reason = first_line(str(skipped[0]["skip_reason"]), 300)
        return Finding(
            kind="recipe_fail",
            severity="error",
            message=f"no dependency was audited ({len(skipped)} skipped): {reason}",
            file="requirements.txt",
            code="not_audited",
            tool=self.tool,
            raw={"skipped": [d.get("name") for d in skipped]},
        )

    def _finding(self, dependency: dict[str, Any], vuln: dict[str, Any]) -> Finding:
        name = as_str(dependency.get("name")) or "?"
        installed = as_str(dependency.get("version"))
        fixes = vuln.get("fix_versions")
        fixes = [str(v) for v in fixes] if isinstance(fixes, list) else []
        fixed = smallest_above(fixes, installed)
        description = first_line(str(vuln.get("description") or ""), 300)
        message = f"{name} {installed or ''}: {vuln['id']}"
        if description:
            message += f": {description}"
        return Finding(
            kind="cve",
            severity=None,
            message=message,
            file="requirements.txt",
            code=vuln["id"],
            suggested_fix=f"bump to {fixed}" if fixed else None,
            tool=self.tool,
            raw={
                "package": name,
                "installed_version": installed,
                "aliases": vuln.get("aliases"),
                "fix_versions": fixes,
            },
        )
