"""``/admin/tokens``: mint, list and revoke bearers (admin only)."""

from __future__ import annotations

import ipaddress
import time

from quart import Blueprint
from quart_schema import validate_request, validate_response

from crafting_table.auth import hash_bearer, mint_bearer
from crafting_table.errors import Conflict, NotFound, Unprocessable
from crafting_table.ledger import tokens as token_store
from crafting_table.ledger.tokens import TokenRow
from crafting_table.models import (
    Deleted,
    TokenIn,
    TokenList,
    TokenMinted,
    TokenOut,
    iso,
)
from crafting_table.server.access import require_admin
from crafting_table.server.app import context

blueprint = Blueprint("tokens", __name__)


def token_out(row: TokenRow) -> TokenOut:
    """The listed form of a token: everything but its bearer."""
    return TokenOut(
        name=row.name,
        is_admin=row.is_admin,
        ip_cidrs=row.ip_cidrs,
        created_at=iso(row.created_at),
        last_used_at=iso(row.last_used_at),
        revoked_at=iso(row.revoked_at),
    )


@blueprint.post("/admin/tokens")
@validate_request(TokenIn)
@validate_response(TokenMinted, 201)
async def mint(data: TokenIn) -> tuple[TokenMinted, int]:
    """Mint a bearer; it is shown in this answer and never again.

    Minting the name of a revoked token rotates it: the name keeps its
    projects. An active token of that name is a 409.
    """
    require_admin()
    _check_within_lan(data.ip_cidrs, context().settings.lan_cidrs)
    bearer = mint_bearer()
    row = await context().ledger.write(
        token_store.mint,
        data.name,
        hash_bearer(bearer),
        data.is_admin,
        data.ip_cidrs,
        time.time(),
    )
    context().token_cache.clear()
    return TokenMinted(bearer=bearer, token=token_out(row)), 201


def _check_within_lan(cidrs: list[str], lan: list[str]) -> None:
    """Refuse a token range no caller could come from: it narrows the LAN's."""
    networks = [ipaddress.ip_network(n, strict=False) for n in lan]
    for cidr in cidrs:
        own = ipaddress.ip_network(cidr)
        if not any(own.version == n.version and own.overlaps(n) for n in networks):
            raise Unprocessable(
                f"ip_cidrs {cidr!r} lies outside CRAFTING_LAN_CIDRS "
                f"({', '.join(lan)}), so no request could use this token; give "
                "ranges inside it, or widen the setting",
                field="ip_cidrs",
            )


@blueprint.get("/admin/tokens")
@validate_response(TokenList)
async def list_tokens() -> TokenList:
    """Every token, revoked ones included; never a bearer."""
    require_admin()
    rows = await context().ledger.read(token_store.list_all)
    return TokenList(tokens=[token_out(r) for r in rows])


@blueprint.delete("/admin/tokens/<name>")
@validate_response(Deleted)
async def revoke(name: str) -> Deleted:
    """Revoke a token; its next request is refused.

    The last active admin token cannot be revoked: nobody could mint a new
    one afterwards.
    """
    require_admin()
    outcome = await context().ledger.write(
        token_store.revoke_checked, name, time.time()
    )
    context().token_cache.clear()
    if outcome == "missing":
        raise NotFound(f"no active token named {name!r}")
    if outcome == "last_admin":
        raise Conflict(
            f"{name!r} is the last admin token; mint another admin token first"
        )
    return Deleted(deleted=name)
