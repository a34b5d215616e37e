"""Stand-ins for the agent host and for Gitea, served over real HTTP.

Both are Quart-Trio apps served by hypercorn on a loopback port and record
every request they receive. :class:`AgentStandIn` follows the agent host
protocol; what it replies to a turn is up to the test (``reply``), and it
can be made slow (``delay``). :class:`GiteaStandIn` answers the pull
request calls like Gitea does (201 with ``number`` and ``html_url``, 409
when one is open for the branch, the list of open ones) and accepts a
pull request only when its head branch really exists in the bare
repository ``<root>/<owner>/<repo>.git``.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, jsonify, request
from quart_trio import QuartTrio

AGENT_TOKEN = "cf_test_token"
GITEA_TOKEN = "gt_test_token"


async def start(app: QuartTrio, nursery: trio.Nursery) -> str:
    """Serve ``app`` on a free loopback port until the nursery ends; its URL."""
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.5
    binds: list[str] = await nursery.start(
        lambda task_status: serve(app, config, task_status=task_status)
    )
    return binds[0]


def _refused(message: str, status: int) -> Response:
    response = jsonify({"message": message})
    response.status_code = status
    return response


class AgentStandIn:
    """The agent host protocol; see the module docstring."""

    def __init__(self) -> None:
        self.url = ""
        self.reply: Callable[[str], str] = lambda prompt: "no reply configured"
        self.delay = 0.0
        self.opened: list[dict[str, Any]] = []
        self.prompts: list[str] = []
        self.deleted: list[str] = []
        self.bad_auth = 0
        self.app = QuartTrio("agent-stand-in")
        self.app.add_url_rule("/v1/sessions", view_func=self._open, methods=["POST"])
        self.app.add_url_rule(
            "/v1/sessions/<session_id>/turns", view_func=self._turn, methods=["POST"]
        )
        self.app.add_url_rule(
            "/v1/sessions/<session_id>", view_func=self._close, methods=["DELETE"]
        )

    def _authorised(self) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {AGENT_TOKEN}"
        self.bad_auth += 0 if ok else 1
        return ok

    async def _open(self) -> Any:
        if not self._authorised():
            return _refused("bad token", 401)
        body = await request.get_json()
        session_id = uuid.uuid4().hex
        self.opened.append({"session_id": session_id, **body})
        return {"session_id": session_id}, 201

    async def _turn(self, session_id: str) -> Any:
        if not self._authorised():
            return _refused("bad token", 401)
        body = await request.get_json()
        self.prompts.append(body["message"])
        await trio.sleep(self.delay)
        return {"reply": self.reply(body["message"])}

    async def _close(self, session_id: str) -> Any:
        if not self._authorised():
            return _refused("bad token", 401)
        self.deleted.append(session_id)
        return "", 204

    def sessions(self) -> list[str]:
        """The ids of the sessions opened so far."""
        return [s["session_id"] for s in self.opened]


class GiteaStandIn:
    """Gitea's pull request API over bare repositories; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.url = ""
        self.root = root
        self.pulls: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.app = QuartTrio("gitea-stand-in")
        self.app.add_url_rule(
            "/api/v1/repos/<owner>/<repo>/pulls",
            view_func=self._pulls,
            methods=["GET", "POST"],
        )

    async def _pulls(self, owner: str, repo: str) -> Any:
        if request.headers.get("Authorization") != f"token {GITEA_TOKEN}":
            return _refused("token is required", 401)
        git_dir = self.root / owner / f"{repo}.git"
        if not git_dir.is_dir():
            return _refused("repository not found", 404)
        if request.method == "GET":
            state = request.args.get("state", "open")
            return jsonify(
                [p for p in self.pulls if p["repo"] == f"{owner}/{repo}"]
                if state == "open"
                else []
            )
        body = await request.get_json()
        self.requests.append({"owner": owner, "repo": repo, **body})
        head_sha = _branch(git_dir, body["head"])
        if head_sha is None:
            return _refused(f"head branch {body['head']!r} does not exist", 422)
        for existing in self.pulls:
            if (existing["head"]["ref"], existing["base"]["ref"]) == (
                body["head"],
                body["base"],
            ):
                return _refused("pull request already exists for these targets", 409)
        number = len(self.pulls) + 1
        pull = {
            "number": number,
            "html_url": f"{self.url}/{owner}/{repo}/pulls/{number}",
            "state": "open",
            "title": body["title"],
            "body": body["body"],
            "head": {"ref": body["head"], "sha": head_sha},
            "base": {"ref": body["base"]},
            "repo": f"{owner}/{repo}",
        }
        self.pulls.append(pull)
        return jsonify(pull), 201


def _branch(git_dir: Path, name: str) -> str | None:
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", "--verify", f"refs/heads/{name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None
