"""Webhook deliveries as Gitea and GitHub send them, signed or forged.

The bodies follow the push and ping payloads the two forges document:
``ref``, ``before``, ``after``, ``commits[]`` with ``added`` / ``modified``
/ ``removed``, ``head_commit``, ``repository``, ``pusher`` and ``sender``,
plus each forge's own fields (Gitea's ``total_commits`` and
``compare_url``; GitHub's ``created`` / ``deleted`` / ``forced``,
``compare`` and ``base_ref``). Signatures are computed here with hashlib,
independently of the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

ZERO = "0" * 40
OWNER = "platform"
REPO = "monorepo"


def commit(
    sha: str,
    *,
    added: list[str] | None = None,
    modified: list[str] | None = None,
    removed: list[str] | None = None,
    message: str = "change",
) -> dict[str, Any]:
    """One entry of ``commits[]``, in the shape both forges share."""
    person = {"name": "Dev One", "email": "dev@example.com", "username": "dev1"}
    return {
        "id": sha,
        "message": message + "\n",
        "url": f"https://forge.example.com/{OWNER}/{REPO}/commit/{sha}",
        "author": person,
        "committer": person,
        "timestamp": "2026-03-02T10:15:00-08:00",
        "added": added or [],
        "removed": removed or [],
        "modified": modified or [],
    }


def gitea_push(
    ref: str,
    before: str,
    after: str,
    commits: list[dict[str, Any]],
    *,
    total_commits: int | None = None,
) -> dict[str, Any]:
    """A Gitea push payload."""
    for entry in commits:
        entry["verification"] = None
    user = {
        "id": 3,
        "login": "dev1",
        "full_name": "Dev One",
        "email": "dev@example.com",
        "username": "dev1",
    }
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": f"https://gitea.example.com/{OWNER}/{REPO}/compare/{before}...{after}",
        "commits": commits,
        "total_commits": len(commits) if total_commits is None else total_commits,
        "head_commit": commits[-1] if commits else None,
        "repository": {
            "id": 12,
            "owner": {"id": 2, "login": OWNER, "username": OWNER},
            "name": REPO,
            "full_name": f"{OWNER}/{REPO}",
            "private": True,
            "html_url": f"https://gitea.example.com/{OWNER}/{REPO}",
            "clone_url": f"https://gitea.example.com/{OWNER}/{REPO}.git",
            "ssh_url": f"git@gitea.example.com:{OWNER}/{REPO}.git",
            "default_branch": "main",
        },
        "pusher": user,
        "sender": user,
    }


def github_push(
    ref: str,
    before: str,
    after: str,
    commits: list[dict[str, Any]],
    *,
    forced: bool = False,
) -> dict[str, Any]:
    """A GitHub push payload."""
    for entry in commits:
        entry["tree_id"] = "9" * 40
        entry["distinct"] = True
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO,
        "deleted": after == ZERO,
        "forced": forced,
        "base_ref": None,
        "compare": f"https://github.com/{OWNER}/{REPO}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "repository": {
            "id": 1296269,
            "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": REPO,
            "full_name": f"{OWNER}/{REPO}",
            "private": False,
            "owner": {"name": OWNER, "login": OWNER},
            "html_url": f"https://github.com/{OWNER}/{REPO}",
            "clone_url": f"https://github.com/{OWNER}/{REPO}.git",
            "default_branch": "main",
            "master_branch": "main",
        },
        "pusher": {"name": "dev1", "email": "dev@example.com"},
        "sender": {"login": "dev1", "id": 1, "type": "User"},
    }


def github_ping() -> dict[str, Any]:
    """The ping GitHub sends when a webhook is created."""
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": 30,
        "hook": {
            "type": "Repository",
            "id": 30,
            "active": True,
            "events": ["push"],
            "config": {"content_type": "json", "insecure_ssl": "0"},
        },
        "repository": {"name": REPO, "full_name": f"{OWNER}/{REPO}"},
        "sender": {"login": "dev1", "id": 1},
    }


def hmac_hex(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of ``body`` under ``secret``, hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(
    forge: str,
    body: bytes,
    secret: str | None,
    *,
    event: str = "push",
    delivery: str | None = None,
) -> dict[str, str]:
    """The headers a forge sends with ``body``; no signature without a secret."""
    delivery = delivery or str(uuid.uuid4())
    out = {"Content-Type": "application/json"}
    if forge == "gitea":
        out |= {
            "X-Gitea-Event": event,
            "X-Gitea-Event-Type": event,
            "X-Gitea-Delivery": delivery,
            "X-Gogs-Event": event,
            "User-Agent": "Go-http-client/1.1",
        }
        if secret is not None:
            out["X-Gitea-Signature"] = hmac_hex(secret, body)
    else:
        out |= {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "30",
            "User-Agent": "GitHub-Hookshot/044aadd",
        }
        if secret is not None:
            out["X-Hub-Signature-256"] = "sha256=" + hmac_hex(secret, body)
    return out


def push_body(forge: str, ref: str, before: str, after: str, **kw: Any) -> bytes:
    """A push payload of ``forge`` as the bytes sent."""
    commits = kw.pop("commits", [])
    maker = gitea_push if forge == "gitea" else github_push
    return json.dumps(maker(ref, before, after, commits, **kw)).encode()
