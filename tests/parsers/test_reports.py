"""Report folders are the recipe's: their symlinks are never followed."""

from __future__ import annotations

import json
from pathlib import Path

from crafting_table.parsers import ParseContext, parse_job

SARIF = {
    "version": "2.1.0",
    "runs": [
        {
            "tool": {"driver": {"name": "probe"}},
            "results": [{"ruleId": "R1", "message": {"text": "secret found"}}],
        }
    ],
}
JUNIT = (
    '<testsuite><testcase classname="c" name="leak">'
    '<failure message="secret"/></testcase></testsuite>'
)


def parse(reports: Path) -> list[object]:
    context = ParseContext(
        language="generic",
        recipe="test",
        exit_code=0,
        subproject=".",
        workdir=reports,
        log=lambda: iter(()),
        reports_dir=reports,
    )
    return list(parse_job(context))


def test_reports_are_read(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "scan.sarif").write_text(json.dumps(SARIF))
    (reports / "tests.xml").write_text(JUNIT)

    assert len(parse(reports)) == 2


def test_symlinked_files_and_folders_are_ignored(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.sarif").write_text(json.dumps(SARIF))
    (outside / "secret.xml").write_text(JUNIT)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "scan.sarif").symlink_to(outside / "secret.sarif")
    (reports / "tests.xml").symlink_to(outside / "secret.xml")
    (reports / "more").symlink_to(outside)

    assert parse(reports) == []
