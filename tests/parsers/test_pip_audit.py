"""pip-audit -f json."""

from __future__ import annotations

from tests.parsers.support import half, parse, places, sample_lines


def test_one_cve_per_vulnerability_with_the_smallest_fix() -> None:
    findings = parse("python", "audit", sample_lines("pip_audit", "vulns.log"))
    assert places(findings) == [
        ("cve", "requirements.txt", None, "PYSEC-2023-74"),
        ("cve", "requirements.txt", None, "CVE-2024-35195"),
        ("cve", "requirements.txt", None, "PYSEC-2024-60"),
    ]
    assert [f.suggested_fix for f in findings] == [
        "bump to 2.31.0",
        "bump to 2.32.0",
        "bump to 3.7",
    ]
    assert {f.severity for f in findings} == {None}
    assert findings[0].raw["aliases"] == ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"]


def test_feed_unreachable_is_a_failure_not_a_clean_pass() -> None:
    # pip-audit exits 0 when it could audit nothing at all.
    findings = parse(
        "python", "audit", sample_lines("pip_audit", "unreachable.log"), exit_code=0
    )
    assert places(findings) == [
        ("recipe_fail", "requirements.txt", None, "not_audited")
    ]


def test_truncated_report_falls_back_to_recipe_fail() -> None:
    findings = parse(
        "python", "audit", half(sample_lines("pip_audit", "vulns.log")), exit_code=1
    )
    assert places(findings) == [("recipe_fail", None, None, "exit_1")]
