"""Which finding of a job the patch loop works on.

A finding is actionable when an agent can be asked for a concrete edit:
a lint with a file inside the subproject and a line, or a CVE whose fixed
version is known (its ``suggested_fix``). Among the actionable ones the
most severe comes first (error, warning, info), then CVEs before lints,
then the order the tool reported them in.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping

from crafting_table.ledger.findings import FindingRow

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
# A CVE parser that gives no severity (pip-audit) still reports a known
# vulnerability; ranking it below every informational lint would hide it.
_MISSING_SEVERITY = _SEVERITY_ORDER["warning"]
_KIND_ORDER = {"cve": 0, "lint": 1}


def actionable(finding: FindingRow) -> bool:
    """True when the patch loop can ask for a fix of ``finding``."""
    if finding.kind == "lint":
        return bool(finding.file) and finding.line is not None and not finding.outside
    if finding.kind == "cve":
        return bool(finding.suggested_fix)
    return False


def rank(finding: FindingRow) -> tuple[int, int, int]:
    """Sort key: lower is picked first."""
    severity = _SEVERITY_ORDER.get(finding.severity or "", _MISSING_SEVERITY)
    return severity, _KIND_ORDER.get(finding.kind, 9), finding.id


def choose(
    findings: Iterable[FindingRow],
    *,
    attempts: Mapping[int, int],
    max_attempts: int,
    skip_identities: Container[str] = (),
) -> FindingRow | None:
    """The finding to patch next, or None when there is none.

    ``attempts`` maps finding ids to the attempts made on them; a finding
    with ``max_attempts`` or more is skipped, and so is one whose identity
    is in ``skip_identities``.
    """
    candidates = [
        f
        for f in findings
        if actionable(f)
        and attempts.get(f.id, 0) < max_attempts
        and f.identity not in skip_identities
    ]
    return min(candidates, key=rank, default=None)
