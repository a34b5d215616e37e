"""``/digests/{date}`` and ``/admin/digest/run-now`` on the real service.

Jobs run through the real pipeline (a git repository, the Runner, the
generic parser); the digest dated :func:`current_day` covers them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from actors.serve import ServiceHandle
from crafting_table.config import Settings
from crafting_table.digest_schedule import send_time
from tests.digest_service import current_day, quiet_zone, register_notified
from tests.support import Repo, run_job

SUBPROJECTS = [
    {"path": "good", "audit": "exit 0", "test": "exit 0"},
    {"path": "bad", "audit": "echo vulnerable; exit 1", "test": "exit 2"},
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with a digest zone far from 06:00 and links on."""
    return settings.model_copy(
        update={"digest_tz": quiet_zone(), "public_url": "https://ct.example.com/"}
    )


async def _user(admin: httpx.AsyncClient, service: ServiceHandle) -> httpx.AsyncClient:
    answer = await admin.post("/admin/tokens", json={"name": "someone"})
    assert answer.status_code == 201, answer.text
    return httpx.AsyncClient(
        base_url=service.url,
        headers={"Authorization": f"Bearer {answer.json()['bearer']}"},
        timeout=30,
    )


async def _day_of_jobs(admin: httpx.AsyncClient) -> dict[str, str]:
    ids = {}
    for path in ("good", "bad"):
        for recipe in ("audit", "test"):
            body = await run_job(admin, "demo", recipe=recipe, subproject=path)
            ids[f"{path}/{recipe}"] = body["job"]["id"]
    return ids


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ([], {"bad/audit"}),
        (["audit_pass"], {"good/audit"}),
        (["audit_fail"], {"bad/audit"}),
        (["test_fail"], {"bad/test"}),
        (["lint_warn"], set()),
        (["nightly_summary"], {"good/audit", "good/test", "bad/audit", "bad/test"}),
    ],
    ids=[
        "default",
        "audit_pass",
        "audit_fail",
        "test_fail",
        "lint_warn",
        "nightly_summary",
    ],
)
async def test_digest_of_real_jobs_selected_by_notify_on(
    admin: httpx.AsyncClient,
    make_repo: Any,
    settings: Settings,
    on: list[str],
    expected: set[str],
) -> None:
    repo: Repo = make_repo({"good/README": "g\n", "bad/README": "b\n"})
    await register_notified(admin, repo, on=on, subprojects=SUBPROJECTS)
    ids = await _day_of_jobs(admin)
    names = {job_id: name for name, job_id in ids.items()}
    day = current_day(settings.digest_tz)

    answer = await admin.get(f"/digests/{day.isoformat()}")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    [digest] = body["digests"]
    assert {names[j["id"]] for j in digest["jobs"]} == expected
    assert digest["recipients"] == ["ops@example.com"]
    assert digest["delivery"] is None
    assert body["send_at"] == send_time(day, ZoneInfo(settings.digest_tz)).isoformat()
    start = datetime.fromisoformat(body["window_start"])
    end = datetime.fromisoformat(body["window_end"])
    assert start < datetime.now(ZoneInfo(settings.digest_tz)) < end


async def test_a_digest_shows_job_details_and_links(
    admin: httpx.AsyncClient, make_repo: Any, settings: Settings
) -> None:
    repo: Repo = make_repo({"good/README": "g\n", "bad/README": "b\n"})
    await register_notified(admin, repo, on=["audit_fail"], subprojects=SUBPROJECTS)
    failed = await run_job(admin, "demo", recipe="audit", subproject="bad")
    again = await run_job(admin, "demo", recipe="audit", subproject="bad")
    day = current_day(settings.digest_tz).isoformat()

    body = (await admin.get(f"/digests/{day}")).json()

    [digest] = body["digests"]
    first, second = digest["jobs"]
    assert first["id"] == failed["job"]["id"]
    assert first["status"] == "failed"
    assert (first["recipe"], first["subproject"]) == ("audit", "bad")
    assert first["sha"] == failed["job"]["sha"]
    assert first["duration_secs"] == failed["job"]["duration_secs"]
    assert first["counts"] == {"recipe_fail": 1}
    assert [f["state"] for f in first["new_findings"]] == ["new"]
    # The same failure again is not new.
    assert second["id"] == again["job"]["id"]
    assert second["new_findings"] == []
    assert first["url"] == f"https://ct.example.com/jobs/{first['id']}"
    assert (
        first["findings_url"] == f"https://ct.example.com/jobs/{first['id']}/findings"
    )
    assert digest["subject"].startswith("[crafting-table] demo digest " + day)


async def test_projects_without_recipients_are_left_out(
    admin: httpx.AsyncClient, make_repo: Any, settings: Settings
) -> None:
    await register_notified(admin, make_repo(), name="quiet", email=[])
    await register_notified(admin, make_repo(), name="loud")
    day = current_day(settings.digest_tz).isoformat()

    shown = (await admin.get(f"/digests/{day}")).json()
    ran = (await admin.post("/admin/digest/run-now", json={"dry_run": True})).json()

    assert [d["project"] for d in shown["digests"]] == ["loud"]
    by_project = {r["project"]: r for r in ran["results"]}
    assert by_project["quiet"]["status"] == "skipped"
    assert by_project["quiet"]["reason"].startswith("no recipients")
    assert by_project["loud"]["reason"] == "dry run"


async def test_a_dry_run_renders_without_smtp(
    admin: httpx.AsyncClient, make_repo: Any, settings: Settings
) -> None:
    await register_notified(admin, make_repo(), on=["nightly_summary"])
    job = await run_job(admin, "demo", recipe="audit")
    day = current_day(settings.digest_tz).isoformat()

    answer = await admin.post(
        "/admin/digest/run-now", json={"dry_run": True, "date": day, "project": "demo"}
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    [result] = body["results"]
    assert (body["date"], body["dry_run"]) == (day, True)
    shown = (await admin.get(f"/digests/{day}")).json()
    assert (body["window_start"], body["window_end"]) == (
        shown["window_start"],
        shown["window_end"],
    )
    assert body["window_end"].startswith(f"{day}T06:00:00")
    assert result["status"] == "skipped"
    assert result["recipients"] == ["ops@example.com"]
    assert [j["id"] for j in result["digest"]["jobs"]] == [job["job"]["id"]]


@pytest.mark.parametrize(
    "bad",
    [
        "2026-4-29",
        "2026-02-30",
        "yesterday",
        "20260429",
        "2026-04-29T06:00",
        "0001-01-01",
        "9999-12-31",
    ],
    ids=[
        "short-month",
        "no-such-day",
        "word",
        "no-dashes",
        "datetime",
        "first-day",
        "last-day",
    ],
)
async def test_a_bad_date_is_a_422_naming_the_field(
    admin: httpx.AsyncClient, bad: str
) -> None:
    shown = await admin.get(f"/digests/{bad}")
    ran = await admin.post("/admin/digest/run-now", json={"dry_run": True, "date": bad})

    assert shown.status_code == 422, shown.text
    error = shown.json()["error"]
    assert error["details"]["field"] == "date"
    assert error["message"].count("'date'") == 1
    [problem] = error["details"]["problems"]
    assert problem["field"] == "date"
    assert not problem["problem"].startswith("field")
    assert ran.status_code == 422, ran.text
    assert ran.json()["error"]["details"]["problems"][0]["field"] == "date"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"dry_run": True, "dryrun": True}, 422, "validation_failed"),
        ({"dry_run": "maybe"}, 422, "validation_failed"),
        ({"dry_run": True, "project": "nope"}, 404, "not_found"),
        ({"dry_run": False}, 503, "not_configured"),
        ({}, 503, "not_configured"),
    ],
    ids=["unknown-field", "bad-flag", "unknown-project", "send-without-smtp", "empty"],
)
async def test_run_now_refusals(
    admin: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    answer = await admin.post("/admin/digest/run-now", json=body)

    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


async def test_run_now_takes_a_body_without_a_content_type(
    admin: httpx.AsyncClient,
) -> None:
    answer = await admin.post(
        "/admin/digest/run-now",
        content=b'{"dry_run": true}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["dry_run"] is True


async def test_digests_are_for_admins_only(
    admin: httpx.AsyncClient, service: ServiceHandle
) -> None:
    async with await _user(admin, service) as user:
        shown = await user.get("/digests/2026-04-29")
        ran = await user.post("/admin/digest/run-now", json={"dry_run": True})

    assert shown.status_code == 403
    assert ran.status_code == 403


async def test_the_openapi_document_shows_the_digest_models(
    admin: httpx.AsyncClient,
) -> None:
    document = (await admin.get("/openapi.json")).json()

    def schema(path: str, method: str, where: str) -> dict[str, Any]:
        operation = document["paths"][path][method]
        if where == "request":
            holder = operation["requestBody"]
        else:
            holder = operation["responses"]["200"]
        found: dict[str, Any] = holder["content"]["application/json"]["schema"]
        return found

    request = schema("/admin/digest/run-now", "post", "request")
    assert request["title"] == "RunNowIn"
    assert set(request["properties"]) == {"dry_run", "date", "project"}
    assert request["additionalProperties"] is False
    assert schema("/admin/digest/run-now", "post", "answer")["title"] == "RunNowAnswer"
    assert schema("/digests/{date}", "get", "answer")["title"] == "DigestAnswer"


@pytest.mark.parametrize(
    "address",
    ["not-an-address", "a@b.com\r\nBcc: x@y", "a@b.com, c@d.com", "a@b.com\n"],
    ids=["no-at", "crlf-bcc", "two-addresses", "trailing-newline"],
)
async def test_registering_a_bad_address_is_a_422_naming_the_field(
    admin: httpx.AsyncClient, make_repo: Any, address: str
) -> None:
    repo: Repo = make_repo()
    answer = await admin.post(
        "/projects",
        json={
            "name": "demo",
            "git_url": repo.url,
            "subprojects": [{"path": ".", "test": "true"}],
            "notify": {"email": ["ok@example.com", address]},
        },
    )

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["details"]["problems"][0]["field"] == "notify.email.1"
    assert "'notify.email.1'" in error["message"]
    assert (await admin.get("/projects/demo")).status_code == 404
