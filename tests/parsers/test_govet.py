"""go vet -json."""

from __future__ import annotations

from pathlib import Path

from tests.parsers.support import SRC, crlf, parse, places, sample_lines

VETME = SRC / "go" / "vetme"


def test_tab_indented_json_per_package() -> None:
    findings = parse(
        "go", "lint", sample_lines("govet", "json.log"), exit_code=0, workdir=VETME
    )
    assert places(findings) == [
        ("lint", "sub/sub.go", 6, "printf"),
        ("lint", "main.go", 13, "copylocks"),
        ("lint", "main.go", 19, "copylocks"),
        ("lint", "main.go", 17, "printf"),
        ("lint", "main.go", 18, "printf"),
    ]
    assert {f.severity for f in findings} == {"warning"}
    assert findings[0].column == 9
    assert findings[0].raw["package"] == "example.com/vetme/sub"


def test_package_headers_and_empty_objects() -> None:
    log = [
        "# example.com/a\n",
        "{\n",
        '\t"example.com/a": {\n',
        '\t\t"printf": [\n',
        "\t\t\t{\n",
        '\t\t\t\t"posn": "/w/a.go:3:2",\n',
        '\t\t\t\t"message": "bad"\n',
        "\t\t\t}\n",
        "\t\t]\n",
        "\t}\n",
        "}\n",
        "# example.com/a_test\n",
        "{}\n",
    ]
    findings = parse("go", "lint", crlf(log), exit_code=0, workdir=Path("/elsewhere"))
    assert places(findings) == [("lint", "/w/a.go", 3, "printf")]
    assert findings[0].outside
    findings = parse("go", "lint", log, exit_code=0, workdir=Path("/w"))
    assert places(findings) == [("lint", "a.go", 3, "printf")]


def test_type_errors_stop_vet() -> None:
    lines = sample_lines("govet", "typecheck.log")
    findings = parse("go", "lint", lines, exit_code=1, workdir=SRC / "go" / "vetbroken")
    assert places(findings) == [("lint", "main.go", 6, "typecheck")]
    assert findings[0].severity == "error"
