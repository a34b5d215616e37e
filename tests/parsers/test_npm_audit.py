"""npm audit --json (report version 2)."""

from __future__ import annotations

import json

from tests.parsers.support import half, parse, places, sample_lines


def test_one_finding_per_vulnerable_package() -> None:
    findings = parse("javascript", "audit", sample_lines("npm_audit", "vulns.log"))
    assert places(findings) == [
        ("cve", "package-lock.json", None, "GHSA-p6mc-m468-83gw"),
        ("cve", "package-lock.json", None, "GHSA-vh95-rmgr-6w4m,GHSA-xvch-5gv4-984h"),
    ]
    assert [f.severity for f in findings] == ["error", "error"]
    assert [f.suggested_fix for f in findings] == [
        "bump lodash to 4.18.1",
        "bump minimist to 1.2.8 (semver-major)",
    ]


def test_transitive_packages_have_no_code() -> None:
    report = {
        "auditReportVersion": 2,
        "vulnerabilities": {
            "outer": {
                "severity": "moderate",
                "via": ["inner"],
                "range": "*",
                "fixAvailable": True,
            },
            "low": {
                "severity": "low",
                "via": ["x"],
                "range": "*",
                "fixAvailable": False,
            },
        },
    }
    findings = parse(
        "typescript", "audit", json.dumps(report, indent=2).splitlines(keepends=True)
    )
    assert places(findings) == [
        ("cve", "package-lock.json", None, None),
        ("cve", "package-lock.json", None, None),
    ]
    assert [(f.severity, f.suggested_fix) for f in findings] == [
        ("warning", "npm audit fix"),
        ("info", None),
    ]


def test_unreachable_advisory_service_is_a_recipe_failure() -> None:
    findings = parse(
        "javascript", "audit", sample_lines("npm_audit", "unreachable.log")
    )
    assert places(findings) == [("recipe_fail", None, None, "exit_1")]


def test_truncated_report_is_a_recipe_failure() -> None:
    findings = parse(
        "javascript", "audit", half(sample_lines("npm_audit", "vulns.log"))
    )
    assert places(findings) == [("recipe_fail", None, None, "exit_1")]
