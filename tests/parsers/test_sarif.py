"""SARIF 2.1.0 input, in the log and in the report folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.parsers.support import SAMPLES, SRC, parse, places, sample_lines

PY = SRC / "py"

RUFF = [
    ("lint", "app.py", 1, "F401"),
    ("lint", "app.py", 2, "F401"),
    ("lint", "app.py", 10, "F841"),
    ("lint", "modül_é.py", 1, "I001"),
    ("lint", "modül_é.py", 1, "F401"),
]


@pytest.mark.parametrize("language", ["python", "go", "cobol"])
def test_sarif_in_the_log_for_any_language(language: str) -> None:
    findings = parse(language, "lint", sample_lines("sarif", "ruff.log"), workdir=PY)
    assert places(findings) == RUFF
    assert {f.tool for f in findings} == {"ruff"}


def test_sarif_file_in_the_report_folder(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "sarif" / "ruff.log", tmp_path / "ruff.sarif")
    (tmp_path / "broken.sarif.json").write_text(
        '{"version": "2.1.0", "runs": [', encoding="utf-8"
    )
    findings = parse("rust", "lint", [], reports_dir=tmp_path, workdir=PY)
    assert places(findings) == RUFF


def test_base_ids_levels_and_advisories() -> None:
    log = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "scanner"}},
                "originalUriBaseIds": {"SRC": {"uri": "file:///w/p/"}},
                "results": [
                    {
                        "ruleId": "GHSA-aaaa-bbbb-cccc",
                        "level": "error",
                        "message": {"text": "vulnerable"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {
                                        "uri": "go.mod",
                                        "uriBaseId": "SRC",
                                    },
                                    "region": {"startLine": 5, "startColumn": 2},
                                }
                            }
                        ],
                    },
                    {"ruleId": "R1", "level": "note", "message": {"text": "n"}},
                    {"ruleId": "R2", "level": "none", "message": {"text": "n"}},
                ],
            }
        ],
    }
    findings = parse("go", "audit", [json.dumps(log) + "\n"], workdir=Path("/w/p"))
    assert places(findings) == [
        ("cve", "go.mod", 5, "GHSA-aaaa-bbbb-cccc"),
        ("lint", None, None, "R1"),
        ("lint", None, None, "R2"),
    ]
    assert [f.severity for f in findings] == ["error", "info", None]
