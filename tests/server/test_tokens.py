"""Bearers are shown once, when minted: never listed, never stored in clear."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import httpx

from actors.serve import ServiceHandle


async def mint_some(admin: httpx.AsyncClient) -> list[str]:
    """Mint a plain, an admin and an address-bound token; return the bearers."""
    bodies: list[dict[str, Any]] = [
        {"name": "alice"},
        {"name": "root2", "is_admin": True},
        {"name": "carol", "ip_cidrs": ["10.9.0.0/16"]},
    ]
    bearers = []
    for body in bodies:
        answer = await admin.post("/admin/tokens", json=body)
        assert answer.status_code == 201, answer.text
        bearers.append(answer.json()["bearer"])
    return bearers


async def test_token_list_never_holds_a_bearer(
    service: ServiceHandle, admin: httpx.AsyncClient
) -> None:
    assert service.admin_bearer is not None
    bearers = [service.admin_bearer, *await mint_some(admin)]
    # A revoked token is listed too, and its bearer must not be either.
    assert (await admin.delete("/admin/tokens/carol")).status_code == 200

    answer = await admin.get("/admin/tokens")

    assert answer.status_code == 200
    listed = answer.json()["tokens"]
    assert {t["name"] for t in listed} == {"admin", "alice", "root2", "carol"}
    for bearer in bearers:
        # Neither the bearer, its random part, nor the hash that stands for it.
        assert bearer not in answer.text
        assert bearer.removeprefix("ct_") not in answer.text
        assert hashlib.sha256(bearer.encode()).hexdigest() not in answer.text
    for token in listed:
        assert set(token) == {
            "name",
            "is_admin",
            "ip_cidrs",
            "created_at",
            "last_used_at",
            "revoked_at",
        }


async def test_the_ledger_file_holds_no_clear_bearer(
    service: ServiceHandle, admin: httpx.AsyncClient
) -> None:
    assert service.admin_bearer is not None
    bearers = [service.admin_bearer, *await mint_some(admin)]
    ledger = service.settings.ledger_path
    # Every bearer is used once, so its token row is written again.
    for bearer in bearers[:2]:
        async with httpx.AsyncClient(
            base_url=service.url, headers={"Authorization": f"Bearer {bearer}"}
        ) as client:
            assert (await client.get("/projects")).status_code == 200

    # The database with its write-ahead log: recent writes live in the log.
    files = [p for p in ledger.parent.iterdir() if p.name.startswith(ledger.name)]
    raw = b"".join(p.read_bytes() for p in files)
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute("SELECT * FROM tokens").fetchall()
        hashes = {r[0] for r in conn.execute("SELECT token_hash FROM tokens")}

    assert any(p.name.endswith("-wal") for p in files)
    assert len(rows) == len(bearers)
    for bearer in bearers:
        # What stands for the bearer is in the bytes read; the bearer is not.
        assert hashlib.sha256(bearer.encode()).hexdigest().encode() in raw
        assert bearer.encode() not in raw
        assert bearer.removeprefix("ct_").encode() not in raw
        assert not any(bearer in str(value) for row in rows for value in row)
        assert hashlib.sha256(bearer.encode()).hexdigest() in hashes


async def test_a_token_range_outside_the_lan_is_refused(
    admin: httpx.AsyncClient,
) -> None:
    outside = await admin.post(
        "/admin/tokens",
        json={"name": "dave", "ip_cidrs": ["10.1.0.0/16", "8.8.8.0/24"]},
    )
    straddling = await admin.post(
        "/admin/tokens", json={"name": "erin", "ip_cidrs": ["0.0.0.0/0", "::1/128"]}
    )

    assert outside.status_code == 422, outside.text
    error = outside.json()["error"]
    assert error["details"]["field"] == "ip_cidrs"
    assert "'8.8.8.0/24' lies outside CRAFTING_LAN_CIDRS" in error["message"]
    assert "give ranges inside it, or widen the setting" in error["message"]
    assert straddling.status_code == 201, straddling.text
    names = [t["name"] for t in (await admin.get("/admin/tokens")).json()["tokens"]]
    assert "dave" not in names
