"""``crafting-table findings JOB``: what the parsers found in a job's output."""

from __future__ import annotations

import argparse
from typing import Any

from crafting_table.cli.connection import segment
from crafting_table.cli.output import Cell, status_cell
from crafting_table.cli.session import Commands, Session, add_command

KINDS = ("lint", "cve", "test_fail", "recipe_fail")
SEVERITIES = ("error", "warning", "info")


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Add ``findings``."""
    command = add_command(
        commands,
        "findings",
        show_findings,
        common,
        "a job's findings, with their state against the previous run",
    )
    command.add_argument("job_id", metavar="JOB", help="the job's id")
    which = command.add_mutually_exclusive_group()
    which.add_argument(
        "--new", action="store_true", help="only those the previous run did not have"
    )
    which.add_argument(
        "--fixed",
        action="store_true",
        help="instead, the previous run's findings that are gone",
    )
    command.add_argument("--kind", choices=KINDS, help="only this kind")
    command.add_argument("--severity", choices=SEVERITIES, help="only this severity")
    command.add_argument(
        "--sarif",
        action="store_true",
        help="print them as a SARIF 2.1.0 log (for code-scanning viewers)",
    )


def show_findings(session: Session) -> int:
    """Print the job's findings as a table, JSON, or SARIF."""
    args = session.args
    params: dict[str, str | int] = {}
    if args.new:
        params["new"] = "1"
    if args.fixed:
        params["fixed"] = "1"
    for key in ("kind", "severity"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    suffix = "findings.sarif" if args.sarif else "findings"
    with session.client() as client:
        answer = client.call(
            "GET", f"/jobs/{segment(args.job_id)}/{suffix}", params=params
        )
    out = session.out
    if args.json or args.sarif:
        out.json(answer)
        return 0
    findings: list[dict[str, Any]] = answer["findings"]
    if (args.new or args.fixed) and answer.get("previous_job_id") is None:
        out.note(
            f"job {args.job_id} has no earlier run of its recipe to compare with: "
            "all its findings are new, none fixed"
        )
    elif args.fixed and answer.get("fixed_withheld"):
        out.note(f"none counts as fixed: {answer['fixed_withheld']}")
    out.table(
        ["ID", "SEVERITY", "KIND", "WHERE", "CODE", "STATE", "MESSAGE"],
        [_row(finding) for finding in findings],
        empty=f"job {args.job_id} has no findings that match",
    )
    return 0


def _row(finding: dict[str, Any]) -> list[Cell]:
    where = finding["file"] or "-"
    if finding["file"] and finding["line"]:
        where += f":{finding['line']}"
    message = " ".join(str(finding["message"]).split())
    if finding.get("suggested_fix"):
        message += f" (fix: {finding['suggested_fix']})"
    return [
        str(finding["id"]),
        status_cell(finding["severity"] or "-"),
        finding["kind"],
        where,
        finding["code"] or "-",
        status_cell(finding["state"]),
        message,
    ]
