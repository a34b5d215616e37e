"""``CRAFTING_GIT_HOSTS``: registration takes git_url hosts from the list only.

The list narrows what may be registered; it never widens it: the
service's own address and link-local or cloud metadata addresses stay
refused even when an admin lists them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from actors.serve import ServiceHandle
from crafting_table.config import Settings

ALLOWED = ["git.example.com", "Forge.Example.ORG", "127.0.0.1", "169.254.169.254"]
ALLOWED += ["fe80::1", "metadata.google.internal"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with an allowlist that names some forbidden hosts."""
    settings.git_hosts = list(ALLOWED)
    return settings


def body(url: str, name: str = "demo") -> dict[str, Any]:
    """A registration of ``url`` with one recipe."""
    return {"name": name, "git_url": url, "subprojects": [{"test": "true"}]}


def service_port(service: ServiceHandle) -> int:
    """The port the service listens on (the kernel chose it)."""
    port = urlsplit(service.url).port
    assert port is not None
    return port


def refused_field(error: dict[str, Any]) -> str:
    """The field a 422 names, whether a handler or the model refused it."""
    details = error["details"]
    if "field" in details:
        field: str = details["field"]
        return field
    [problem] = details["problems"]
    named: str = problem["field"]
    return named


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://git.example.com/org/app.git", id="https"),
        pytest.param("ssh://git@git.example.com:2222/org/app.git", id="ssh-port"),
        pytest.param("git@git.example.com:org/app.git", id="scp-like"),
        pytest.param("https://GIT.example.com/org/app.git", id="upper-case-url"),
        pytest.param("https://forge.example.org/org/app.git", id="upper-case-list"),
        pytest.param("https://git.example.com./org/app.git", id="trailing-dot"),
        pytest.param("https://bot:tok@git.example.com/org/app.git", id="credentials"),
        pytest.param("http://127.0.0.1:3000/org/app.git", id="listed-address"),
    ],
)
async def test_a_listed_host_is_accepted(admin: httpx.AsyncClient, url: str) -> None:
    answer = await admin.post("/projects", json=body(url))

    assert answer.status_code == 201, answer.text
    assert (await admin.get("/projects/demo")).status_code == 200


@pytest.mark.parametrize(
    ("url", "host"),
    [
        pytest.param("https://evil.example/org/app.git", "evil.example", id="https"),
        pytest.param("git@evil.example:org/app.git", "evil.example", id="scp-like"),
        pytest.param("ssh://git@evil.example/org/app.git", "evil.example", id="ssh"),
        pytest.param("git://evil.example/org/app.git", "evil.example", id="git"),
        pytest.param(
            "https://git.example.com.evil.example/app.git",
            "git.example.com.evil.example",
            id="suffix",
        ),
        pytest.param("https://example.com/org/app.git", "example.com", id="parent"),
        pytest.param(
            "https://sub.git.example.com/org/app.git",
            "sub.git.example.com",
            id="subdomain",
        ),
        pytest.param(
            "https://git.example.com:x@evil.example/app.git",
            "evil.example",
            id="userinfo",
        ),
        pytest.param("http://127.0.0.2/org/app.git", "127.0.0.2", id="other-loopback"),
        pytest.param(
            "http://2130706433:3000/org/app.git", "2130706433", id="decimal-spelling"
        ),
    ],
)
async def test_an_unlisted_host_is_a_422_naming_git_url(
    admin: httpx.AsyncClient, url: str, host: str
) -> None:
    answer = await admin.post("/projects", json=body(url))

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert refused_field(error) == "git_url"
    assert f"{host!r} is not in CRAFTING_GIT_HOSTS" in error["message"]
    assert "use one of git.example.com, Forge.Example.ORG" in error["message"]
    assert ":x@" not in answer.text
    assert (await admin.get("/projects")).json()["projects"] == []


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        pytest.param("http://127.0.0.1:{port}/org/x.git", "itself", id="itself"),
        pytest.param("http://169.254.169.254/latest/x", "metadata", id="imds"),
        pytest.param("https://[fe80::1]/org/x.git", "metadata", id="link-local"),
        pytest.param("http://metadata.google.internal/x", "metadata", id="gce"),
    ],
)
async def test_listing_a_forbidden_host_does_not_allow_it(
    admin: httpx.AsyncClient, service: ServiceHandle, template: str, reason: str
) -> None:
    url = template.format(port=service_port(service))

    answer = await admin.post("/projects", json=body(url))

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert refused_field(error) == "git_url"
    assert reason in error["message"]
    assert "use the address of a git server" in error["message"]


async def test_an_update_to_an_unlisted_host_is_refused(
    admin: httpx.AsyncClient,
) -> None:
    listed = "https://git.example.com/org/app.git"
    assert (await admin.post("/projects", json=body(listed))).status_code == 201

    answer = await admin.put(
        "/projects/demo", json=body("https://evil.example/org/app.git")
    )

    assert answer.status_code == 422, answer.text
    assert refused_field(answer.json()["error"]) == "git_url"
    shown = (await admin.get("/projects/demo")).json()["project"]["git_url"]
    assert shown == listed


async def test_a_non_admin_is_held_to_the_list_too(
    admin: httpx.AsyncClient, service: ServiceHandle
) -> None:
    minted = await admin.post("/admin/tokens", json={"name": "alice"})
    bearer = minted.json()["bearer"]

    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {bearer}"}
    ) as alice:
        outside = await alice.post(
            "/projects", json=body("https://evil.example/app.git", "a")
        )
        inside = await alice.post(
            "/projects", json=body("https://git.example.com/app.git", "b")
        )

    assert outside.status_code == 422, outside.text
    assert inside.status_code == 201, inside.text
