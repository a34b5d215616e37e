"""A stand-in forge on loopback: commit statuses recorded, git served.

A quart-trio app under hypercorn, like the service itself. It takes
commit statuses the way Gitea (``/api/v1/repos/{owner}/{repo}/statuses/
{sha}``) and GitHub (``/repos/{owner}/{repo}/statuses/{sha}``) do and
records each request with its headers. It can be told to fail the next N
posts, or the next N in one state, with a 500, and to refuse (401) an
Authorization header other than the one expected. It also serves bare
repositories over git's "dumb" HTTP protocol (plain files), so a
project's git_url can name this host and the service clones from it.

Usage::

    async with stand_in_forge(nursery, {"platform/app": bare}) as forge:
        ...  # CRAFTING_GITEA_URL = forge.url
        assert forge.statuses[0].body["state"] == "pending"
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio


@dataclass(frozen=True)
class Posted:
    """One status request as the forge received it."""

    forge: str
    owner: str
    repo: str
    sha: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    answered: int


@dataclass
class StandInForge:
    """What the stand-in saw, and how it should answer."""

    repos: dict[str, Path]
    url: str = ""
    fail_next: int = 0
    # Per status state, how many of the next posts in that state fail (500).
    fail_states: dict[str, int] = field(default_factory=dict)
    # When set, a status whose Authorization header differs is refused (401).
    authorization: str | None = None
    statuses: list[Posted] = field(default_factory=list)
    received: trio.Event = field(default_factory=trio.Event)

    def accepted(self) -> list[Posted]:
        """The status requests answered with success."""
        return [p for p in self.statuses if p.answered < 300]

    async def wait_for(self, count: int, timeout: float = 30) -> list[Posted]:
        """Wait until ``count`` statuses were accepted; return them."""
        with trio.fail_after(timeout):
            while len(self.accepted()) < count:
                await self.received.wait()
                self.received = trio.Event()
        return self.accepted()

    def app(self) -> QuartTrio:
        """The application."""
        app = QuartTrio(__name__)

        async def record(forge: str, owner: str, repo: str, sha: str) -> Response:
            answered = 201
            body = await request.get_json(force=True)
            state = str(body.get("state"))
            given = request.headers.get("Authorization")
            if self.authorization is not None and given != self.authorization:
                answered = 401
            elif self.fail_next > 0:
                self.fail_next -= 1
                answered = 500
            elif self.fail_states.get(state, 0) > 0:
                self.fail_states[state] -= 1
                answered = 500
            self.statuses.append(
                Posted(
                    forge=forge,
                    owner=owner,
                    repo=repo,
                    sha=sha,
                    headers=dict(request.headers),
                    body=body,
                    at=time.time(),
                    answered=answered,
                )
            )
            self.received.set()
            return Response('{"id": 1}', status=answered, mimetype="application/json")

        @app.post("/api/v1/repos/<owner>/<repo>/statuses/<sha>")
        async def gitea(owner: str, repo: str, sha: str) -> Response:
            return await record("gitea", owner, repo, sha)

        @app.post("/repos/<owner>/<repo>/statuses/<sha>")
        async def github(owner: str, repo: str, sha: str) -> Response:
            return await record("github", owner, repo, sha)

        @app.get("/<owner>/<repo>/<path:rest>")
        async def git_file(owner: str, repo: str, rest: str) -> Response:
            # The dumb protocol: info/refs, HEAD and objects/... as files.
            # Anything else (the smart protocol's query) is ignored, and git
            # falls back to reading files.
            root = self.repos.get(f"{owner}/{repo.removesuffix('.git')}")
            if root is None or ".." in rest.split("/"):
                return Response("no such repository", status=404)
            path = root / rest
            if not path.is_file():
                return Response("not found", status=404)
            return Response(path.read_bytes(), mimetype="application/octet-stream")

        return app


@asynccontextmanager
async def stand_in_forge(
    nursery: trio.Nursery, repos: dict[str, Path]
) -> AsyncIterator[StandInForge]:
    """Serve a :class:`StandInForge` on a free loopback port until the block ends."""
    forge = StandInForge(repos=repos)
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    stop = trio.Event()
    binds: list[str] = await nursery.start(
        lambda task_status: serve(
            forge.app(), config, shutdown_trigger=stop.wait, task_status=task_status
        )
    )
    forge.url = binds[0]
    try:
        yield forge
    finally:
        stop.set()
