"""Bearers, addresses and the token cache."""

from __future__ import annotations

import ipaddress

import pytest

from crafting_table.auth import (
    TokenCache,
    bearer_from_header,
    client_address,
    hash_bearer,
    mint_bearer,
    networks,
)


def test_bearers_are_long_random_and_stored_as_hashes() -> None:
    first, second = mint_bearer(), mint_bearer()

    assert first.startswith("ct_")
    assert len(first) >= 3 + 43
    assert first != second
    assert hash_bearer(first) != first
    assert len(hash_bearer(first)) == 64


@pytest.mark.parametrize(
    ("header", "bearer"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_bearer_from_header(header: str | None, bearer: str | None) -> None:
    assert bearer_from_header(header) == bearer


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("127.0.0.1", "8.8.8.8", "8.8.8.8", id="trusted-proxy"),
        pytest.param("10.1.1.1", "8.8.8.8", "10.1.1.1", id="untrusted-peer"),
        pytest.param("127.0.0.1", "8.8.8.8, 127.0.0.1", "8.8.8.8", id="chain"),
        pytest.param("127.0.0.1", "garbage", "127.0.0.1", id="garbage"),
        pytest.param("::ffff:127.0.0.1", None, "127.0.0.1", id="mapped"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    trusted = networks(["127.0.0.0/8"])

    assert client_address(peer, forwarded, trusted) == ipaddress.ip_address(expected)


def test_token_cache_expires_and_clears() -> None:
    now = [0.0]
    cache = TokenCache(ttl=10, clock=lambda: now[0])
    cache.put("h", "row")

    assert cache.get("h") == "row"
    now[0] = 11
    assert cache.get("h") is None
    cache.put("h", "row")
    cache.clear()
    assert cache.get("h") is None
