"""Bearers and addresses: who is calling, and from where.

A bearer is ``ct_`` plus 32 random bytes (URL-safe base64). The ledger
stores only its SHA-256: a bearer has 256 bits of entropy, so a fast hash
is enough, and looking a token up by its hash means the comparison never
runs over the secret itself. The hash lookup is followed by a
constant-time comparison so that no early-exit string compare is ever made
on secret-derived bytes in Python either.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BEARER_PREFIX = "ct_"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def mint_bearer() -> str:
    """A new random bearer."""
    return BEARER_PREFIX + secrets.token_urlsafe(32)


def hash_bearer(bearer: str) -> str:
    """The hex SHA-256 the ledger keeps in place of a bearer."""
    return hashlib.sha256(bearer.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Compare two hashes in constant time."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def bearer_from_header(value: str | None) -> str | None:
    """The bearer of an ``Authorization: Bearer <token>`` header, if any."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def networks(cidrs: Iterable[str]) -> list[IPNetwork]:
    """Parse address ranges (already validated by settings or models)."""
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def parse_address(value: str | None) -> IPAddress | None:
    """An IP address from a peer or header value, or None."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def allowed(address: IPAddress | None, ranges: Sequence[IPNetwork]) -> bool:
    """True when ``address`` lies in one of ``ranges``."""
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in ranges)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> IPAddress | None:
    """The caller's address, believing ``X-Forwarded-For`` only from a trusted proxy.

    The header is read right to left, skipping trusted proxies, so a client
    cannot choose its address by sending the header itself.
    """
    address = parse_address(peer)
    if not forwarded_for or not allowed(address, trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        candidate = parse_address(hop)
        if candidate is None:
            return address
        if not allowed(candidate, trusted):
            return candidate
        address = candidate
    return address


class TokenCache:
    """Tokens seen lately, by bearer hash: most requests then read no ledger.

    An entry lives ``ttl`` seconds. Whatever revokes, rotates or mints a
    token calls :meth:`clear`, so a revoked bearer fails on its very next
    request; the time limit only bounds how stale a cached row's other
    fields (its address ranges) can be.
    """

    def __init__(
        self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, token_hash: str) -> Any | None:
        """The cached row for ``token_hash``, or None."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry[0] < self._clock():
            del self._entries[token_hash]
            return None
        return entry[1]

    def put(self, token_hash: str, row: Any) -> None:
        """Remember ``row`` for ``token_hash``."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token_hash] = (self._clock() + self.ttl, row)

    def clear(self) -> None:
        """Forget every token (after a revoke, a rotation or a mint)."""
        self._entries.clear()
