"""Talking to the agent that drafts patches.

The patch loop sees an agent only through :class:`Agent`: one
conversation of one message and one reply. :class:`AgentHost` implements
it over the agent host protocol (JSON over HTTP, bearer token)::

    POST   /v1/sessions               {"metadata": {...}}   -> 201 {"session_id"}
    POST   /v1/sessions/{id}/turns    {"message": "..."}    -> 200 {"reply"}
    DELETE /v1/sessions/{id}                                -> 204

Usage::

    agent = AgentHost("http://clawdforge.internal:8800", token, timeout=300)
    reply = await agent.converse({"project": "alpha", ...}, prompt)

A session that was opened is always deleted, also when the turn fails, times
out or is cancelled. Every failure comes out as
:class:`~crafting_table.errors.AgentError` with a sentence saying what
happened; the token never appears in one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import trio

from crafting_table.errors import AgentError
from crafting_table.httpservice import HttpService

logger = logging.getLogger(__name__)

# Deleting a session is a small request; a host that cannot answer it in
# this time is down, and the attempt must not wait on it.
CLOSE_TIMEOUT = 10.0


class Agent(Protocol):
    """Anything that can answer one prompt in a fresh conversation."""

    name: str

    async def converse(self, metadata: Mapping[str, Any], message: str) -> str:
        """Open a conversation tagged with ``metadata``, send ``message``,
        close it, and return the reply text.

        Raises :class:`AgentError` when no usable reply came within the
        agent's deadline; the conversation is closed in every case.
        """
        ...


class AgentHost(HttpService):
    """The agent host protocol over HTTP; see the module docstring.

    ``timeout`` bounds opening the session and the turn together.
    ``transport`` replaces the network in tests.
    """

    name = "agent host"

    async def converse(self, metadata: Mapping[str, Any], message: str) -> str:
        """One session with one turn; see :meth:`Agent.converse`."""
        async with self._client() as client:
            opened: list[str] = []
            try:
                with trio.move_on_after(self.timeout):
                    session_id = await self._open(client, metadata)
                    opened.append(session_id)
                    return await self._turn(client, session_id, message)
                raise AgentError(
                    f"the agent host did not answer within {self.timeout:g} s "
                    "(CRAFTING_PATCHER_AGENT_TIMEOUT_SECS)"
                )
            finally:
                for session_id in opened:
                    # Shielded: a cancelled or failed attempt must still free
                    # the session, which the host would otherwise keep (with
                    # its model context) until it expires. _close has its
                    # own deadline.
                    with trio.CancelScope(shield=True):
                        await self._close(client, session_id)

    async def _open(
        self, client: httpx.AsyncClient, metadata: Mapping[str, Any]
    ) -> str:
        answer = await self._call(
            client, "POST", "/v1/sessions", {"metadata": dict(metadata)}
        )
        _expect(answer, 201, "opening a session")
        session_id = _field(answer, "session_id", "opening a session")
        logger.debug("agent session %s opened for %r", session_id, dict(metadata))
        return session_id

    async def _turn(
        self, client: httpx.AsyncClient, session_id: str, message: str
    ) -> str:
        answer = await self._call(
            client,
            "POST",
            f"/v1/sessions/{quote(session_id, safe='')}/turns",
            {"message": message},
        )
        _expect(answer, 200, "sending the turn")
        return _field(answer, "reply", "sending the turn")

    async def _close(self, client: httpx.AsyncClient, session_id: str) -> None:
        path = f"/v1/sessions/{quote(session_id, safe='')}"
        with trio.move_on_after(CLOSE_TIMEOUT) as scope:
            try:
                answer = await client.delete(path, timeout=CLOSE_TIMEOUT)
            except httpx.HTTPError as exc:
                logger.warning(
                    "agent session %s not closed: %s", session_id, _describe(exc)
                )
                return
            if answer.status_code not in (200, 204, 404):
                logger.warning(
                    "agent session %s not closed: status %d",
                    session_id,
                    answer.status_code,
                )
                return
            logger.debug("agent session %s closed", session_id)
        if scope.cancelled_caught:
            logger.warning(
                "agent session %s not closed within %.0f s", session_id, CLOSE_TIMEOUT
            )

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
    ) -> httpx.Response:
        try:
            return await client.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise AgentError(
                f"the agent host did not answer within {self.timeout:g} s "
                "(CRAFTING_PATCHER_AGENT_TIMEOUT_SECS)"
            ) from exc
        except httpx.HTTPError as exc:
            raise AgentError(
                f"the agent host at {self.base_url} could not be reached: "
                f"{_describe(exc)}"
            ) from exc


def _expect(answer: httpx.Response, status: int, doing: str) -> None:
    if answer.status_code != status:
        excerpt = " ".join(answer.text.split())[:200]
        raise AgentError(
            f"the agent host answered {answer.status_code} when {doing} "
            f"(expected {status}): {excerpt or 'no body'}"
        )


def _field(answer: httpx.Response, name: str, doing: str) -> str:
    try:
        body = answer.json()
    except ValueError as exc:
        raise AgentError(f"the agent host's answer when {doing} is not JSON") from exc
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or (name == "session_id" and not value):
        raise AgentError(f"the agent host's answer when {doing} has no string {name!r}")
    return value


def _describe(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
