"""What every client sub-command is handed: its arguments, output, client.

Each sub-command is a function ``(Session) -> int`` (the exit status); it
prints through :attr:`Session.out` and calls the API through
:meth:`Session.client`. The options every client sub-command takes are
added by :func:`common_options`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from crafting_table.cli.connection import Client, Target, resolve_target
from crafting_table.cli.output import Output

Handler = Callable[["Session"], int]
# argparse names the type of add_subparsers()'s result only privately.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@dataclass(slots=True)
class Session:
    """One run of a client sub-command."""

    args: argparse.Namespace
    out: Output
    environ: Mapping[str, str]
    cwd: Path

    def target(self) -> Target:
        """Where the service is and which bearer to show it.

        Raises:
            UsageError: the URL given is not http(s).
        """
        return resolve_target(self.args.url, self.args.token, self.environ, self.cwd)

    def client(self) -> Client:
        """A client for the target; close it (use ``with``).

        Raises:
            UsageError: no token from the flags, environment or bearer file.
        """
        return Client(self.target())


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of every client sub-command to ``parser``.

    They are accepted before the sub-command's name as well as after it,
    so nothing is set by default here: an absent option must not overwrite
    one given at the other place. :func:`settle_common_options` fills in
    the defaults once parsing is done.
    """
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help=(
            "the service (CRAFTING_TABLE_BASE_URL; default: the CRAFTING_BIND of "
            "the service in this folder, from the environment or .env, else "
            "http://127.0.0.1:8810)"
        ),
    )
    group.add_argument(
        "--token",
        metavar="BEARER",
        default=argparse.SUPPRESS,
        help=(
            "the bearer to use (CRAFTING_TABLE_TOKEN, which other users cannot "
            "read from the process list; default: ./data/admin-bearer.txt)"
        ),
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the API's JSON answer as it is",
    )


def common_options() -> argparse.ArgumentParser:
    """The options of every client sub-command, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common)
    return common


def settle_common_options(args: argparse.Namespace) -> None:
    """Give the common options that were not given their defaults."""
    for name, default in (("url", None), ("token", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)


def add_command(
    commands: Commands,
    name: str,
    handler: Handler,
    common: argparse.ArgumentParser,
    help_text: str,
) -> argparse.ArgumentParser:
    """Add a leaf sub-command that runs ``handler`` and takes the common options."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=help_text, parents=[common]
    )
    parser.set_defaults(handler=handler)
    return parser


MAX_PAGE = 500


def page_size(value: str) -> int:
    """``--limit``'s type: a count from 1 to the API's largest page."""
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PAGE:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a count from 1 to {MAX_PAGE}"
        )
    return count


def add_page_options(
    parser: argparse.ArgumentParser,
    noun: str,
    cursor: Callable[[str], str | int] = str,
) -> None:
    """Add ``--limit`` and ``--before`` to a listing of ``noun``, newest first.

    ``cursor`` is the type of the API's ``next`` for that listing.
    """
    parser.add_argument(
        "--limit",
        type=page_size,
        default=50,
        metavar="N",
        help=f"at most N {noun} (50, up to 500)",
    )
    parser.add_argument(
        "--before",
        type=cursor,
        metavar="CURSOR",
        help="the next (older) page: the cursor the previous page ended with",
    )


def page_params(args: argparse.Namespace, *filters: str) -> dict[str, str | int]:
    """The query of a listing: ``--limit``, ``--before`` and the ``filters`` given."""
    params: dict[str, str | int] = {"limit": args.limit}
    for key in ("before", *filters):
        value = getattr(args, key)
        if value is not None:
            params[key] = value
    return params


def note_next_page(session: Session, answer: Mapping[str, object]) -> None:
    """Say on standard error how to ask for the page after ``answer``, if any.

    Standard error, so that the table on standard output stays only rows;
    with ``--json`` the cursor is the answer's ``next``.
    """
    cursor = answer.get("next")
    if cursor is not None:
        session.out.note(f"more: add --before {cursor} for the next page")
