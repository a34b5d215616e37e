"""``crafting-table token mint | list | revoke``: bearers (admin token needed)."""

from __future__ import annotations

import argparse

from crafting_table.cli.connection import segment
from crafting_table.cli.output import dash, when
from crafting_table.cli.session import Commands, Session, add_command


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Add ``token`` and its sub-commands."""
    token = commands.add_parser("token", help="mint, list and revoke bearers (admin)")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")

    mint_cmd = add_command(
        actions,
        "mint",
        mint,
        common,
        "mint a bearer; it is printed once, alone on standard output",
    )
    mint_cmd.add_argument("name", help="the token's name, e.g. a person or a bot")
    mint_cmd.add_argument(
        "--admin", action="store_true", help="an admin token (sees every project)"
    )
    mint_cmd.add_argument(
        "--cidr",
        action="append",
        default=[],
        metavar="CIDR",
        help="accept the token only from this address range (repeatable)",
    )

    add_command(actions, "list", list_tokens, common, "list tokens (never bearers)")

    revoke_cmd = add_command(
        actions, "revoke", revoke, common, "revoke a token; its bearer stops working"
    )
    revoke_cmd.add_argument("name", help="the token's name")


def mint(session: Session) -> int:
    """Mint a token; the bearer alone goes to standard output for ``$(...)``."""
    args = session.args
    body = {"name": args.name, "is_admin": args.admin, "ip_cidrs": args.cidr}
    with session.client() as client:
        answer = client.call("POST", "/admin/tokens", body=body)
    if args.json:
        session.out.json(answer)
        return 0
    token = answer["token"]
    session.out.line(answer["bearer"])
    kind = "admin token" if token["is_admin"] else "token"
    session.out.note(
        f"minted {kind} {token['name']!r}; its bearer is shown this once, keep it"
    )
    return 0


def list_tokens(session: Session) -> int:
    """Every token, revoked ones too, as a table."""
    with session.client() as client:
        answer = client.call("GET", "/admin/tokens")
    if session.args.json:
        session.out.json(answer)
        return 0
    out = session.out
    out.table(
        ["NAME", "ADMIN", "CIDRS", "CREATED", "LAST USED", "REVOKED"],
        [
            [
                t["name"],
                dash(t["is_admin"]),
                dash(t["ip_cidrs"]),
                when(t["created_at"]),
                when(t["last_used_at"]),
                (when(t["revoked_at"]), "red") if t["revoked_at"] else "-",
            ]
            for t in answer["tokens"]
        ],
    )
    return 0


def revoke(session: Session) -> int:
    """Revoke a token by name."""
    name = session.args.name
    with session.client() as client:
        answer = client.call("DELETE", f"/admin/tokens/{segment(name)}")
    if session.args.json:
        session.out.json(answer)
    else:
        session.out.line(f"revoked token {name!r}")
    return 0
