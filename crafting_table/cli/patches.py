"""``crafting-table patch run | list | show``: the patch loop's attempts."""

from __future__ import annotations

import argparse
from typing import Any

from crafting_table.cli.connection import segment
from crafting_table.cli.output import dash, status_cell, when
from crafting_table.cli.session import (
    Commands,
    Session,
    add_command,
    add_page_options,
    note_next_page,
    page_params,
)

STATUSES = (
    "drafting",
    "apply_failed",
    "verifying",
    "verify_failed",
    "pushing",
    "pr_opened",
    "failed",
)


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Add ``patch`` and its sub-commands."""
    patch = commands.add_parser("patch", help="automatic patch attempts")
    actions = patch.add_subparsers(dest="action", required=True, metavar="ACTION")

    run_cmd = add_command(
        actions, "run", run, common, "start a patch attempt on a job's finding"
    )
    run_cmd.add_argument("job_id", metavar="JOB", help="the job's id")
    run_cmd.add_argument(
        "--finding",
        type=int,
        metavar="ID",
        help="the finding to patch (default: the job's most severe actionable one)",
    )

    list_cmd = add_command(
        actions, "list", list_patches, common, "patch attempts, newest first"
    )
    list_cmd.add_argument("--project", help="only this project's attempts")
    list_cmd.add_argument("--status", choices=STATUSES, help="only this status")
    add_page_options(list_cmd, "attempts", cursor=int)

    show_cmd = add_command(
        actions, "show", show, common, "one attempt with its diff and outcome"
    )
    show_cmd.add_argument("attempt_id", metavar="ID", type=int, help="the attempt's id")


def run(session: Session) -> int:
    """Trigger an attempt and print what the service answered."""
    args = session.args
    body = {} if args.finding is None else {"finding_id": args.finding}
    with session.client() as client:
        answer = client.call("POST", f"/jobs/{segment(args.job_id)}/patches", body=body)
    if args.json:
        session.out.json(answer)
        return 0
    _print_attempt(session, answer["attempt"])
    return 0


def list_patches(session: Session) -> int:
    """The newest attempts the token can see, filtered, a page at a time.

    A page that has more after it ends with a note naming the ``--before``
    cursor of the next one.
    """
    args = session.args
    params = page_params(args, "project", "status")
    with session.client() as client:
        answer = client.call("GET", "/patches", params=params)
    if args.json:
        session.out.json(answer)
        return 0
    session.out.table(
        ["ID", "PROJECT", "JOB", "FINDING", "TRY", "STATUS", "CREATED", "OUTCOME"],
        [
            [
                str(a["id"]),
                a["project"],
                a["job_id"],
                str(a["finding_id"]),
                str(a["attempt_number"]),
                status_cell(a["status"]),
                when(a["created_at"]),
                a["pr_url"] or a["error"] or "-",
            ]
            for a in answer["patches"]
        ],
        empty="no patch attempts match",
    )
    note_next_page(session, answer)
    return 0


def show(session: Session) -> int:
    """One attempt's fields, then its diff."""
    with session.client() as client:
        answer = client.call("GET", f"/patches/{session.args.attempt_id}")
    if session.args.json:
        session.out.json(answer)
        return 0
    _print_attempt(session, answer["attempt"])
    return 0


def _print_attempt(session: Session, attempt: dict[str, Any]) -> None:
    out = session.out
    out.fields(
        [
            ("attempt", str(attempt["id"])),
            ("project", attempt["project"]),
            ("job", attempt["job_id"]),
            ("finding", str(attempt["finding_id"])),
            ("try", str(attempt["attempt_number"])),
            ("status", status_cell(attempt["status"])),
            ("branch", dash(attempt["branch"])),
            ("pull request", dash(attempt["pr_url"])),
            ("verify job", dash(attempt["verify_job_id"])),
            ("confidence", dash(attempt["confidence"])),
            ("error", dash(attempt["error"])),
            ("created", when(attempt["created_at"])),
            ("updated", when(attempt["updated_at"])),
        ]
    )
    if attempt.get("explanation"):
        out.line()
        out.line(attempt["explanation"].rstrip())
    if attempt.get("diff"):
        out.line()
        out.line(attempt["diff"].rstrip("\n"))
