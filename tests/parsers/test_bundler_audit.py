"""bundler-audit ``check --format json``."""

from __future__ import annotations

from tests.parsers.support import half, parse, places, sample_lines


def test_vulnerable_gems_and_insecure_sources() -> None:
    findings = parse("ruby", "audit", sample_lines("bundler_audit", "json.log"))

    assert places(findings) == [
        ("lint", "Gemfile.lock", None, "insecure-source"),
        ("cve", "Gemfile.lock", None, "CVE-2022-30123"),
        ("cve", "Gemfile.lock", None, "GHSA-xxx8-v2mq-cfmg"),
    ]
    assert [f.severity for f in findings] == ["warning", "error", "warning"]
    assert [f.suggested_fix for f in findings] == [
        None,
        "bump rack to ~> 2.0.9, >= 2.0.9.1 or ~> 2.1.4, >= 2.1.4.1 or >= 2.2.3.1",
        None,
    ]
    assert findings[1].message == (
        "rack 2.2.3: Possible shell escape sequence injection vulnerability in Rack"
    )


def test_clean_report_has_no_findings() -> None:
    report = '{"version":"0.9.3","created_at":"2026-12-04 09:00:00 +0000","results":[]}'

    assert parse("ruby", "audit", [report + "\n"], exit_code=0) == []


def test_truncated_report_is_a_recipe_failure() -> None:
    findings = parse("ruby", "audit", half(sample_lines("bundler_audit", "json.log")))

    assert places(findings) == [("recipe_fail", None, None, "exit_1")]
