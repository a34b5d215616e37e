"""The API as a client meets it: logs, websockets, errors, the OpenAPI document."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import trio
from quart import Quart
from quart_schema.validation import QUART_SCHEMA_QUERYSTRING_ATTRIBUTE
from trio_websocket import ConnectionRejected, open_websocket_url

from actors.serve import ServiceHandle
from crafting_table.server.app import PUBLIC_PATHS, PUBLIC_PREFIXES, create_app
from crafting_table.server.context import AppContext
from tests.support import Repo, enqueue, register, run_job, wait_job

# Prints numbered lines for about two seconds, flushing each one.
TICKER = "i=0; while [ $i -lt 40 ]; do echo line-$i; i=$((i+1)); sleep 0.05; done"


def service_app(service: ServiceHandle) -> Quart:
    """An application like the one ``service`` serves: the same routes."""
    context = AppContext(
        settings=service.settings, ledger=service.ledger, runner=service.refs["runner"]
    )
    return create_app(context)


async def watch(
    url: str, headers: list[tuple[bytes, bytes]]
) -> tuple[list[str], dict[str, Any]]:
    """Every line a websocket watcher receives, and the final message."""
    lines: list[str] = []
    async with open_websocket_url(url, extra_headers=headers) as ws:
        with trio.fail_after(30):
            while True:
                message = json.loads(await ws.get_message())
                if message["type"] == "end":
                    return lines, message
                lines.extend(message["lines"])


async def test_websocket_tail_loses_nothing(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test=TICKER)
    job_id = await enqueue(admin, "demo", recipe="test")
    # Join once some lines are in the file, so the backlog and the live
    # part both carry lines.
    with trio.fail_after(20):
        while "line-3" not in (await admin.get(f"/jobs/{job_id}")).json()["log_tail"]:
            await trio.sleep(0.02)
    url = service.url.replace("http://", "ws://") + f"/jobs/{job_id}/log/ws"
    headers = [(b"Authorization", f"Bearer {service.admin_bearer}".encode())]

    results: list[tuple[list[str], dict[str, Any]]] = []

    async def one() -> None:
        results.append(await watch(url, headers))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(one)

    log = (await admin.get(f"/jobs/{job_id}/log")).text.splitlines()
    for lines, final in results:
        assert lines == log
        assert [x for x in lines if x.startswith("line-")] == [
            f"line-{i}" for i in range(40)
        ]
        assert final["status"] == "succeeded"
        assert final["exit_code"] == 0


async def test_websocket_on_a_queued_job_waits_for_it(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo first; sleep 1", lint="echo second")
    await admin.put(
        "/projects/demo",
        json={
            "name": "demo",
            "git_url": repo.url,
            "max_concurrent_jobs": 1,
            "subprojects": [
                {"path": ".", "test": "echo first; sleep 1", "lint": "echo second"}
            ],
        },
    )
    await enqueue(admin, "demo", recipe="test")
    queued = await enqueue(admin, "demo", recipe="lint")
    assert (await admin.get(f"/jobs/{queued}")).json()["job"]["status"] == "queued"
    url = service.url.replace("http://", "ws://") + f"/jobs/{queued}/log/ws"

    lines, final = await watch(
        url, [(b"Authorization", f"Bearer {service.admin_bearer}".encode())]
    )

    assert "second" in lines
    assert final["status"] == "succeeded"


async def test_log_download_resumes(admin: httpx.AsyncClient, make_repo: Any) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="seq 1 2000")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    whole = await admin.get(f"/jobs/{job_id}/log")
    middle = len(whole.content) // 2

    by_offset = await admin.get(f"/jobs/{job_id}/log", params={"offset": middle})
    by_range = await admin.get(
        f"/jobs/{job_id}/log", headers={"Range": f"bytes={middle}-"}
    )
    past_end = await admin.get(
        f"/jobs/{job_id}/log", headers={"Range": f"bytes={len(whole.content) + 5}-"}
    )

    assert whole.status_code == 200
    assert "1999" in whole.text
    assert by_offset.status_code == by_range.status_code == 206
    assert whole.content[:middle] + by_offset.content == whole.content
    assert by_range.content == by_offset.content
    assert by_range.headers["Content-Range"] == (
        f"bytes {middle}-{len(whole.content) - 1}/{len(whole.content)}"
    )
    assert past_end.status_code == 416
    assert past_end.json()["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize(
    ("range_header", "status", "part"),
    [
        pytest.param("bytes=10-19", 206, slice(10, 20), id="first-last"),
        pytest.param("bytes=10-99999999", 206, slice(10, None), id="last-past-end"),
        pytest.param("bytes=-20", 206, slice(-20, None), id="suffix"),
        pytest.param("bytes=-99999999", 206, slice(None), id="suffix-over-size"),
        pytest.param("Bytes=-20", 206, slice(-20, None), id="unit-any-case"),
        pytest.param("items=0-5", 200, slice(None), id="unknown-unit-ignored"),
    ],
)
async def test_log_range_is_served(
    admin: httpx.AsyncClient,
    make_repo: Any,
    range_header: str,
    status: int,
    part: slice,
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="seq 1 2000")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    whole = (await admin.get(f"/jobs/{job_id}/log")).content
    size = len(whole)

    answer = await admin.get(f"/jobs/{job_id}/log", headers={"Range": range_header})

    assert answer.status_code == status, answer.text
    assert answer.content == whole[part]
    assert answer.headers["Content-Length"] == str(len(whole[part]))
    assert answer.headers["X-Log-Size"] == str(size)
    first = part.indices(size)[0]
    expected_range = f"bytes {first}-{first + len(whole[part]) - 1}/{size}"
    assert answer.headers.get("Content-Range") == (
        expected_range if status == 206 else None
    )


@pytest.mark.parametrize(
    "range_header",
    [
        pytest.param("bytes=5-2", id="last-before-first"),
        pytest.param("bytes={size}-", id="starts-at-end"),
        pytest.param("bytes={size}-{size}", id="first-last-at-end"),
        pytest.param("bytes=-0", id="empty-suffix"),
        pytest.param("bytes=0-1,4-5", id="several-ranges"),
        pytest.param("bytes=x-", id="not-a-number"),
        pytest.param("bytes=-", id="no-numbers"),
        pytest.param("bytes=" + "9" * 5000 + "-", id="huge-number"),
    ],
)
async def test_log_range_that_cannot_be_served_is_a_416(
    admin: httpx.AsyncClient, make_repo: Any, range_header: str
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="seq 1 2000")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    size = len((await admin.get(f"/jobs/{job_id}/log")).content)
    range_header = range_header.format(size=size)

    answer = await admin.get(f"/jobs/{job_id}/log", headers={"Range": range_header})

    assert answer.status_code == 416, answer.text
    assert answer.headers["Content-Range"] == f"bytes */{size}"
    body = answer.json()
    assert body["ok"] is False
    assert body["error"]["code"] == "range_not_satisfiable"
    assert repr(range_header[:20])[:-1] in body["error"]["message"]
    assert "send" in body["error"]["message"]


async def test_log_offset_at_the_end_answers_nothing_new(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="seq 1 2000")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    size = len((await admin.get(f"/jobs/{job_id}/log")).content)

    at_end = await admin.get(f"/jobs/{job_id}/log", params={"offset": size})
    past_end = await admin.get(f"/jobs/{job_id}/log", params={"offset": size + 1})

    assert at_end.status_code == 204
    assert at_end.content == b""
    assert "Content-Range" not in at_end.headers
    assert at_end.headers["X-Log-Size"] == str(size)
    assert at_end.headers["X-Job-Status"] == "succeeded"
    assert past_end.status_code == 416
    assert past_end.headers["Content-Range"] == f"bytes */{size}"
    assert past_end.json()["error"]["message"].startswith(f"offset {size + 1} ")


async def test_log_of_a_queued_job_is_empty(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    sub = {"path": ".", "test": "sleep 30", "lint": "echo second"}
    project = {"git_url": repo.url, "max_concurrent_jobs": 1, "subprojects": [sub]}
    await admin.post("/projects", json={"name": "demo", **project})
    running = await enqueue(admin, "demo", recipe="test")
    queued = await enqueue(admin, "demo", recipe="lint")
    assert (await admin.get(f"/jobs/{queued}")).json()["job"]["status"] == "queued"
    url = f"/jobs/{queued}/log"

    whole = await admin.get(url)
    from_start = await admin.get(url, params={"offset": 0})
    by_range = await admin.get(url, headers={"Range": "bytes=0-"})
    suffix = await admin.get(url, headers={"Range": "bytes=-5"})
    await admin.post(f"/jobs/{running}/cancel")

    assert (whole.status_code, whole.content) == (200, b"")
    assert (from_start.status_code, from_start.content) == (204, b"")
    assert by_range.status_code == 416
    assert by_range.headers["Content-Range"] == "bytes */0"
    # Every suffix of an empty log is empty, which no Content-Range can
    # state: the Range is ignored and the whole, empty, log answers.
    assert (suffix.status_code, suffix.content) == (200, b"")
    assert "Content-Range" not in suffix.headers


@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param("offset=-1", 422, id="negative"),
        pytest.param("offset=abc", 422, id="not-a-number"),
        pytest.param("ofset=5", 422, id="misspelt"),
    ],
)
async def test_log_query_is_checked(
    admin: httpx.AsyncClient, make_repo: Any, query: str, status: int
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo hi")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]

    answer = await admin.get(f"/jobs/{job_id}/log?{query}")

    assert answer.status_code == status, answer.text
    problems = answer.json()["error"]["details"]["problems"]
    assert problems[0]["field"] == query.split("=")[0]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/jobs/{job}/log", id="log"),
        pytest.param("GET", "/jobs/{job}", id="job"),
        pytest.param("GET", "/jobs/{job}/findings", id="findings"),
        pytest.param("GET", "/jobs/{job}/findings.sarif", id="sarif"),
        pytest.param("GET", "/jobs", id="jobs"),
        pytest.param("GET", "/projects/demo", id="project"),
        pytest.param("GET", "/projects", id="projects"),
        pytest.param("GET", "/patches", id="patches"),
        pytest.param("GET", "/admin/tokens", id="tokens"),
        pytest.param("GET", "/digests/2026-01-01", id="digest"),
        pytest.param("GET", "/healthz", id="healthz"),
        pytest.param("GET", "/openapi.json", id="openapi"),
        pytest.param("POST", "/jobs/{job}/retry", id="retry"),
        pytest.param("DELETE", "/projects/demo", id="delete"),
    ],
)
async def test_unknown_query_parameters_are_refused(
    admin: httpx.AsyncClient, make_repo: Any, method: str, path: str
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo hi")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    url = path.format(job=job_id) + "?ofset=5&x=1"

    answer = await admin.request(method, url)

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert "'ofset'" in error["message"]
    assert [p["field"] for p in error["details"]["problems"]] == ["ofset", "x"]
    assert (await admin.get(f"/jobs/{job_id}")).json()["job"]["retry_of"] is None


async def test_a_parameter_given_empty_counts_as_left_out(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="echo hi")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]

    listed = await admin.get("/jobs?project=&status=&recipe=&limit=&before=")
    findings = await admin.get(f"/jobs/{job_id}/findings?kind=&severity=&new=")
    unknown = await admin.get("/jobs?project=&prject=")

    assert listed.status_code == 200, listed.text
    assert [job["id"] for job in listed.json()["jobs"]] == [job_id]
    assert findings.status_code == 200, findings.text
    assert unknown.status_code == 422, unknown.text
    [problem] = unknown.json()["error"]["details"]["problems"]
    assert problem["field"] == "prject"


async def test_a_rule_over_several_fields_names_none_and_says_what_to_do(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), test="echo hi")

    both = await admin.post(
        "/projects/demo/jobs", json={"recipe": "test", "ref": "main", "sha": "a" * 40}
    )

    assert both.status_code == 422, both.text
    error = both.json()["error"]
    [problem] = error["details"]["problems"]
    assert problem["field"] == ""
    assert not problem["problem"].startswith("Value error")
    assert error["message"] == problem["problem"]


async def test_a_cursor_that_is_no_job_id_is_refused(
    admin: httpx.AsyncClient,
) -> None:
    answer = await admin.get("/jobs?before=zzz")

    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["error"]["details"]["problems"]
    assert problem["field"] == "before"


async def test_options_is_a_json_405(admin: httpx.AsyncClient) -> None:
    answer = await admin.options("/jobs")

    assert answer.status_code == 405, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["ok"] is False


async def test_websocket_refuses_unknown_query_parameters(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo hi")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]
    url = service.url.replace("http://", "ws://") + f"/jobs/{job_id}/log/ws?x=1"
    headers = [(b"Authorization", f"Bearer {service.admin_bearer}".encode())]

    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(url, extra_headers=headers):
            pass

    assert rejected.value.status_code == 422
    assert b"'x'" in (rejected.value.body or b"")


async def test_every_query_model_refuses_unknown_names(
    service: ServiceHandle,
) -> None:
    models = [
        getattr(view, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE)
        for view in service_app(service).view_functions.values()
        if hasattr(view, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE)
    ]

    assert len(models) >= 5
    for model in models:
        assert model.model_config.get("extra") == "forbid", model


async def test_tail_is_the_last_200_lines(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="seq 1 5000")

    body = await run_job(admin, "demo", recipe="test")

    assert len(body["log_tail"]) == 200
    assert body["log_tail"][-2] == "5000"
    assert body["log_tail"][0] == str(5000 - 198)


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "code"),
    [
        pytest.param(
            "POST", "/projects", b"{not json", 400, "bad_request", id="bad-json"
        ),
        pytest.param(
            "POST", "/projects", b"[1, 2]", 422, "validation_failed", id="not-object"
        ),
        pytest.param(
            "POST",
            "/projects",
            b"[" * 100_000 + b"]" * 100_000,
            400,
            "bad_request",
            id="too-deep",
        ),
        pytest.param(
            "POST",
            "/projects",
            b'{"name": "x", "git_url": "/srv/x", "subprojects": [{}], "colour": "red"}',
            422,
            "validation_failed",
            id="unknown-field",
        ),
        pytest.param(
            "POST", "/projects", b"{}", 422, "validation_failed", id="missing"
        ),
        pytest.param("GET", "/nowhere", None, 404, "not_found", id="no-route"),
        pytest.param(
            "DELETE", "/jobs", None, 405, "method_not_allowed", id="bad-method"
        ),
        pytest.param(
            "GET", "/jobs?limit=0", None, 422, "validation_failed", id="bad-query"
        ),
        pytest.param(
            "GET", "/jobs?color=1", None, 422, "validation_failed", id="unknown-query"
        ),
        pytest.param(
            "POST", "/projects", b"x" * 2_000_000, 413, "payload_too_large", id="big"
        ),
    ],
)
async def test_errors_are_json(
    admin: httpx.AsyncClient,
    method: str,
    path: str,
    content: bytes | None,
    status: int,
    code: str,
) -> None:
    answer = await admin.request(method, path, content=content)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["ok"] is False
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


async def test_validation_names_the_field(admin: httpx.AsyncClient) -> None:
    answer = await admin.post(
        "/projects",
        json={"name": "x", "git_url": "/srv/x", "subprojects": [{"path": "../up"}]},
    )

    assert answer.status_code == 422
    assert "subprojects.0.path" in answer.json()["error"]["message"]


async def test_undefined_recipe_is_named(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="true")

    answer = await admin.post("/projects/demo/jobs", json={"recipe": "audit"})

    assert answer.status_code == 422
    assert "no 'audit' recipe" in answer.json()["error"]["message"]
    assert answer.json()["error"]["details"]["field"] == "recipe"


async def _register_paths(
    admin: httpx.AsyncClient, make_repo: Any, paths: list[str]
) -> None:
    repo: Repo = make_repo({f"{p}/README": "x\n" for p in paths})
    subprojects = [{"path": p, "test": "true"} for p in paths]
    answer = await admin.post(
        "/projects",
        json={"name": "demo", "git_url": repo.url, "subprojects": subprojects},
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    "paths",
    [pytest.param(["."], id="root"), pytest.param(["py"], id="one-folder")],
)
async def test_a_job_without_subproject_runs_the_only_one(
    admin: httpx.AsyncClient, make_repo: Any, paths: list[str]
) -> None:
    await _register_paths(admin, make_repo, paths)

    body = await run_job(admin, "demo", recipe="test")

    assert (body["job"]["subproject"], body["job"]["status"]) == (paths[0], "succeeded")


@pytest.mark.parametrize(
    ("paths", "body", "message"),
    [
        pytest.param(
            [".", "py"],
            {"recipe": "test"},
            "project 'demo' has 2 subprojects and the request names none; "
            "set 'subproject' to one of '.', 'py'",
            id="several-with-a-root",
        ),
        pytest.param(
            ["py", "rs"],
            {"recipe": "test"},
            "project 'demo' has 2 subprojects and the request names none; "
            "set 'subproject' to one of 'py', 'rs'",
            id="several-without-a-root",
        ),
        pytest.param(
            ["py", "rs"],
            {"recipe": "test", "subproject": "go"},
            "project 'demo' has no subproject 'go'; set 'subproject' to one of "
            "'py', 'rs'",
            id="unknown",
        ),
    ],
)
async def test_a_job_must_name_one_of_several_subprojects(
    admin: httpx.AsyncClient,
    make_repo: Any,
    paths: list[str],
    body: dict[str, str],
    message: str,
) -> None:
    await _register_paths(admin, make_repo, paths)

    answer = await admin.post("/projects/demo/jobs", json=body)

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"] == message
    assert [p["field"] for p in error["details"]["problems"]] == ["subproject"]
    assert (await admin.get("/jobs")).json()["jobs"] == []


async def test_openapi_says_when_subproject_may_be_left_out(
    admin: httpx.AsyncClient,
) -> None:
    paths = (await admin.get("/openapi.json")).json()["paths"]

    body = paths["/projects/{name}/jobs"]["post"]["requestBody"]["content"]
    field = body["application/json"]["schema"]["properties"]["subproject"]
    assert "only when the project has a single subproject" in field["description"]


def app_operations(service: ServiceHandle) -> set[tuple[str, str]]:
    """(path as OpenAPI writes it, method) of every route the app serves."""
    operations = set()
    for rule in service_app(service).url_map.iter_rules():
        path = re.sub(r"<(?:[^:]*:)?([^>]+)>", r"{\1}", rule.rule)
        methods = {"GET"} if rule.websocket else rule.methods or set()
        for method in methods - {"HEAD", "OPTIONS"}:
            operations.add((path, method.lower()))
    return operations


async def test_openapi_describes_every_route(
    service: ServiceHandle, admin: httpx.AsyncClient
) -> None:
    document = (await admin.get("/openapi.json")).json()

    paths = document["paths"]
    described = {(path, method) for path, ops in paths.items() for method in ops}
    assert described == app_operations(service)
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert sorted(ids) == sorted(set(ids))
    for path, method in described:
        codes = set(paths[path][method]["responses"])
        assert "default" in codes, (path, method)
        assert any(c.startswith("2") or c == "101" for c in codes), (path, method)
    body = paths["/projects"]["post"]["requestBody"]["content"]["application/json"]
    assert {"name", "git_url", "subprojects"} <= set(body["schema"]["properties"])
    assert body["schema"]["additionalProperties"] is False
    for public in ("/healthz", "/metrics", "/openapi.json", "/docs"):
        assert paths[public]["get"]["security"] == [], public
    assert paths["/hooks/gitea/{name}"]["post"]["security"] == []
    assert "security" not in paths["/jobs"]["get"]


async def test_openapi_describes_answers_that_are_not_json(
    admin: httpx.AsyncClient,
) -> None:
    paths = (await admin.get("/openapi.json")).json()["paths"]

    log = paths["/jobs/{job_id}/log"]["get"]
    assert {"offset", "range"} <= {p["name"] for p in log["parameters"]}
    assert {"200", "204", "206", "416"} <= set(log["responses"])
    assert "text/plain" in log["responses"]["206"]["content"]
    assert "Content-Range" in log["responses"]["206"]["headers"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/html" in paths["/docs"]["get"]["responses"]["200"]["content"]
    sarif = paths["/jobs/{job_id}/findings.sarif"]["get"]["responses"]["200"]
    assert "application/sarif+json" in sarif["content"]
    health = paths["/healthz"]["get"]["responses"]["200"]["content"]
    assert health["application/json"]["schema"]["title"] == "HealthAnswer"


async def test_openapi_describes_the_websocket(admin: httpx.AsyncClient) -> None:
    paths = (await admin.get("/openapi.json")).json()["paths"]

    follow = paths["/jobs/{job_id}/log/ws"]["get"]
    text = follow["summary"] + follow["description"]
    assert "101" in follow["responses"]
    assert "sec-websocket-protocol" in {p["name"] for p in follow["parameters"]}
    assert "Authorization: Bearer <token>" in text
    assert "crafting-table, bearer.<token>" in text
    assert '{"type": "lines", "lines":' in text
    assert '{"type": "end", "status":' in text
    assert "exit_code" in text
    assert "findings_count" in text


async def test_plain_get_on_the_websocket_is_a_426(admin: httpx.AsyncClient) -> None:
    answer = await admin.get("/jobs/nope/log/ws")

    assert answer.status_code == 426
    assert answer.headers["Upgrade"] == "websocket"
    assert answer.json()["error"]["code"] == "upgrade_required"


async def test_docs_page_shows_models_and_public_paths(
    admin: httpx.AsyncClient,
) -> None:
    docs = await admin.get("/docs")

    assert docs.headers["content-type"].startswith("text/html")
    assert "POST /projects/{name}/jobs" in docs.text
    assert "GET /jobs/{job_id}/log/ws" in docs.text
    assert "``" not in docs.text
    assert "<code>on_push</code> recipes run" in docs.text
    assert "Body (application/json): <a href='#ProjectIn'>ProjectIn</a>" in docs.text
    models = docs.text[docs.text.index("<h2>Models</h2>") :]
    project_in = models[models.index("id='ProjectIn'") :]
    project_in = project_in[: project_in.index("</ul>")]
    for field in ("name", "git_url", "subprojects", "webhook_secret"):
        assert f"<code>{field}</code>" in project_in
    intro = docs.text[: docs.text.index("<h3>")]
    for public in (*PUBLIC_PATHS, *PUBLIC_PREFIXES):
        assert f"<code>{public}</code>" in intro


async def test_jobs_pages_with_a_cursor(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="true")
    ids = [await enqueue(admin, "demo", recipe="test") for _ in range(5)]
    for job_id in ids:
        await wait_job(admin, job_id)

    first = (await admin.get("/jobs", params={"limit": 2})).json()
    second = (
        await admin.get("/jobs", params={"limit": 2, "before": first["next"]})
    ).json()
    third = (
        await admin.get("/jobs", params={"limit": 2, "before": second["next"]})
    ).json()

    seen = [j["id"] for page in (first, second, third) for j in page["jobs"]]
    assert seen == list(reversed(ids))
    assert third["next"] is None


async def test_update_keeps_secrets_the_client_never_saw(
    service: ServiceHandle, admin: httpx.AsyncClient
) -> None:
    body = {
        "name": "secret",
        "git_url": "https://bot:tok-123456@git.example/org/r.git",
        "webhook_secret": "hook-secret-1",
        "subprojects": [{"test": "true"}],
    }
    created = (await admin.post("/projects", json=body)).json()["project"]
    created.pop("owner")
    edited = {
        k: v
        for k, v in created.items()
        if k not in ("has_webhook_secret", "created_at", "updated_at")
    }
    edited["languages"] = ["python"]

    answer = await admin.put("/projects/secret", json=edited)

    assert answer.status_code == 200, answer.text
    assert answer.json()["project"]["has_webhook_secret"] is True
    stored = await service.ledger.read(
        lambda conn: conn.execute("SELECT spec_json FROM projects").fetchone()[0]
    )
    assert "tok-123456" in stored
    assert "hook-secret-1" in stored
    assert "tok-123456" not in answer.text


async def test_healthz_reports_the_runner(admin: httpx.AsyncClient) -> None:
    body = (await admin.get("/healthz")).json()

    assert body["status"] == "ok"
    assert body["runner"]["capacity"] == 4
    assert {a["name"] for a in body["actors"]} >= {"runner", "parser", "gc", "http"}


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    admin: httpx.AsyncClient,
) -> None:
    answer = await admin.get("/projects", headers={"X-Forwarded-For": "8.8.8.8"})

    assert answer.status_code == 200


async def test_job_answers_match_their_documented_models(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    from crafting_table.models import JobAnswer, JobList

    repo: Repo = make_repo()
    await register(admin, repo, test="echo hi")
    job_id = (await run_job(admin, "demo", recipe="test"))["job"]["id"]

    page = JobList.model_validate((await admin.get("/jobs")).json())
    one = JobAnswer.model_validate((await admin.get(f"/jobs/{job_id}")).json())

    assert page.jobs[0].id == job_id
    assert one.job.status == "succeeded"
    assert one.job.finished_at is not None
    assert one.job.finished_at.endswith("Z")


async def test_a_refused_plain_value_is_shown_back(admin: httpx.AsyncClient) -> None:
    answer = await admin.get("/jobs?limit=900&status=done")

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["message"].startswith("field 'status': Input should be 'queued'")
    assert error["message"].endswith(
        "(got 'done') (and 1 more problem(s), see details)"
    )
    inputs = {p["field"]: p.get("input") for p in error["details"]["problems"]}
    assert inputs == {"status": "done", "limit": "900"}


async def test_a_refused_secret_is_never_shown_back(admin: httpx.AsyncClient) -> None:
    body = {
        "name": "demo",
        "git_url": "https://bot:pw-1234567@git.example.com/x.git\n",
        "webhook_secret": "zq9xv",
        "subprojects": [{"test": "true"}],
    }

    answer = await admin.post("/projects", json=body)

    assert answer.status_code == 422, answer.text
    assert "pw-1234567" not in answer.text
    assert "zq9xv" not in answer.text
    assert all("input" not in p for p in answer.json()["error"]["details"]["problems"])


async def test_healthz_shows_a_new_schedule_at_once(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    schedule = {"cron": "0 3 * * *", "tz": "Europe/Paris", "recipe": "test"}
    body = {
        "name": "timed",
        "git_url": repo.url,
        "subprojects": [{"path": ".", "test": "true"}],
        "schedules": [schedule],
    }

    async def scheduled() -> int:
        health = (await admin.get("/healthz")).json()
        [scheduler] = [a for a in health["actors"] if a["name"] == "scheduler"]
        return int(scheduler["actor"]["schedules"])

    assert await scheduled() == 0
    assert (await admin.post("/projects", json=body)).status_code == 201
    # The Scheduler naps up to a minute between looks; a registration wakes it.
    with trio.fail_after(5):
        while await scheduled() != 1:
            await trio.sleep(0.05)
    body["schedules"] = []
    assert (await admin.put("/projects/timed", json=body)).status_code == 200
    with trio.fail_after(5):
        while await scheduled() != 0:
            await trio.sleep(0.05)
