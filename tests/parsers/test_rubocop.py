"""RuboCop ``--format json``."""

from __future__ import annotations

import json

from tests.parsers.support import half, parse, places, sample_lines


def test_one_finding_per_offense() -> None:
    findings = parse("ruby", "lint", sample_lines("rubocop", "json.log"))

    assert places(findings) == [
        ("lint", "lib/calc.rb", 2, "Style/StringLiterals"),
        ("lint", "lib/calc.rb", 5, "Lint/UselessAssignment"),
        ("lint", "lib/größe.rb", 3, "Lint/Syntax"),
    ]
    assert [f.severity for f in findings] == ["info", "warning", "error"]
    assert [f.column for f in findings] == [11, 5, 1]
    assert [f.suggested_fix for f in findings] == ["rubocop -a", None, None]
    assert findings[1].message == (
        "Lint/UselessAssignment: Useless assignment to variable - `total`."
    )


def test_old_location_keys_and_clean_report() -> None:
    report = {
        "metadata": {"rubocop_version": "0.49.1"},
        "files": [
            {
                "path": "app.rb",
                "offenses": [
                    {
                        "severity": "fatal",
                        "message": "m",
                        "cop_name": "Lint/Syntax",
                        "location": {"line": 7, "column": 2},
                    }
                ],
            }
        ],
    }
    clean = {"metadata": {"rubocop_version": "1.39.0"}, "files": [{"path": "a.rb"}]}

    findings = parse("ruby", "lint", [json.dumps(report) + "\n"])
    none = parse("ruby", "lint", [json.dumps(clean) + "\n"], exit_code=0)

    assert places(findings) == [("lint", "app.rb", 7, "Lint/Syntax")]
    assert findings[0].severity == "error"
    assert none == []


def test_truncated_report_is_a_recipe_failure() -> None:
    findings = parse("ruby", "lint", half(sample_lines("rubocop", "json.log")))

    assert places(findings) == [("recipe_fail", None, None, "exit_1")]
