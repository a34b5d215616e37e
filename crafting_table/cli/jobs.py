"""``crafting-table job run | retry | show | log | cancel | list``."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from crafting_table.cli.connection import segment
from crafting_table.cli.follow import EXIT_CANCELED as EXIT_INTERRUPTED
from crafting_table.cli.follow import exit_status, follow
from crafting_table.cli.output import Cell, dash, duration, status_cell, when
from crafting_table.cli.session import (
    Commands,
    Session,
    add_command,
    add_page_options,
    note_next_page,
    page_params,
)
from crafting_table.errors import ServiceRefused

STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "canceled")
RECIPES = ("build", "test", "lint", "audit")

# The API's advice names its fields and endpoints; a command-line user is
# told the option or command that does the same.
_API_ADVICE = [
    (re.compile(r"set 'subproject' to"), "pass --subproject with"),
    (
        re.compile(r"POST /jobs/([^/\s]+)/retry runs it again"),
        r"'crafting-table job retry \1' runs it again",
    ),
]


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Add ``job`` and its sub-commands."""
    job = commands.add_parser("job", help="run recipes and follow jobs")
    actions = job.add_subparsers(dest="action", required=True, metavar="ACTION")

    run_cmd = add_command(
        actions,
        "run",
        run,
        common,
        "enqueue a recipe run; prints the job id, or with --follow the log, "
        "and then exits with the job's exit status",
    )
    run_cmd.add_argument("project", help="the project's name")
    run_cmd.add_argument("recipe", choices=RECIPES, help="the recipe to run")
    run_cmd.add_argument(
        "--subproject",
        metavar="PATH",
        help="the subproject (default: the only one; required if there are several)",
    )
    at = run_cmd.add_mutually_exclusive_group()
    at.add_argument("--ref", help="branch or tag to run (default: the default branch)")
    at.add_argument("--sha", help="exact commit to run")
    run_cmd.add_argument(
        "--follow",
        action="store_true",
        help=(
            "print the log live and exit with the job's status: 0 succeeded, "
            "the recipe's exit code when failed, 124 timed out, 125 failed "
            "without one (before the recipe ran, or orphaned), 130 canceled"
        ),
    )

    retry_cmd = add_command(
        actions,
        "retry",
        retry,
        common,
        "run an ended job again: the same recipe as it was, ref and commit",
    )
    retry_cmd.add_argument("job_id", metavar="ID", help="the ended job's id")
    retry_cmd.add_argument(
        "--follow",
        action="store_true",
        help="print the new job's log live and exit as 'job run --follow'",
    )

    show_cmd = add_command(actions, "show", show, common, "a job and its last lines")
    show_cmd.add_argument("job_id", metavar="ID", help="the job's id")
    show_cmd.add_argument(
        "--tail",
        type=int,
        default=20,
        metavar="N",
        help="how many of the last log lines (at most 200; default 20)",
    )

    log_cmd = add_command(actions, "log", log, common, "print a job's log")
    log_cmd.add_argument("job_id", metavar="ID", help="the job's id")
    log_cmd.add_argument(
        "--offset",
        type=int,
        default=0,
        metavar="N",
        help="start at byte N (to resume an earlier read)",
    )
    log_cmd.add_argument(
        "--follow",
        action="store_true",
        help="print it live until the job ends, then exit as 'job run --follow'",
    )

    cancel_cmd = add_command(
        actions, "cancel", cancel, common, "stop a queued or running job"
    )
    cancel_cmd.add_argument("job_id", metavar="ID", help="the job's id")

    list_cmd = add_command(actions, "list", list_jobs, common, "jobs, newest first")
    list_cmd.add_argument("--project", help="only this project's jobs")
    list_cmd.add_argument("--status", choices=STATUSES, help="only this status")
    list_cmd.add_argument("--recipe", choices=RECIPES, help="only this recipe")
    add_page_options(list_cmd, "jobs")


def run(session: Session) -> int:
    """Enqueue a job; without ``--follow`` print its id, with it tail it.

    Returns the job's exit status with ``--follow``, else 0.
    """
    args = session.args
    body = {"recipe": args.recipe}
    for key in ("subproject", "ref", "sha"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    with session.client() as client, _in_command_words():
        answer = client.call(
            "POST", f"/projects/{segment(args.project)}/jobs", body=body
        )
    return _enqueued(session, answer)


@contextmanager
def _in_command_words() -> Iterator[None]:
    """Re-raise a refusal with the API's advice put in command-line terms."""
    try:
        yield
    except ServiceRefused as exc:
        message = exc.api_message
        for pattern, words in _API_ADVICE:
            message = pattern.sub(words, message)
        raise ServiceRefused(exc.http_status, exc.error_code, message) from None


def retry(session: Session) -> int:
    """Enqueue an ended job again; print or follow the new job as :func:`run`.

    The service refuses (exit 1) a job that is still queued or running.
    """
    with session.client() as client:
        answer = client.call("POST", f"/jobs/{segment(session.args.job_id)}/retry")
    return _enqueued(session, answer)


def _enqueued(session: Session, answer: dict[str, Any]) -> int:
    """Report a job just enqueued; with ``--follow`` tail it to its end."""
    args = session.args
    job = answer["job"]
    out = session.out
    if args.json:
        out.json(answer, compact=args.follow)
    else:
        if not args.follow:
            out.line(job["id"])
        again = f" (retry of {job['retry_of']})" if job.get("retry_of") else ""
        out.note(f"queued job {job['id']}{again}: {_what(job)}")
    if not args.follow:
        return 0
    return _follow(session, job["id"])


def _what(job: dict[str, Any]) -> str:
    at = job["sha"] or job["ref"] or "the default branch"
    return f"{job['recipe']} of {job['project']} ({job['subproject']}) at {at}"


def _follow(session: Session, job_id: str) -> int:
    out = session.out
    try:
        final = follow(session.target(), job_id, out, frames=session.args.json)
    except KeyboardInterrupt:
        out.note(
            f"stopped following job {job_id}; it goes on "
            f"('crafting-table job cancel {job_id}' stops it)"
        )
        return EXIT_INTERRUPTED
    status = exit_status(final)
    if not session.args.json:
        code = final.get("exit_code")
        count = final.get("findings_count")
        error = final.get("error")
        out.note(
            f"job {job_id} {final.get('status')}"
            + (f" with exit code {code}" if code is not None else "")
            + (f", {count} finding{'s' if count != 1 else ''}" if count else "")
            + (f": {error}" if error else "")
        )
    return status


def show(session: Session) -> int:
    """A job's fields and the last lines of its log."""
    with session.client() as client:
        answer = client.call("GET", f"/jobs/{segment(session.args.job_id)}")
    out = session.out
    if session.args.json:
        out.json(answer)
        return 0
    job = answer["job"]
    out.fields(
        [
            ("job", job["id"]),
            ("project", job["project"]),
            ("subproject", job["subproject"]),
            ("recipe", job["recipe"]),
            ("at", job["sha"] or job["ref"] or "-"),
            ("status", status_cell(job["status"])),
            ("exit code", dash(job["exit_code"])),
            ("error", dash(job["error"])),
            ("command", job["command"]),
            ("trigger", job["trigger"]),
            ("retry of", dash(job.get("retry_of"))),
            ("findings", str(job["findings_count"])),
            ("created", when(job["created_at"])),
            ("started", when(job["started_at"])),
            ("finished", when(job["finished_at"])),
            ("duration", duration(job["duration_secs"])),
            ("log", f"{job['log_bytes']} bytes"),
        ]
    )
    tail: list[str] = answer["log_tail"]
    wanted = max(0, min(session.args.tail, len(tail)))
    if wanted:
        out.line()
        for line in tail[len(tail) - wanted :]:
            out.line(line)
    return 0


def log(session: Session) -> int:
    """Print a job's log from ``--offset`` as it is now, or follow it live."""
    args = session.args
    if args.follow:
        return _follow(session, args.job_id)
    params: dict[str, str | int] = {"offset": args.offset} if args.offset else {}
    with (
        session.client() as client,
        client.stream(f"/jobs/{segment(args.job_id)}/log", params) as response,
    ):
        for chunk in response.iter_bytes():
            session.out.raw(chunk)
    return 0


def cancel(session: Session) -> int:
    """Cancel a job and print the state it ended in."""
    job_id = session.args.job_id
    with session.client() as client, _in_command_words():
        answer = client.call("POST", f"/jobs/{segment(job_id)}/cancel")
    if session.args.json:
        session.out.json(answer)
    else:
        status = answer["job"]["status"]
        session.out.line(f"job {job_id} {session.out.status(status)}")
    return 0


def list_jobs(session: Session) -> int:
    """The newest jobs the token can see, filtered, a page at a time.

    A page that has more after it ends with a note naming the ``--before``
    cursor of the next one.
    """
    args = session.args
    params = page_params(args, "project", "status", "recipe")
    with session.client() as client:
        answer = client.call("GET", "/jobs", params=params)
    if args.json:
        session.out.json(answer)
        return 0
    session.out.table(
        [
            "ID",
            "PROJECT",
            "SUBPROJECT",
            "RECIPE",
            "STATUS",
            "EXIT",
            "FINDINGS",
            "CREATED",
            "TOOK",
        ],
        [_job_row(job) for job in answer["jobs"]],
        empty="no jobs match",
    )
    note_next_page(session, answer)
    return 0


def _job_row(job: dict[str, Any]) -> list[Cell]:
    return [
        job["id"],
        job["project"],
        job["subproject"],
        job["recipe"],
        status_cell(job["status"]),
        dash(job["exit_code"]),
        str(job["findings_count"]),
        when(job["created_at"]),
        duration(job["duration_secs"]),
    ]
