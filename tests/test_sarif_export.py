"""Findings exported as SARIF 2.1.0, checked against the published schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from crafting_table.parsers.base import Finding
from crafting_table.sarif_export import to_sarif

SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "schemas"
    / "sarif-2.1.0-rtm.5.json"
)

FINDINGS = [
    Finding(
        "lint",
        "warning",
        "unused import",
        file="src/app.py",
        line=3,
        column=8,
        code="F401",
        tool="ruff",
    ),
    Finding(
        "lint",
        "error",
        "undefined",
        file="src/app.py",
        line=9,
        code="F821",
        tool="ruff",
    ),
    Finding(
        "lint", "info", "style", file="src/ünï.py", line=1, code="F401", tool="ruff"
    ),
    Finding(
        "cve",
        None,
        "requests: leak",
        file="requirements.txt",
        code="PYSEC-2023-74",
        suggested_fix="bump to 2.31.0",
        tool="pip-audit",
    ),
    Finding(
        "test_fail",
        "error",
        "t failed",
        file="/usr/lib/python3/x.py",
        line=2,
        outside=True,
        tool="pytest",
    ),
    Finding(
        "recipe_fail", "error", "recipe 'test' exited with status 1", code="exit_1"
    ),
]


def validate(log: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)


def test_valid_sarif_with_one_run_per_tool() -> None:
    log = to_sarif(
        FINDINGS, "crafting-table", tool_version="0.1.0", base_uri="file:///work/repo/"
    )
    validate(log)
    assert [run["tool"]["driver"]["name"] for run in log["runs"]] == [
        "ruff",
        "pip-audit",
        "pytest",
        "crafting-table",
    ]
    ruff = log["runs"][0]
    assert [rule["id"] for rule in ruff["tool"]["driver"]["rules"]] == ["F401", "F821"]
    assert [r["ruleIndex"] for r in ruff["results"]] == [0, 1, 0]
    assert [r["level"] for r in ruff["results"]] == ["warning", "error", "note"]


def test_locations_and_fingerprints() -> None:
    log = to_sarif(FINDINGS)
    ruff, audit, tests, _ = log["runs"]
    first = ruff["results"][0]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/app.py", "uriBaseId": "SRCROOT"}
    assert location["region"] == {"startLine": 3, "startColumn": 8}
    assert (
        first["partialFingerprints"]["craftingTable/fingerprint/v1"]
        == FINDINGS[0].fingerprint
    )
    assert (
        ruff["results"][2]["locations"][0]["physicalLocation"]["artifactLocation"][
            "uri"
        ]
        == "src/%C3%BCn%C3%AF.py"
    )
    assert "region" not in audit["results"][0]["locations"][0]["physicalLocation"]
    assert audit["results"][0]["properties"]["suggestedFix"] == "bump to 2.31.0"
    assert tests["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"
    ] == {"uri": "file:///usr/lib/python3/x.py"}


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([], id="no-findings"),
        pytest.param(
            [
                {
                    "kind": "lint",
                    "severity": "warn",
                    "file": "a.py",
                    "line": 0,
                    "code": None,
                    "message": "",
                    "fingerprint": "abc",
                    "identity": "def",
                }
            ],
            id="ledger-row-with-odd-values",
        ),
    ],
)
def test_rows_and_edge_cases_stay_valid(rows: list[dict[str, Any]]) -> None:
    log = to_sarif(rows)
    validate(log)
    if rows:
        result = log["runs"][0]["results"][0]
        assert result["partialFingerprints"] == {
            "craftingTable/fingerprint/v1": "abc",
            "craftingTable/identity/v1": "def",
        }


def test_schema_rejects_a_broken_log() -> None:
    log = to_sarif(FINDINGS[:1])
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(log)


def test_the_converter_and_the_commit_are_told_and_no_tool_gets_our_version() -> None:
    commit = {
        "repositoryUri": "https://git.example/org/app.git",
        "revisionId": "0123456789abcdef0123456789abcdef01234567",
        "branch": "main",
    }

    found = to_sarif(FINDINGS[:1], tool_version="1.2.3", provenance=commit)
    nothing = to_sarif([], "crafting-table", tool_version="1.2.3", provenance=commit)

    for log in (found, nothing):
        validate(log)
        [run] = log["runs"]
        # Our version is not ruff's: the tools' own versions are not known.
        assert "version" not in run["tool"]["driver"]
        assert run["conversion"]["tool"]["driver"] == {
            "name": "crafting-table",
            "version": "1.2.3",
        }
        assert run["versionControlProvenance"] == [
            commit | {"mappedTo": {"uriBaseId": "SRCROOT"}}
        ]
    assert found["runs"][0]["tool"]["driver"]["name"] == "ruff"
    # An analysis that found nothing is still a run, which closes old alerts.
    assert nothing["runs"][0]["results"] == []


def test_paths_start_at_the_repository_root() -> None:
    log = to_sarif(FINDINGS, subproject="services/api")
    validate(log)

    ruff, _audit, tests, _ = log["runs"]
    first = ruff["results"][0]["locations"][0]["physicalLocation"]
    assert first["artifactLocation"] == {
        "uri": "services/api/src/app.py",
        "uriBaseId": "SRCROOT",
    }
    # A file outside the subproject keeps its absolute URI.
    outside = tests["results"][0]["locations"][0]["physicalLocation"]
    assert outside["artifactLocation"] == {"uri": "file:///usr/lib/python3/x.py"}


def test_an_unfinished_analysis_is_not_a_successful_invocation() -> None:
    done = to_sarif(FINDINGS[:1])
    stopped = to_sarif(FINDINGS[:1], stopped="the recipe reached its deadline")

    validate(stopped)
    assert done["runs"][0]["invocations"] == [{"executionSuccessful": True}]
    [invocation] = stopped["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert note["message"]["text"] == "the recipe reached its deadline"
