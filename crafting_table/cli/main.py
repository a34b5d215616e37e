"""``crafting-table``: run the service, or talk to one.

``crafting-table serve`` starts the service in the foreground; the other
sub-commands are clients of a running service's API.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import trio

from crafting_table import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="crafting-table",
        description="A self-hosted build, test, lint and audit service.",
    )
    parser.add_argument(
        "--version", action="version", version=f"crafting-table {__version__}"
    )
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crafting-table`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


def serve(args: argparse.Namespace) -> int:
    """Run the service until SIGTERM or SIGINT."""
    from pydantic import ValidationError

    from actors.serve import run_service
    from crafting_table.config import Settings
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
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = "CRAFTING_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"crafting-table: {name}: {error['msg']}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_format)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(run_service, settings)
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    handle.stop()
                    break

    trio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
