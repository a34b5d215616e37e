"""``bundler-audit check --format json``: vulnerable gems and insecure sources.

The report is ``{"version", "created_at", "results": [...]}``. A result of
``type`` ``unpatched_gem`` names the ``gem`` (``name``, ``version``) and the
``advisory`` from the Ruby advisory database: its ``id`` (the file name,
``CVE-2022-30123`` or ``GHSA-...``), ``title``, ``url``, ``cve`` and
``ghsa`` (numbers without their prefix), ``criticality`` (from the CVSS
score: ``none`` to ``critical``, or null) and the ``patched_versions``
requirements. A result of type ``insecure_source`` names a gem ``source``
fetched over plain http or git.

Each vulnerable gem is a ``cve`` finding in ``Gemfile.lock`` whose code is
the advisory's CVE id (else its GHSA id, else its own id), with "bump gem
to <requirement>" when patched versions are known. An insecure source is a
``lint`` warning coded ``insecure-source``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    ToolParser,
    advisory_severity,
    as_str,
)

__all__ = ["BundlerAuditParser"]

LOCK_FILE = "Gemfile.lock"


def _is_report(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("results"), list)
        and "created_at" in value
        and "version" in value
    )


def advisory_code(advisory: dict[str, Any]) -> str | None:
    """The advisory's CVE id, else its GHSA id, else its database id."""
    cve = as_str(advisory.get("cve"))
    if cve:
        return cve if cve.startswith("CVE-") else f"CVE-{cve}"
    ghsa = as_str(advisory.get("ghsa"))
    if ghsa:
        return ghsa if ghsa.startswith("GHSA-") else f"GHSA-{ghsa}"
    return as_str(advisory.get("id"))


class BundlerAuditParser(ToolParser):
    """Findings from a bundler-audit JSON report."""

    tool: ClassVar[str] = "bundler-audit"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not _is_report(value):
            return ()
        findings = []
        for result in value["results"]:
            if not isinstance(result, dict):
                continue
            if result.get("type") == "unpatched_gem":
                findings.append(self._gem(result))
            elif result.get("type") == "insecure_source":
                findings.append(self._source(result))
        return findings

    def _gem(self, result: dict[str, Any]) -> Finding:
        gem = result.get("gem")
        gem = gem if isinstance(gem, dict) else {}
        advisory = result.get("advisory")
        advisory = advisory if isinstance(advisory, dict) else {}
        name = str(gem.get("name", "?"))
        patched = [str(r) for r in advisory.get("patched_versions") or () if r]
        level = advisory.get("criticality")
        what = f"{name} {gem.get('version', '')}: {advisory.get('title', '')}"
        return Finding(
            kind="cve",
            severity=advisory_severity(level),
            message=what[:1000],
            file=LOCK_FILE,
            code=advisory_code(advisory),
            suggested_fix=f"bump {name} to {' or '.join(patched)}" if patched else None,
            tool=self.tool,
            raw=result,
        )

    def _source(self, result: dict[str, Any]) -> Finding:
        return Finding(
            kind="lint",
            severity="warning",
            message=f"insecure gem source {result.get('source')!s}"[:1000],
            file=LOCK_FILE,
            code="insecure-source",
            tool=self.tool,
            raw=result,
        )
