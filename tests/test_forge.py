"""The Gitea client against a transport that plays Gitea."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crafting_table.errors import ForgeError
from crafting_table.forge import Gitea, PullRequest

PULLS = "/api/v1/repos/org/alpha/pulls"


def pull(number: int, head: str, base: str = "main") -> dict[str, Any]:
    return {
        "number": number,
        "html_url": f"http://gitea.test/org/alpha/pulls/{number}",
        "head": {"ref": head},
        "base": {"ref": base},
        "state": "open",
    }


class Server:
    """Answers like Gitea; ``existing`` are the open pull requests."""

    def __init__(self, create_status: int, existing: list[dict[str, Any]]) -> None:
        self.create_status = create_status
        self.existing = existing
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path != PULLS:
            return httpx.Response(404, json={"message": "not found"})
        if request.method == "GET":
            page = int(request.url.params.get("page", "1"))
            limit = int(request.url.params.get("limit", "30"))
            return httpx.Response(
                200, json=self.existing[(page - 1) * limit : page * limit]
            )
        if self.create_status == 201:
            return httpx.Response(
                201, json=pull(7, json.loads(request.content)["head"])
            )
        return httpx.Response(
            self.create_status, json={"message": "pull request already exists"}
        )


async def open_with(server: Server) -> PullRequest:
    forge = Gitea(
        "http://gitea.test/",
        "gt_secret",
        timeout=5,
        transport=httpx.MockTransport(server),
    )
    return await forge.open_pull_request(
        "org", "alpha", head="ct/x-1", base="main", title="Fix F401", body="b"
    )


async def test_a_new_pull_request() -> None:
    server = Server(201, [])

    found = await open_with(server)

    assert found == PullRequest(7, "http://gitea.test/org/alpha/pulls/7", False)
    [request] = server.requests
    assert request.headers["Authorization"] == "token gt_secret"
    assert json.loads(request.content) == {
        "head": "ct/x-1",
        "base": "main",
        "title": "Fix F401",
        "body": "b",
    }


async def test_an_open_pull_request_for_the_branch_is_reused() -> None:
    others = [pull(n, f"other-{n}") for n in range(1, 61)]
    server = Server(409, [*others, pull(99, "ct/x-1", "dev"), pull(42, "ct/x-1")])

    found = await open_with(server)

    assert found == PullRequest(42, "http://gitea.test/org/alpha/pulls/42", True)
    assert [r.url.params.get("page") for r in server.requests[1:]] == ["1", "2"]
    assert all(r.url.params["state"] == "open" for r in server.requests[1:])


@pytest.mark.parametrize(
    ("status", "existing", "reason"),
    [
        pytest.param(409, [], "answered 409", id="conflict-without-match"),
        pytest.param(
            422, [], "answered 422 .*pull request already exists", id="refused"
        ),
        pytest.param(500, [], "answered 500", id="server-error"),
    ],
)
async def test_failures_are_forge_errors(
    status: int, existing: list[dict[str, Any]], reason: str
) -> None:
    with pytest.raises(ForgeError, match=reason) as caught:
        await open_with(Server(status, existing))

    assert "gt_secret" not in caught.value.message


async def test_an_answer_without_its_url_is_a_forge_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"number": 3})

    forge = Gitea(
        "http://g.test", "t", timeout=5, transport=httpx.MockTransport(answer)
    )

    with pytest.raises(ForgeError, match="no number or html_url"):
        await forge.open_pull_request("o", "r", head="h", base="b", title="t", body="")
