"""Registration refuses remotes that the service must never fetch from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from actors.serve import ServiceHandle
from tests.support import Repo, run_job

TOKEN = "t0ken-never-shown"


def service_port(service: ServiceHandle) -> int:
    """The port the service listens on (the kernel chose it)."""
    port = urlsplit(service.url).port
    assert port is not None
    return port


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        pytest.param("http://127.0.0.1:{port}/org/x.git", "itself", id="bind"),
        pytest.param("http://localhost:{port}/x.git", "itself", id="localhost"),
        pytest.param("https://[::1]:{port}/x.git", "itself", id="ipv6-loopback"),
        pytest.param("http://2130706433:{port}/x.git", "itself", id="decimal"),
        pytest.param(
            "http://bot:" + TOKEN + "@127.0.0.1:{port}/x.git", "itself", id="creds"
        ),
        pytest.param("http://169.254.169.254/latest/meta-data", "metadata", id="imds"),
        pytest.param("http://metadata.google.internal/v1", "metadata", id="gce"),
        pytest.param("https://[fe80::1]/x.git", "metadata", id="link-local"),
    ],
)
async def test_remotes_the_service_must_not_fetch_are_refused(
    admin: httpx.AsyncClient, service: ServiceHandle, template: str, reason: str
) -> None:
    url = template.format(port=service_port(service))

    answer = await admin.post(
        "/projects",
        json={"name": "bad", "git_url": url, "subprojects": [{"test": "true"}]},
    )

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert reason in error["message"]
    assert TOKEN not in answer.text
    assert (await admin.get("/projects")).json()["projects"] == []


async def test_loopback_on_another_port_is_a_git_server_like_any(
    admin: httpx.AsyncClient, service: ServiceHandle
) -> None:
    url = f"http://127.0.0.1:{service_port(service) + 1}/org/x.git"

    answer = await admin.post(
        "/projects",
        json={"name": "near", "git_url": url, "subprojects": [{"test": "true"}]},
    )

    assert answer.status_code == 201, answer.text


async def test_an_update_cannot_point_a_project_at_the_service(
    admin: httpx.AsyncClient, service: ServiceHandle
) -> None:
    body = {
        "name": "demo",
        "git_url": "https://git.example.com/org/demo.git",
        "subprojects": [{"test": "true"}],
    }
    assert (await admin.post("/projects", json=body)).status_code == 201
    body["git_url"] = f"http://localhost:{service_port(service)}/x.git"

    answer = await admin.put("/projects/demo", json=body)

    assert answer.status_code == 422, answer.text
    shown = (await admin.get("/projects/demo")).json()["project"]["git_url"]
    assert shown == "https://git.example.com/org/demo.git"


@pytest.mark.parametrize("form", ["{path}", "file://{path}"])
async def test_a_local_repository_that_is_not_there_is_refused_at_once(
    admin: httpx.AsyncClient, tmp_path: Path, form: str
) -> None:
    missing = tmp_path / "typo.git"
    body = {"name": "local", "subprojects": [{"test": "true"}]}

    refused = await admin.post(
        "/projects", json=body | {"git_url": form.format(path=missing)}
    )
    missing.mkdir()
    accepted = await admin.post(
        "/projects", json=body | {"git_url": form.format(path=missing)}
    )

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["details"]["field"] == "git_url"
    assert "no such folder" in error["message"]
    assert accepted.status_code == 201, accepted.text


async def test_a_subproject_without_a_recipe_is_refused(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    body = {
        "name": "norecipe",
        "git_url": repo.url,
        "subprojects": [{"path": ".", "test": "true"}, {"path": "docs"}],
    }

    answer = await admin.post("/projects", json=body)

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["details"]["field"] == "subprojects"
    assert "'docs' defines no recipe" in error["message"]
    assert "build, test, lint, audit" in error["message"]


async def test_a_language_nobody_reads_is_refused_with_the_choices(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    sub = {"path": ".", "language": "pyhton", "lint": "ruff check ."}
    body = {"name": "typo", "git_url": repo.url, "subprojects": [sub]}

    refused = await admin.post("/projects", json=body)
    sub["language"] = "Bash"
    accepted = await admin.post("/projects", json=body)

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["details"]["problems"][0]["field"] == "subprojects.0.language"
    assert "'subprojects.0.language': 'pyhton' is not a language" in error["message"]
    assert "python, ruby" in error["message"]
    assert "generic" in error["message"]
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["project"]["subprojects"][0]["language"] == "shell"


async def test_a_left_out_language_is_taken_from_the_commands_and_read(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"app.py": "import os\n"})
    ruff = f"{sys.executable} -m ruff check --no-cache --output-format=json ."
    sub = {"path": ".", "lint": ruff}
    body = {"name": "inferred", "git_url": repo.url, "subprojects": [sub]}

    answer = await admin.post("/projects", json=body)
    assert answer.status_code == 201, answer.text
    job = (await run_job(admin, "inferred", recipe="lint"))["job"]
    rows = (await admin.get(f"/jobs/{job['id']}/findings")).json()["findings"]

    assert answer.json()["project"]["subprojects"][0]["language"] == "python"
    assert answer.json()["project"]["languages"] == ["python"]
    assert [(row["kind"], row["code"]) for row in rows] == [("lint", "F401")]


async def test_a_project_without_subprojects_is_told_what_one_looks_like(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    body = {"name": "empty", "git_url": repo.url, "subprojects": []}

    answer = await admin.post("/projects", json=body)

    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert "a project needs at least one subproject, such as" in message
    assert '{"path": ".", "test": "<shell command>"}' in message
