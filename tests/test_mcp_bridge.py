"""The MCP bridge as an MCP client meets it: spawned over stdio by the SDK's
own client, calling a live service on loopback."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent

from actors.serve import ServiceHandle
from tests.support import Repo, enqueue, register, wait_job

RUFF = f"{sys.executable} -m ruff check --no-cache --output-format=json ."
TOOLS = {
    "list_projects",
    "get_project",
    "register_project",
    "update_project",
    "delete_project",
    "enqueue_job",
    "list_jobs",
    "get_job",
    "wait_job",
    "read_log",
    "cancel_job",
    "retry_job",
    "list_findings",
    "get_finding",
    "trigger_patch",
    "list_patches",
    "get_patch",
}


@asynccontextmanager
async def bridge(base_url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """The bridge as a subprocess, and an initialized session with it."""
    env = {"CRAFTING_TABLE_BASE_URL": base_url}
    if token is not None:
        env["CRAFTING_TABLE_TOKEN"] = token
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "crafting_table_mcp"], env=env
    )
    with trio.fail_after(30):
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@pytest.fixture
async def agent_token(admin: httpx.AsyncClient) -> str:
    """The bearer of a fresh non-admin token named ``agent``."""
    answer = await admin.post("/admin/tokens", json={"name": "agent"})
    assert answer.status_code == 201, answer.text
    bearer: str = answer.json()["bearer"]
    return bearer


@pytest.fixture
async def session(
    service: ServiceHandle, agent_token: str
) -> AsyncIterator[ClientSession]:
    """A session with a bridge holding the ``agent`` token."""
    async with bridge(service.url, agent_token) as opened:
        yield opened


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured result."""
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def fail(session: ClientSession, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; return its error text."""
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert result.is_error, result
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


def project_spec(repo: Repo, name: str = "demo", **subproject: Any) -> dict[str, Any]:
    return {
        "name": name,
        "git_url": repo.url,
        "subprojects": [{"path": ".", **subproject}],
    }


async def test_tools_have_descriptions_and_typed_schemas(
    session: ClientSession,
) -> None:
    listed = (await session.list_tools()).tools
    tools = {tool.name: tool for tool in listed}

    assert set(tools) == TOOLS
    for tool in listed:
        assert tool.description is not None
        assert len(tool.description) > 40, tool.name
        assert "\n" not in tool.description
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None
    enqueue_props = tools["enqueue_job"].input_schema["properties"]
    assert enqueue_props["recipe"]["enum"] == ["build", "test", "lint", "audit"]
    assert tools["enqueue_job"].input_schema["required"] == ["project", "recipe"]
    log_props = tools["read_log"].input_schema["properties"]
    assert log_props["offset"]["minimum"] == 0
    assert log_props["max_bytes"]["maximum"] == 262144
    register_schema = tools["register_project"].input_schema
    spec = register_schema["$defs"]["ProjectSpec"]
    assert set(spec["required"]) == {"name", "git_url", "subprojects"}
    assert tools["list_findings"].input_schema["properties"]["new"]["type"] == (
        "boolean"
    )
    for name in ("list_projects", "get_job", "read_log", "list_findings"):
        assert tools[name].annotations is not None
        assert tools[name].annotations.read_only_hint is True, name
    for name in ("delete_project", "cancel_job"):
        assert tools[name].annotations is not None
        assert tools[name].annotations.destructive_hint is True, name


async def test_a_lint_job_from_enqueue_to_findings(
    session: ClientSession, make_repo: Any
) -> None:
    repo: Repo = make_repo({"app.py": "import os\nimport sys\n\nprint(sys.argv)\n"})
    registered = await call(
        session,
        "register_project",
        project=project_spec(repo, language="python", lint=RUFF),
    )
    assert registered["project"]["owner"] == "agent"

    enqueued = await call(session, "enqueue_job", project="demo", recipe="lint")
    job_id = enqueued["job_id"]
    assert enqueued["job"]["status"] == "queued"
    waited = await call(session, "wait_job", job_id=job_id, timeout_secs=60)
    assert waited["running"] is False
    assert waited["job"]["status"] == "failed"
    assert waited["job"]["findings_count"] == 1

    listed = await call(session, "list_findings", job_id=job_id)
    assert listed["total"] == 1
    (finding,) = listed["findings"]
    assert (finding["kind"], finding["code"], finding["file"], finding["line"]) == (
        "lint",
        "F401",
        "app.py",
        1,
    )
    assert finding["state"] == "new"
    assert "raw_json" not in finding
    assert (await call(session, "list_findings", job_id=job_id, kind="cve")) == {
        "findings": [],
        "total": 0,
        "next_offset": None,
        "previous_job_id": None,
        "fixed_withheld": None,
    }
    assert (await call(session, "list_findings", job_id=job_id, new=True))["total"]
    full = await call(session, "get_finding", job_id=job_id, finding_id=finding["id"])
    assert json.loads(full["finding"]["raw_json"])["code"] == "F401"

    shown = await call(session, "get_job", job_id=job_id, tail_lines=5)
    assert len(shown["log_tail"]) == 5
    jobs = await call(session, "list_jobs", project="demo", status="failed")
    assert [job["id"] for job in jobs["jobs"]] == [job_id]
    assert await call(session, "list_patches", project="demo") == {
        "patches": [],
        "next": None,
    }


async def test_findings_of_a_fixed_run(session: ClientSession, make_repo: Any) -> None:
    repo: Repo = make_repo({"app.py": "import os\nimport sys\n"})
    await call(
        session,
        "register_project",
        project=project_spec(repo, language="python", lint=RUFF),
    )
    first = await call(session, "enqueue_job", project="demo", recipe="lint")
    await call(session, "wait_job", job_id=first["job_id"])
    repo.write({"app.py": "import os\n"})
    second = await call(session, "enqueue_job", project="demo", recipe="lint")
    await call(session, "wait_job", job_id=second["job_id"])

    fixed = await call(session, "list_findings", job_id=second["job_id"], fixed=True)
    assert [(f["code"], f["state"]) for f in fixed["findings"]] == [("F401", "fixed")]
    assert "sys" in fixed["findings"][0]["message"]
    assert fixed["previous_job_id"] == first["job_id"]
    paged = await call(session, "list_findings", job_id=first["job_id"], limit=1)
    assert (paged["total"], len(paged["findings"]), paged["next_offset"]) == (2, 1, 1)

    # Code ruff cannot parse hides what it would have found: nothing is fixed.
    repo.write({"app.py": "x = (\n"})
    broken = await call(session, "enqueue_job", project="demo", recipe="lint")
    await call(session, "wait_job", job_id=broken["job_id"])
    held = await call(session, "list_findings", job_id=broken["job_id"], fixed=True)
    assert held["findings"] == []
    assert "invalid-syntax" in held["fixed_withheld"]


# 3000 numbered lines with a two-byte character in each: about 100 KB.
MANY_LINES = (
    'i=0; while [ $i -lt 3000 ]; do echo "line $i caf\303\251 '
    'padding-padding-padding"; i=$((i+1)); done'
)
# One 5000-character line of two-byte characters (10000 bytes), no newline.
LONG_LINE = "printf 'é%.0s' $(seq 5000)"


@pytest.mark.parametrize(
    ("command", "page_bytes"),
    [(MANY_LINES, 8192), (LONG_LINE, 1025)],
    ids=["many-lines", "one-long-line"],
)
async def test_paging_through_a_log(
    session: ClientSession,
    admin: httpx.AsyncClient,
    make_repo: Any,
    command: str,
    page_bytes: int,
) -> None:
    await call(
        session, "register_project", project=project_spec(make_repo(), test=command)
    )
    job_id = (await call(session, "enqueue_job", project="demo", recipe="test"))[
        "job_id"
    ]
    await call(session, "wait_job", job_id=job_id)
    whole = (await admin.get(f"/jobs/{job_id}/log")).content

    texts: list[str] = []
    offset = 0
    pages = 0
    while True:
        page = await call(
            session, "read_log", job_id=job_id, offset=offset, max_bytes=page_bytes
        )
        pages += 1
        assert page["offset"] == offset
        assert page["log_size"] == len(whole)
        assert page["running"] is False
        assert len(page["text"].encode()) <= page_bytes
        assert "\ufffd" not in page["text"]
        texts.append(page["text"])
        offset = page["next_offset"]
        if not page["more"]:
            assert "ended with status succeeded" in page["note"]
            break
        assert f"offset={offset}" in page["note"]
        if "\n" in page["text"]:
            assert page["text"].endswith("\n")
    assert "".join(texts).encode() == whole
    assert pages >= len(whole) // page_bytes


async def test_reading_the_log_of_a_running_job_then_cancelling_it(
    session: ClientSession, make_repo: Any
) -> None:
    command = "echo started; sleep 60"
    await call(
        session, "register_project", project=project_spec(make_repo(), test=command)
    )
    job_id = (await call(session, "enqueue_job", project="demo", recipe="test"))[
        "job_id"
    ]
    with trio.fail_after(30):
        while (
            "started"
            not in (page := await call(session, "read_log", job_id=job_id))["text"]
        ):
            await trio.sleep(0.1)

    assert page["running"] is True
    assert page["job_status"] == "running"
    assert page["more"] is False
    assert "may write more" in page["note"]
    assert page["text"].endswith("started\n")
    waited = await call(session, "wait_job", job_id=job_id, timeout_secs=0.5)
    assert waited["running"] is True
    canceled = await call(session, "cancel_job", job_id=job_id)
    assert canceled["job"]["status"] == "canceled"
    past = await fail(session, "read_log", job_id=job_id, offset=10**9)
    assert "416 range_not_satisfiable" in past


async def test_retrying_an_ended_job(
    session: ClientSession, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo()
    sha = repo.git("rev-parse", "HEAD")
    # The first run waits for the file, so it is surely still going on when
    # the early retry is asked for.
    gate = tmp_path / "go"
    test = f"while [ ! -e {gate} ]; do sleep 0.05; done; git rev-parse HEAD; exit 2"
    await call(session, "register_project", project=project_spec(repo, test=test))
    old = (await call(session, "enqueue_job", project="demo", recipe="test"))["job"]
    early = await fail(session, "retry_job", job_id=old["id"])
    gate.touch()
    await call(session, "wait_job", job_id=old["id"])
    # A later commit on the branch does not reach the retry.
    repo.write({"later.txt": "later\n"})

    retried = await call(session, "retry_job", job_id=old["id"])
    waited = await call(session, "wait_job", job_id=retried["job_id"])

    assert "409 conflict" in early
    assert retried["job"]["status"] == "queued"
    assert (retried["job"]["retry_of"], retried["job"]["trigger"]) == (
        old["id"],
        "retry",
    )
    assert (waited["job"]["exit_code"], waited["job"]["sha"]) == (2, sha)
    assert sha in waited["log_tail"]


async def test_updating_and_deleting_a_project(
    session: ClientSession, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await call(session, "register_project", project=project_spec(repo, test="true"))

    updated = await call(
        session,
        "update_project",
        name="demo",
        changes={"default_branch": "develop", "notify": {"auto_patch": True}},
    )
    assert updated["project"]["default_branch"] == "develop"
    stored = (await admin.get("/projects/demo")).json()["project"]
    assert stored["default_branch"] == "develop"
    assert stored["notify"]["auto_patch"] is True
    assert stored["subprojects"][0]["test"] == "true"
    listed = await call(session, "list_projects")
    assert [p["name"] for p in listed["projects"]] == ["demo"]

    assert await call(session, "delete_project", name="demo") == {"deleted": "demo"}
    assert (await admin.get("/projects/demo")).status_code == 404


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        (
            "get_project",
            {"name": "nope"},
            "crafting-table answered 404 not_found: no project named 'nope'",
        ),
        ("get_job", {"job_id": "j-missing"}, "404 not_found: no job with id"),
        (
            "enqueue_job",
            {"project": "demo", "recipe": "lint"},
            "422 validation_failed",
        ),
        (
            "trigger_patch",
            {"job_id": "JOB"},
            "503 not_configured: the patch loop is off",
        ),
        ("get_finding", {"job_id": "JOB", "finding_id": 999}, "no finding with id 999"),
        ("get_patch", {"attempt_id": 4242}, "404 not_found: no patch attempt"),
        ("cancel_job", {"job_id": "JOB"}, "409 conflict: job"),
        (
            "register_project",
            {"project": {"name": "Bad Name", "git_url": "x", "subprojects": []}},
            "422 validation_failed: field 'name'",
        ),
    ],
    ids=[
        "unknown-project",
        "unknown-job",
        "undefined-recipe",
        "patch-loop-off",
        "unknown-finding",
        "unknown-patch",
        "ended-job",
        "invalid-body",
    ],
)
async def test_api_errors_are_tool_errors(
    session: ClientSession,
    admin: httpx.AsyncClient,
    agent_token: str,
    make_repo: Any,
    tool: str,
    arguments: dict[str, Any],
    expected: str,
) -> None:
    await call(
        session, "register_project", project=project_spec(make_repo(), test="true")
    )
    job_id = (await call(session, "enqueue_job", project="demo", recipe="test"))[
        "job_id"
    ]
    await call(session, "wait_job", job_id=job_id)
    arguments = {k: job_id if v == "JOB" else v for k, v in arguments.items()}

    message = await fail(session, tool, **arguments)

    assert expected in message
    assert agent_token not in message
    # The bridge is still there and answers the next call.
    assert (await call(session, "get_project", name="demo"))["project"]["name"]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        (
            "read_log",
            {"job_id": "j1", "max_bytes": 300},
            "argument 'max_bytes' must be an integer from 1024 to 262144 "
            "(got 300); pass one in that range, or leave it out for the "
            "default 16384",
        ),
        (
            "read_log",
            {"job_id": "j1", "offset": -1},
            "argument 'offset' must be an integer of at least 0 (got -1); pass one "
            "in that range, or leave it out for the default 0",
        ),
        (
            "list_jobs",
            {"limit": 501},
            "argument 'limit' must be an integer from 1 to 500 (got 501); ",
        ),
        (
            "list_jobs",
            {"status": "lost", "limit": 501},
            "argument 'status' must be 'queued', 'running', ",
        ),
        ("get_job", {}, "argument 'job_id' is required; pass it"),
        (
            "register_project",
            {"name": "flat"},
            "argument 'project' is required; pass it as one object holding its "
            "fields, not those fields beside it",
        ),
        (
            "get_patch",
            {"attempt_id": "four"},
            "argument 'attempt_id' must be a valid integer",
        ),
    ],
    ids=[
        "below-minimum",
        "negative-offset",
        "above-maximum",
        "not-a-choice-and-more",
        "missing",
        "missing-object",
        "wrong-type",
    ],
)
async def test_refused_arguments_name_the_argument_and_what_it_must_be(
    session: ClientSession, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    message = await fail(session, tool, **arguments)

    assert message.startswith(f"Error executing tool {tool}: invalid_arguments: ")
    assert expected in message
    assert "pydantic" not in message
    assert "\n" not in message
    if len(arguments) == 2 and tool == "list_jobs":
        assert message.endswith(
            "(got 'lost'); correct it as the tool's schema says "
            "(and problems with 'limit')"
        )


async def test_another_owners_project_is_not_found(
    session: ClientSession, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    await register(admin, make_repo(), name="theirs", test="true")
    job_id = await enqueue(admin, "theirs", recipe="test")
    await wait_job(admin, job_id)

    assert "404 not_found" in await fail(session, "get_project", name="theirs")
    assert "404 not_found" in await fail(session, "read_log", job_id=job_id)
    assert (await call(session, "list_jobs"))["jobs"] == []


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("base_url", "token", "expected"),
    [
        (
            "http://127.0.0.1:{port}",
            "ct_not-a-real-token",
            "cannot reach crafting-table at http://127.0.0.1:{port}",
        ),
        ("http://127.0.0.1:{port}", None, "CRAFTING_TABLE_TOKEN is not set"),
        ("ftp://example.invalid", "ct_x", "is not an http:// or https:// URL"),
    ],
    ids=["service-down", "no-token", "bad-url"],
)
async def test_settings_and_transport_problems_are_tool_errors(
    base_url: str, token: str | None, expected: str
) -> None:
    port = closed_port()
    async with bridge(base_url.format(port=port), token) as opened:
        assert {t.name for t in (await opened.list_tools()).tools} == TOOLS
        message = await fail(opened, "list_projects")
        again = await fail(opened, "get_job", job_id="x")
    assert expected.format(port=port) in message
    assert expected.format(port=port) in again
    if token is not None:
        assert token not in message
