"""``composer audit --format=json``."""

from __future__ import annotations

from tests.parsers.support import half, parse, places, sample_lines


def test_one_finding_per_advisory() -> None:
    findings = parse("php", "audit", sample_lines("composer_audit", "json.log"))

    assert places(findings) == [
        ("cve", "composer.lock", None, "CVE-2022-24894"),
        ("cve", "composer.lock", None, "PKSA-1gx3-6y4r-ffsz"),
    ]
    assert [f.severity for f in findings] == ["warning", "error"]
    assert findings[1].message == (
        "guzzlehttp/psr7 <1.9.1|>=2,<2.4.5: Improper header validation"
    )
    assert all(f.suggested_fix is None for f in findings)


def test_report_without_advisories_has_no_findings() -> None:
    lines = ["{\n", '    "advisories": []\n', "}\n"]

    assert parse("php", "audit", lines, exit_code=0) == []


def test_npm_legacy_report_is_not_taken_for_composer() -> None:
    legacy = '{"advisories": {"118": {"module_name": "minimist"}}, "metadata": {}}\n'

    assert places(parse("php", "audit", [legacy])) == [
        ("recipe_fail", None, None, "exit_1")
    ]


def test_truncated_report_is_a_recipe_failure() -> None:
    findings = parse("php", "audit", half(sample_lines("composer_audit", "json.log")))

    assert places(findings) == [("recipe_fail", None, None, "exit_1")]
