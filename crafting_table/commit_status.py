"""Commit status: a job's state shown on the commit it ran, on the forge.

Two forges speak the same call, ``POST .../repos/{owner}/{repo}/statuses/
{sha}`` with ``{state, target_url, description, context}``:

* Gitea, when ``CRAFTING_GITEA_URL`` and ``CRAFTING_GITEA_TOKEN`` are set
  and the project's git_url names the Gitea host (any port, any scheme):
  ``{gitea}/api/v1/...``, ``Authorization: token <token>``.
* GitHub, when ``CRAFTING_GITHUB_TOKEN`` is set and the git_url names
  github.com or the host of ``CRAFTING_GITHUB_API_URL`` (GitHub Enterprise
  serves its API on its own host): ``{api}/...``, a bearer token.

Owner and repository are the last two path segments of the git_url. A
project opts out with ``commit_status: false``.

States: ``pending`` while the job runs, then ``success`` (succeeded),
``failure`` (the recipe failed) or ``error`` (timed out, canceled, or the
job failed before its recipe could say anything, such as a fetch that
failed). The context is ``crafting-table/<recipe>`` for the root
subproject and ``crafting-table/<subproject>/<recipe>`` for the others, so
each recipe of each subproject has its own line on the forge.

Usage::

    target = target_for(settings, project.spec.git_url)
    if target is not None:
        await post_status(target, job.sha, status_body(job, "pending", url))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from crafting_table.config import Settings
from crafting_table.errors import ForgeError
from crafting_table.ledger.jobs import JobRow
from crafting_table.urls import owner_and_repo, parse_git_url

State = Literal["pending", "success", "failure", "error"]

# A forge that has not answered in this long is down, not slow.
REQUEST_TIMEOUT = 15.0
# GitHub refuses longer descriptions.
MAX_DESCRIPTION = 140
GITHUB_HOST = "github.com"


@dataclass(frozen=True, slots=True)
class StatusTarget:
    """Where and how one project's statuses are posted."""

    forge: Literal["gitea", "github"]
    base: str
    owner: str
    repo: str
    token: str

    def url(self, sha: str) -> str:
        """The statuses URL of commit ``sha``."""
        path = f"repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}"
        return f"{self.base}/{path}/statuses/{quote(sha, safe='')}"

    def headers(self) -> dict[str, str]:
        """The request headers, credentials included (never log them)."""
        if self.forge == "gitea":
            return {
                "Authorization": f"token {self.token}",
                "Accept": "application/json",
            }
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }


def target_for(settings: Settings, git_url: str) -> StatusTarget | None:
    """The forge that holds ``git_url``'s commits, or None when none is set up."""
    try:
        host = parse_git_url(git_url).host
    except ValueError:
        return None
    names = owner_and_repo(git_url)
    if host is None or names is None:
        return None
    owner, repo = names

    gitea, gitea_token = settings.gitea_url, settings.gitea_token
    if gitea and gitea_token and _host(gitea) == host:
        base = gitea.rstrip("/") + "/api/v1"
        return StatusTarget("gitea", base, owner, repo, gitea_token.get_secret_value())

    api, github_token = settings.github_api_url, settings.github_token
    if github_token and host in (GITHUB_HOST, _host(api)):
        token = github_token.get_secret_value()
        return StatusTarget("github", api.rstrip("/"), owner, repo, token)
    return None


def _host(url: str) -> str | None:
    try:
        name = urlsplit(url).hostname
    except ValueError:
        return None
    return name.lower() if name else None


def final_state(job: JobRow) -> State:
    """The state a finished job shows; see the module docstring."""
    if job.status == "succeeded":
        return "success"
    if job.status == "failed" and job.exit_code is not None:
        return "failure"
    return "error"


def context_of(job: JobRow) -> str:
    """The status context: one per subproject and recipe."""
    if job.subproject == ".":
        return f"crafting-table/{job.recipe}"
    return f"crafting-table/{job.subproject}/{job.recipe}"


def describe(job: JobRow, state: State) -> str:
    """A one-line description, within GitHub's length limit."""
    if state == "pending":
        text = f"{job.recipe} running"
    elif job.status == "succeeded":
        text = f"{job.recipe} succeeded"
    elif job.status == "failed" and job.exit_code is not None:
        text = f"{job.recipe} failed with exit {job.exit_code}"
    elif job.status == "timed_out":
        text = f"{job.recipe} timed out after {job.timeout_secs} s"
    elif job.status == "canceled":
        text = f"{job.recipe} canceled"
    else:
        text = f"{job.recipe} could not run: {job.error or 'unknown error'}"
    if state != "pending" and job.findings_count:
        text += f", {job.findings_count} finding(s)"
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "…"
    return text


def status_body(job: JobRow, state: State, public_url: str | None) -> dict[str, Any]:
    """The JSON body both forges take."""
    body: dict[str, Any] = {
        "state": state,
        "description": describe(job, state),
        "context": context_of(job),
    }
    if public_url:
        body["target_url"] = f"{public_url.rstrip('/')}/jobs/{job.id}"
    return body


def retryable(error: ForgeError) -> bool:
    """True for failures a later attempt may not meet: network, 5xx, 429."""
    status = error.details.get("status")
    return status is None or status == 429 or status >= 500


async def post_status(
    target: StatusTarget,
    sha: str,
    body: dict[str, Any],
    *,
    timeout: float = REQUEST_TIMEOUT,
) -> None:
    """POST one status; :class:`ForgeError` when the forge does not take it.

    The error's ``details`` carry the HTTP ``status`` (absent for a network
    failure), which :func:`retryable` reads.
    """
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            answer = await client.post(
                target.url(sha), json=body, headers=target.headers()
            )
    except httpx.HTTPError as exc:
        raise ForgeError(
            f"{target.forge} at {target.base!r} could not be reached: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if answer.status_code >= 300:
        raise ForgeError(
            f"{target.forge} answered {answer.status_code} to a commit status "
            f"for {target.owner}/{target.repo}: {answer.text[:200]!r}",
            status=answer.status_code,
        )
