"""``crafting-table``: run the service, or talk to one.

``crafting-table serve`` starts the service in the foreground; the other
sub-commands are clients of a running service's API::

    crafting-table token mint alpha            # prints the new bearer
    crafting-table project register -f alpha.json
    crafting-table job run alpha test --follow # exits with the job's status
    crafting-table findings JOB --new

Exit status of a client sub-command: 0 when it did what it was asked (with
``--follow``, the job's own status: see
:func:`crafting_table.cli.follow.exit_status`), 1 when the API refused,
2 for a usage problem (bad arguments, no token, an unreadable file), 3 when
the service could not be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import trio

from crafting_table import __version__
from crafting_table.cli import findings, jobs, patches, projects, tokens
from crafting_table.cli.output import Output
from crafting_table.cli.session import (
    Handler,
    Session,
    add_common_options,
    common_options,
    settle_common_options,
)
from crafting_table.errors import ClientError

EXIT_INTERRUPTED = 130
# 128 + SIGPIPE, as a shell reports a writer whose reader went away.
EXIT_BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="crafting-table",
        description="A self-hosted build, test, lint and audit service.",
    )
    parser.add_argument(
        "--version", action="version", version=f"crafting-table {__version__}"
    )
    add_common_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the service in the foreground")
    serve.add_argument("--bind", help="HOST:PORT to listen on (CRAFTING_BIND)")
    serve.add_argument(
        "--data-dir", help="ledger, logs and admin bearer (CRAFTING_DATA_DIR)"
    )
    serve.add_argument(
        "--workspace-dir", help="clones and worktrees (CRAFTING_WORKSPACE_DIR)"
    )
    serve.add_argument(
        "--cache-dir", help="package caches for recipes (CRAFTING_CACHE_DIR)"
    )
    common = common_options()
    for module in (tokens, projects, jobs, findings, patches):
        module.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crafting-table`` console script; the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    settle_common_options(args)
    return run_client(args, sys.stdout, sys.stderr, os.environ, Path.cwd())


def run_client(
    args: argparse.Namespace,
    stdout: TextIO,
    stderr: TextIO,
    environ: Mapping[str, str],
    cwd: Path,
) -> int:
    """Run the client sub-command that ``args`` selected; its exit status.

    A :class:`~crafting_table.errors.ClientError` is printed as one line on
    ``stderr`` and exits with its ``exit_status``.
    """
    out = Output(stdout, stderr, environ)
    handler: Handler = args.handler
    try:
        return handler(Session(args=args, out=out, environ=environ, cwd=cwd))
    except ClientError as exc:
        out.note(f"crafting-table: {exc.message}")
        return exc.exit_status
    except KeyboardInterrupt:
        out.note("crafting-table: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (head, less) went away: nothing more to say to it, and
        # Python must not complain when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        out.clear_progress()


def serve(args: argparse.Namespace) -> int:
    """Run the service until SIGTERM or SIGINT; the exit status.

    0 after an orderly stop; 128 + the signal's number when a second
    signal cut the shutdown short (see :mod:`crafting_table.cli.foreground`);
    1 with one line per reason when the service cannot run; 2 for bad
    settings.
    """
    from pydantic import ValidationError

    from crafting_table.cli.foreground import Foreground
    from crafting_table.config import Settings, likely_setting, unknown_variables
    from crafting_table.logconfig import configure

    overrides = {
        key: value
        for key, value in (
            ("bind", args.bind),
            ("data_dir", args.data_dir),
            ("workspace_dir", args.workspace_dir),
            ("cache_dir", args.cache_dir),
        )
        if value is not None
    }
    # The names of .env count as well: Settings read it like the environment.
    from dotenv import dotenv_values

    for name in unknown_variables([*dotenv_values(".env"), *os.environ]):
        meant = likely_setting(name)
        print(
            f"crafting-table: {name} is not a setting and is ignored; "
            + (f"did you mean {meant}? " if meant else "")
            + "see .env.example for the names",
            file=sys.stderr,
        )
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = "CRAFTING_" + "_".join(str(p) for p in error["loc"]).upper()
            # pydantic heads the messages of our own validators with this.
            message = error["msg"].removeprefix("Value error, ")
            print(f"crafting-table: {name}: {message}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_format)

    # Everything imported so far lives as long as the process: keep it out
    # of the collector's scans, which otherwise stall every task for
    # milliseconds at a time (felt by websocket watchers as delay spikes).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 50)
    try:
        return trio.run(Foreground(settings).run)
    except BaseException as exc:
        problems = _fatal(exc)
        if problems is None:
            raise
        for problem in problems:
            print(f"crafting-table: {problem}", file=sys.stderr)
        return 1


def _fatal(error: BaseException) -> list[str] | None:
    """One line per reason the service could not run, or None for a bug.

    Configuration the host refuses, a port already taken, or actors that
    crashed too often are the operator's to fix, and a traceback would
    only hide the sentence that says how.
    """
    from crafting_table.errors import CraftingError, leaves

    lines = []
    for leaf in leaves(error):
        if isinstance(leaf, CraftingError):
            lines.append(leaf.message)
        elif isinstance(leaf, OSError) and leaf.errno is not None:
            lines.append(f"cannot start: {leaf.strerror} ({leaf.filename or 'bind'})")
        else:
            return None
    return lines


if __name__ == "__main__":
    sys.exit(main())
