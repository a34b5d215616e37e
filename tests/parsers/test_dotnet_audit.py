"""``dotnet list package --vulnerable --format json``."""

from __future__ import annotations

import json

import pytest

from crafting_table.parsers.dotnet_audit import advisory_code
from tests.parsers.support import SRC, half, parse, places, sample_lines

WORKDIR = SRC / "csharp" / "shop"
API = "src/Shop.Api/Shop.Api.csproj"
LEGACY = "src/Shop.Legacy/Shop.Legacy.csproj"


def report(projects: list[object], **extra: object) -> list[str]:
    """A pretty-printed version 1 report, as the command writes it."""
    document = {"version": 1, "parameters": "--vulnerable", **extra}
    document["projects"] = projects
    return [line + "\n" for line in json.dumps(document, indent=2).splitlines()]


def package(name: str, *advisories: tuple[str, str]) -> dict[str, object]:
    """A top-level package entry with ``(severity, GHSA id)`` advisories."""
    return {
        "id": name,
        "requestedVersion": "1.0.0",
        "resolvedVersion": "1.0.0",
        "vulnerabilities": [
            {"severity": level, "advisoryurl": f"https://github.com/advisories/{id_}"}
            for level, id_ in advisories
        ],
    }


def test_one_finding_per_package_and_advisory() -> None:
    findings = parse(
        "csharp",
        "audit",
        sample_lines("dotnet_audit", "vulnerable.log"),
        exit_code=0,
        workdir=WORKDIR,
    )

    assert places(findings) == [
        ("cve", API, None, "GHSA-5crp-9r3c-p9vr"),
        ("cve", API, None, "GHSA-hh2w-p6rv-4g7w"),
        ("cve", API, None, "GHSA-8g4q-xg66-9fp4"),
        ("cve", API, None, "GHSA-7jgj-8wvc-jh57"),
        ("cve", API, None, "GHSA-cmhx-cq75-c4mj"),
        ("cve", LEGACY, None, "GHSA-x8f7-h444-97w4"),
        ("cve", LEGACY, None, "GHSA-v76m-f5cx-8rg4"),
    ]
    assert [f.severity for f in findings] == [
        "error",
        "error",
        "error",
        "error",
        "warning",
        "error",
        "warning",
    ]
    assert findings[0].message == (
        "Newtonsoft.Json 12.0.1 (top-level, net8.0, net6.0): High severity, no fixed"
        " version named; see https://github.com/advisories/GHSA-5crp-9r3c-p9vr"
    )
    assert findings[3].raw["transitive"] is True
    assert findings[3].raw["frameworks"] == ["net6.0"]
    assert all(f.suggested_fix is None for f in findings)
    assert {f.tool for f in findings} == {"dotnet-list-package"}


def test_the_same_report_twice_is_reported_once() -> None:
    lines = sample_lines("dotnet_audit", "vulnerable.log")

    findings = parse("csharp", "audit", lines + lines, exit_code=0, workdir=WORKDIR)

    assert len(findings) == 7


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        ("Critical", "error"),
        ("High", "error"),
        ("Moderate", "warning"),
        ("Low", "info"),
        ("", "warning"),
    ],
    ids=["critical", "high", "moderate", "low", "unknown"],
)
def test_severity(level: str, severity: str) -> None:
    lines = report(
        [
            {
                "path": "/work/project/App.csproj",
                "frameworks": [
                    {
                        "framework": "net8.0",
                        "topLevelPackages": [
                            package("Pkg", (level, "GHSA-aaaa-bbbb-cccc"))
                        ],
                    }
                ],
            }
        ]
    )

    (finding,) = parse("csharp", "audit", lines, exit_code=0)

    assert (finding.file, finding.severity) == ("App.csproj", severity)


def test_unaudited_project_is_a_recipe_failure_beside_the_findings() -> None:
    vulnerable = {
        "path": "/work/project/A/A.csproj",
        "frameworks": [
            {
                "framework": "net8.0",
                "topLevelPackages": [package("Pkg", ("High", "GHSA-aaaa-bbbb-cccc"))],
            }
        ],
    }
    problems = [
        {
            "project": "/work/project/B/B.csproj",
            "error": "No assets file was found for `/work/project/B/B.csproj`."
            " Please run restore before running this command.",
        },
        {"warning": "You are running the 'list package' operation with an 'HTTP'"},
    ]

    findings = parse("csharp", "audit", report([vulnerable], problems=problems))

    assert places(findings) == [
        ("recipe_fail", "B/B.csproj", None, "not_audited"),
        ("cve", "A/A.csproj", None, "GHSA-aaaa-bbbb-cccc"),
    ]
    assert findings[0].message.startswith("not audited: No assets file was found")


def test_clean_report_has_no_findings() -> None:
    clean = {"path": "/work/project/A.csproj", "frameworks": [{"framework": "net8.0"}]}

    assert parse("csharp", "audit", report([clean]), exit_code=0) == []
    assert parse("csharp", "audit", report([]), exit_code=0) == []


def test_truncated_report_is_a_recipe_failure() -> None:
    lines = half(sample_lines("dotnet_audit", "vulnerable.log"))

    assert places(parse("csharp", "audit", lines)) == [
        ("recipe_fail", None, None, "exit_1")
    ]


@pytest.mark.parametrize("language", ["csharp", "c#", "fsharp", "f#", "dotnet"])
def test_every_dotnet_language_reads_it(language: str) -> None:
    findings = parse(
        language,
        "audit",
        sample_lines("dotnet_audit", "vulnerable.log"),
        exit_code=0,
        workdir=WORKDIR,
    )

    assert len(findings) == 7


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://github.com/advisories/GHSA-5crp-9r3c-p9vr", "GHSA-5crp-9r3c-p9vr"),
        ("https://github.com/advisories/ghsa-5CRP-9r3c-p9vr/", "GHSA-5crp-9r3c-p9vr"),
        (
            "https://feed.example.com/advisory/42",
            "https://feed.example.com/advisory/42",
        ),
    ],
    ids=["github", "odd-case", "elsewhere"],
)
def test_advisory_code(url: str, code: str) -> None:
    assert advisory_code(url) == code
