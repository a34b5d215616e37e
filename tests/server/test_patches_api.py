"""``GET /patches``: the status filter, the page size and the cursor."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest

from actors.serve import ServiceHandle
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import patches as patch_store
from tests.support import Repo, register, run_job

# The attempts' statuses, oldest first; the last one is still under way.
STATUSES = [
    "failed",
    "pr_opened",
    "verify_failed",
    "failed",
    "apply_failed",
    "failed",
    "drafting",
]


@pytest.fixture
async def attempts(
    admin: httpx.AsyncClient, service: ServiceHandle, make_repo: Any
) -> list[int]:
    """Attempts with :data:`STATUSES` on a real job's finding; their ids."""
    repo: Repo = make_repo()
    await register(admin, repo, test="exit 1")
    job = (await run_job(admin, "demo", recipe="test"))["job"]["id"]

    def add(conn: sqlite3.Connection) -> list[int]:
        [finding] = finding_store.for_job(conn, job)
        ids = []
        for number, status in enumerate(STATUSES, start=1):
            row = patch_store.start(
                conn,
                finding_id=finding.id,
                job_id=job,
                project="demo",
                owner="admin",
                branch=f"crafting-table/auto/{number}",
                max_attempts=len(STATUSES),
                now=float(number),
            )
            if status != "drafting":
                patch_store.advance(conn, row.id, status=status, now=float(number))
            ids.append(row.id)
        return ids

    ids: list[int] = await service.ledger.write(add)
    return ids


async def listed(admin: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await admin.get("/patches", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ids_of(body: dict[str, Any]) -> list[int]:
    return [p["id"] for p in body["patches"]]


@pytest.mark.parametrize(
    "status",
    ["failed", "pr_opened", "verify_failed", "apply_failed", "drafting", "pushing"],
)
async def test_the_status_filter(
    admin: httpx.AsyncClient, attempts: list[int], status: str
) -> None:
    expected = [i for i, s in zip(attempts, STATUSES, strict=True) if s == status]

    body = await listed(admin, status=status)

    assert ids_of(body) == expected[::-1]
    assert {p["status"] for p in body["patches"]} <= {status}
    assert body["next"] is None


async def test_limit_pages_with_the_next_cursor(
    admin: httpx.AsyncClient, attempts: list[int]
) -> None:
    newest_first = attempts[::-1]

    first = await listed(admin, limit=3)
    second = await listed(admin, limit=3, before=first["next"])
    third = await listed(admin, limit=3, before=second["next"])

    assert ids_of(first) == newest_first[:3]
    assert first["next"] == newest_first[2]
    assert ids_of(second) == newest_first[3:6]
    assert second["next"] == newest_first[5]
    assert ids_of(third) == newest_first[6:]
    assert third["next"] is None
    # A page that holds exactly what is left says there is nothing more.
    assert (await listed(admin, limit=len(attempts)))["next"] is None
    assert ids_of(await listed(admin)) == newest_first


async def test_status_limit_and_cursor_together(
    admin: httpx.AsyncClient, attempts: list[int]
) -> None:
    failed = [i for i, s in zip(attempts, STATUSES, strict=True) if s == "failed"]

    first = await listed(admin, status="failed", limit=2)
    rest = await listed(admin, status="failed", limit=2, before=first["next"])

    assert ids_of(first) == failed[::-1][:2]
    assert first["next"] == failed[1]
    assert ids_of(rest) == failed[:1]
    assert rest["next"] is None
    assert ids_of(await listed(admin, status="failed", project="other")) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"status": "done"}, "status", id="unknown-status"),
        pytest.param({"status": "FAILED"}, "status", id="status-wrong-case"),
        pytest.param({"limit": 0}, "limit", id="limit-zero"),
        pytest.param({"limit": 501}, "limit", id="limit-too-large"),
        pytest.param({"limit": "ten"}, "limit", id="limit-not-a-number"),
        pytest.param({"before": "abc"}, "before", id="cursor-not-a-number"),
        pytest.param({"state": "failed"}, "state", id="unknown-parameter"),
    ],
)
async def test_bad_query_values_are_json_422s(
    admin: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    answer = await admin.get("/patches", params=params)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["ok"] is False
    assert body["error"]["code"] == "validation_failed"
    assert f"field {field!r}" in body["error"]["message"]
    assert [p["field"] for p in body["error"]["details"]["problems"]] == [field]
