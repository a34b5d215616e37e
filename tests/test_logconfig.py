"""Log formats: JSON lines with job fields, plain text, the access log apart."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from crafting_table.config import Settings
from crafting_table.logconfig import configure
from tests.digest_service import running
from tests.support import Repo, register, run_job


@pytest.fixture
def streams() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """An application and an access stream; the logging set-up is restored after."""
    root = logging.getLogger()
    access = logging.getLogger("crafting_table.access")
    saved = (root.handlers[:], root.level, access.handlers[:], access.propagate)
    app_stream, access_stream = io.StringIO(), io.StringIO()
    yield app_stream, access_stream
    root.handlers[:], level, access.handlers[:], access.propagate = saved
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line of ``stream`` parsed as JSON (each must parse)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("message", "args", "extra", "fields"),
    [
        pytest.param(
            "job %s (%s) started",
            ("06h3", "demo"),
            None,
            {"job_id": "06h3", "project": "demo"},
            id="house-form",
        ),
        pytest.param(
            "job %s: commit status dropped: %s",
            ("06h3", "x"),
            None,
            {"job_id": "06h3"},
            id="job-only",
        ),
        pytest.param(
            "push of %s to %s",
            ("abc", "demo"),
            {"project": "demo", "job_ids": ["a", "b"]},
            {"project": "demo", "job_ids": ["a", "b"]},
            id="extra",
        ),
        pytest.param("jobless %s", ("x",), None, {}, id="not-about-a-job"),
    ],
)
def test_json_lines_carry_job_fields(
    streams: tuple[io.StringIO, io.StringIO],
    message: str,
    args: tuple[str, ...],
    extra: dict[str, Any] | None,
    fields: dict[str, Any],
) -> None:
    app_stream, access_stream = streams
    configure("INFO", "json", app_stream, access_stream)

    logging.getLogger("actors.runner").info(message, *args, extra=extra)

    [entry] = lines(app_stream)
    assert entry["message"] == message % args
    assert entry["level"] == "info"
    assert entry["logger"] == "actors.runner"
    assert {k: entry[k] for k in fields} == fields
    if not fields:
        assert "job_id" not in entry
    assert access_stream.getvalue() == ""


def test_a_traceback_stays_in_its_line(
    streams: tuple[io.StringIO, io.StringIO],
) -> None:
    app_stream, access_stream = streams
    configure("INFO", "json", app_stream, access_stream)

    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        logging.getLogger("x").exception("job %s (%s) broke", "j1", "p1")

    [entry] = lines(app_stream)
    assert "ValueError: broken" in entry["exception"]
    assert entry["job_id"] == "j1"


def test_text_format(streams: tuple[io.StringIO, io.StringIO]) -> None:
    app_stream, access_stream = streams
    configure("INFO", "text", app_stream, access_stream)

    logging.getLogger("actors.runner").info("job %s (%s) started", "j1", "p1")
    logging.getLogger("crafting_table.access").info("GET /healthz 200")

    assert app_stream.getvalue().endswith("INFO actors.runner: job j1 (p1) started\n")
    assert access_stream.getvalue().endswith(" GET /healthz 200\n")


async def test_the_service_logs_json_with_job_ids(
    streams: tuple[io.StringIO, io.StringIO], settings: Settings, make_repo: Any
) -> None:
    app_stream, access_stream = streams
    configure("INFO", "json", app_stream, access_stream)
    repo: Repo = make_repo()

    async with running(settings.model_copy(update={"access_log": True})) as (_, client):
        await register(client, repo, test="true")
        job_id = (await run_job(client, "demo", recipe="test"))["job"]["id"]
        await client.get(f"/jobs/{job_id}/log")

    app = lines(app_stream)
    access = lines(access_stream)
    # The test's own client logs its requests through httpx: not ours.
    about_job = [e for e in app if job_id in e["message"] and e["logger"] != "httpx"]
    assert len(about_job) >= 2
    assert all(e["job_id"] == job_id for e in about_job)
    assert all(e["project"] == "demo" for e in about_job if "(demo)" in e["message"])
    [log_read] = [e for e in access if e["path"] == f"/jobs/{job_id}/log"]
    assert (log_read["job_id"], log_read["status"], log_read["method"]) == (
        job_id,
        200,
        "GET",
    )
    assert log_read["token"] == "admin"
    assert [e["project"] for e in access if e["path"] == "/projects/demo/jobs"] == [
        "demo"
    ]
    assert not [e for e in app if e["logger"] == "crafting_table.access"]
