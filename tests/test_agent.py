"""The agent host client against a transport that plays the host."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import trio

from crafting_table.agent import AgentHost
from crafting_table.errors import AgentError

Turn = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Host:
    """Records every request; ``turn`` decides the answer to the turn."""

    def __init__(self, turn: Turn, opened: int = 201) -> None:
        self.requests: list[httpx.Request] = []
        self.turn = turn
        self.opened = opened

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/v1/sessions":
            return httpx.Response(self.opened, json={"session_id": "s-1"})
        if request.method == "POST" and path == "/v1/sessions/s-1/turns":
            return await self.turn(request)
        if request.method == "DELETE" and path == "/v1/sessions/s-1":
            return httpx.Response(204)
        return httpx.Response(404, json={"error": "no route"})

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


OPEN, TURN, CLOSE = (
    "POST /v1/sessions",
    "POST /v1/sessions/s-1/turns",
    "DELETE /v1/sessions/s-1",
)


def agent(host: Host, timeout: float = 5) -> AgentHost:
    return AgentHost(
        "http://agent.test/",
        "cf_secret",
        timeout=timeout,
        transport=httpx.MockTransport(host),
    )


async def reply(request: httpx.Request) -> httpx.Response:
    message = json.loads(request.content)["message"]
    return httpx.Response(200, json={"reply": f"echo: {message}"})


async def test_one_session_one_turn_then_closed() -> None:
    host = Host(reply)

    text = await agent(host).converse({"project": "demo", "finding_id": 3}, "fix it")

    assert text == "echo: fix it"
    assert host.calls() == [OPEN, TURN, CLOSE]
    assert json.loads(host.requests[0].content) == {
        "metadata": {"project": "demo", "finding_id": 3}
    }
    assert all(r.headers["Authorization"] == "Bearer cf_secret" for r in host.requests)


async def fail(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text="model overloaded")


async def garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html>oops</html>")


async def no_reply(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"text": "wrong key"})


async def slow(request: httpx.Request) -> httpx.Response:
    await trio.sleep(60)
    return httpx.Response(200, json={"reply": "late"})


@pytest.mark.parametrize(
    ("turn", "reason"),
    [
        pytest.param(fail, "answered 500 when sending the turn", id="status"),
        pytest.param(garbage, "is not JSON", id="not-json"),
        pytest.param(no_reply, "no string 'reply'", id="no-reply"),
        pytest.param(slow, "did not answer within 2 s", id="timeout"),
    ],
)
async def test_a_failed_turn_still_closes_the_session(
    turn: Turn, reason: str, autojump_clock: Any
) -> None:
    host = Host(turn)

    with pytest.raises(AgentError, match=reason) as caught:
        await agent(host, timeout=2).converse({}, "fix it")

    assert host.calls() == [OPEN, TURN, CLOSE]
    assert "cf_secret" not in caught.value.message


async def test_a_cancelled_turn_still_closes_the_session(autojump_clock: Any) -> None:
    host = Host(slow)

    with trio.move_on_after(1):
        await agent(host, timeout=30).converse({}, "fix it")

    assert host.calls() == [OPEN, TURN, CLOSE]


async def test_no_session_no_close() -> None:
    host = Host(reply, opened=200)

    with pytest.raises(AgentError, match="answered 200 when opening a session"):
        await agent(host).converse({}, "fix it")

    assert host.calls() == [OPEN]


async def test_an_unreachable_host_is_an_agent_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = AgentHost(
        "http://agent.test", "t", timeout=5, transport=httpx.MockTransport(refuse)
    )

    with pytest.raises(AgentError, match="could not be reached: ConnectError"):
        await client.converse({}, "fix it")
