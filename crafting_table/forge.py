"""Opening pull requests on the forge.

The patch loop sees a forge only through :class:`Forge`. :class:`Gitea`
implements it with Gitea's API v1 (``Authorization: token <token>``)::

    POST /api/v1/repos/{owner}/{repo}/pulls   {head, base, title, body}
         -> 201 {number, html_url, ...}; 409 when one is open for head
    GET  /api/v1/repos/{owner}/{repo}/pulls?state=open&page=N&limit=50

Usage::

    forge = Gitea("http://gitea.internal:3000", token, timeout=30)
    pull = await forge.open_pull_request(
        "org", "alpha", head="crafting-table/auto/x-1", base="main",
        title="Fix F401", body="...",
    )

When a pull request is already open from the same branch into the same
base, it is reused (``PullRequest.reused``) rather than reported as an
error. Failures come out as :class:`~crafting_table.errors.ForgeError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import trio

from crafting_table.errors import ForgeError
from crafting_table.httpservice import HttpService

logger = logging.getLogger(__name__)

# Open pull requests read per page, and pages read, when looking for the
# one a 409 refers to; a repository with more open ones than this is
# unusual enough to report instead.
PAGE_SIZE = 50
MAX_PAGES = 10


@dataclass(frozen=True, slots=True)
class PullRequest:
    """An open pull request: its number, its page, and whether it existed."""

    number: int
    url: str
    reused: bool = False


class Forge(Protocol):
    """Where pull requests are opened."""

    name: str

    async def open_pull_request(
        self, owner: str, repo: str, *, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        """Open a pull request from branch ``head`` into ``base`` (or find the
        one already open) and return it; raises :class:`ForgeError`."""
        ...


class Gitea(HttpService):
    """Gitea's API v1; see the module docstring.

    ``timeout`` bounds each call. ``transport`` replaces the network in tests.
    """

    name = "gitea"

    auth_scheme = "token"

    async def open_pull_request(
        self, owner: str, repo: str, *, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        """See :meth:`Forge.open_pull_request`."""
        path = f"/api/v1/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/pulls"
        async with self._client() as client:
            answer = await self._call(
                client,
                "POST",
                path,
                json={"head": head, "base": base, "title": title, "body": body},
            )
            if answer.status_code == 201:
                return _pull_request(_json(answer), reused=False)
            if answer.status_code == 409:
                found = await self._find_open(client, path, head, base)
                if found is not None:
                    logger.info(
                        "pull request %s already open for %s; reusing it",
                        found.url,
                        head,
                    )
                    return found
            raise ForgeError(
                f"gitea answered {answer.status_code} when opening a pull request "
                f"from {head!r} into {base!r} of {owner}/{repo}: {_message(answer)}"
            )

    async def _find_open(
        self, client: httpx.AsyncClient, path: str, head: str, base: str
    ) -> PullRequest | None:
        for page in range(1, MAX_PAGES + 1):
            answer = await self._call(
                client,
                "GET",
                path,
                params={"state": "open", "page": page, "limit": PAGE_SIZE},
            )
            if answer.status_code != 200:
                raise ForgeError(
                    f"gitea answered {answer.status_code} when listing open pull "
                    f"requests: {_message(answer)}"
                )
            pulls = _json(answer)
            if not isinstance(pulls, list):
                raise ForgeError("gitea's list of pull requests is not a list")
            for pull in pulls:
                if _ref(pull, "head") == head and _ref(pull, "base") == base:
                    return _pull_request(pull, reused=True)
            if len(pulls) < PAGE_SIZE:
                return None
        return None

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        try:
            with trio.fail_after(self.timeout + 1):
                return await client.request(method, path, **kwargs)
        except (httpx.TimeoutException, trio.TooSlowError) as exc:
            raise ForgeError(
                f"gitea at {self.base_url} did not answer within {self.timeout:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise ForgeError(
                f"gitea at {self.base_url} could not be reached: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError as exc:
        raise ForgeError(f"gitea's answer ({answer.status_code}) is not JSON") from exc


def _ref(pull: Any, side: str) -> str | None:
    branch = pull.get(side) if isinstance(pull, dict) else None
    ref = branch.get("ref") if isinstance(branch, dict) else None
    return ref if isinstance(ref, str) else None


def _pull_request(data: Any, *, reused: bool) -> PullRequest:
    number = data.get("number") if isinstance(data, dict) else None
    url = data.get("html_url") if isinstance(data, dict) else None
    if not isinstance(number, int) or not isinstance(url, str):
        raise ForgeError("gitea's pull request has no number or html_url")
    return PullRequest(number=number, url=url, reused=reused)


def _message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return " ".join(body["message"].split())[:300]
    return " ".join(answer.text.split())[:300] or "no message"
