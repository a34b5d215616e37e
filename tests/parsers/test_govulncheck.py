"""govulncheck -json."""

from __future__ import annotations

from tests.parsers.support import SRC, half, parse, places, sample_lines

VULNMOD = SRC / "go" / "vulnmod"


def test_one_cve_per_osv_with_a_finding_at_its_deepest_level() -> None:
    findings = parse(
        "go",
        "audit",
        sample_lines("govulncheck", "source.log"),
        exit_code=0,
        workdir=VULNMOD,
    )
    assert places(findings) == [
        ("cve", None, None, "GO-2020-0015"),
        # Reached at symbol level: the call site in the scanned module.
        ("cve", "main.go", 10, "GO-2021-0113"),
        ("cve", None, None, "GO-2022-1059"),
    ]
    assert [f.raw["level"] for f in findings] == ["module", "symbol", "package"]
    assert [f.severity for f in findings] == ["info", "error", "warning"]
    assert findings[1].suggested_fix == "bump golang.org/x/text to v0.3.7"
    assert findings[1].raw["aliases"] == ["CVE-2021-38561", "GHSA-ppp9-7jff-5vj2"]


def test_osv_entries_without_findings_are_not_reported() -> None:
    lines = sample_lines("govulncheck", "source.log")
    cut = next(i for i, line in enumerate(lines) if line.startswith('  "finding"')) - 1
    findings = parse("go", "audit", lines[:cut], exit_code=0, workdir=VULNMOD)
    assert findings == []


def test_killed_scan_keeps_complete_messages() -> None:
    findings = parse(
        "go",
        "audit",
        half(sample_lines("govulncheck", "source.log")),
        exit_code=None,
        workdir=VULNMOD,
    )
    assert all(f.kind == "cve" for f in findings)
