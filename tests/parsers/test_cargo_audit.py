"""cargo audit --json."""

from __future__ import annotations

import json

from tests.parsers.support import half, parse, places, sample_lines


def test_vulnerabilities_and_warnings() -> None:
    findings = parse("rust", "audit", sample_lines("cargo_audit", "vulns.log"))
    assert places(findings) == [
        ("cve", "Cargo.lock", None, "RUSTSEC-2099-0001"),
        ("cve", "Cargo.lock", None, "RUSTSEC-2021-0003"),
        ("cve", "Cargo.lock", None, "RUSTSEC-2021-0139"),
    ]
    assert [f.severity for f in findings] == ["error", "error", "warning"]
    # No patched version, no fix; two patched ranges: the smallest above 0.6.13.
    assert [f.suggested_fix for f in findings] == [None, "bump to 0.6.14", None]
    assert findings[1].raw["aliases"] == ["CVE-2021-25900", "GHSA-43w2-9j62-hq99"]
    assert findings[2].raw["informational"] == "unmaintained"


def test_warnings_only_with_exit_zero() -> None:
    findings = parse(
        "rust", "audit", sample_lines("cargo_audit", "warnings-only.log"), exit_code=0
    )
    assert places(findings) == [("cve", "Cargo.lock", None, "RUSTSEC-2021-0139")]


def test_database_unreachable_is_a_recipe_failure() -> None:
    findings = parse("rust", "audit", sample_lines("cargo_audit", "unreachable.log"))
    assert places(findings) == [("recipe_fail", None, None, "exit_1")]


def test_yanked_crates_have_no_advisory() -> None:
    report = json.loads(sample_lines("cargo_audit", "warnings-only.log")[0])
    report["warnings"] = {
        "yanked": [
            {
                "kind": "yanked",
                "package": {"name": "x", "version": "1.0.0"},
                "advisory": None,
            }
        ]
    }
    findings = parse("rust", "audit", [json.dumps(report)], exit_code=0)
    assert places(findings) == [("cve", "Cargo.lock", None, "yanked")]
    assert findings[0].severity == "warning"


def test_truncated_report_is_a_recipe_failure() -> None:
    findings = parse("rust", "audit", half(sample_lines("cargo_audit", "vulns.log")))
    assert places(findings) == [("recipe_fail", None, None, "exit_1")]
