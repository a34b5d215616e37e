"""Forge webhooks: the signature, the push event, and what a push runs.

Gitea and GitHub sign a delivery with HMAC-SHA256 of the raw body under
the secret both sides share: Gitea sends the hex digest in
``X-Gitea-Signature``, GitHub ``sha256=<hex>`` in ``X-Hub-Signature-256``.
:func:`signature_valid` checks it before a byte of the body is parsed, in
constant time, and answers False the same way for a missing header, a
wrong digest, or a project without a secret.

A push names its ref, the commits before and after it, and for each
commit the files it added, modified and removed. :func:`parse_push` reads
the fields both forges share; :func:`plan_push` turns a push into the
(subproject, recipe) pairs a project's ``on_push`` asks for.

Usage::

    header = headers.get(SIGNATURE_HEADERS["github"])
    if not signature_valid("github", secret, body, header):
        raise Unauthorized(...)
    push = parse_push("github", body)
    for path, recipe in plan_push(project.spec, push):
        ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from crafting_table.errors import BadRequest
from crafting_table.models import ProjectIn

Forge = Literal["gitea", "github"]

SIGNATURE_HEADERS: dict[Forge, str] = {
    "gitea": "X-Gitea-Signature",
    "github": "X-Hub-Signature-256",
}
DELIVERY_HEADERS: dict[Forge, str] = {
    "gitea": "X-Gitea-Delivery",
    "github": "X-GitHub-Delivery",
}
# Gitea also sends the Gogs name of each header, for older receivers.
EVENT_HEADERS: dict[Forge, tuple[str, ...]] = {
    "gitea": ("X-Gitea-Event", "X-Gogs-Event"),
    "github": ("X-GitHub-Event",),
}
GITHUB_PREFIX = "sha256="
BRANCH_PREFIX = "refs/heads/"
# GitHub lists at most this many commits in a push; past it the lists of
# changed files are incomplete.
GITHUB_MAX_COMMITS = 2048
# Computed when a project has no secret, so that an unknown project and a
# known one cost the same work and answer alike.
_NO_SECRET = b"\0no secret\0"
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_DELIVERY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def signature_valid(
    forge: Forge, secret: str | None, body: bytes, header: str | None
) -> bool:
    """True when ``header`` is the forge's HMAC-SHA256 of ``body`` under ``secret``.

    False for a missing or malformed header and whenever ``secret`` is
    None. The digest is always computed and compared with
    :func:`hmac.compare_digest`, so the time taken says nothing about the
    secret or about whether the project has one.
    """
    key = secret.encode("utf-8") if secret else _NO_SECRET
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")
    given = (header or "").strip()
    if forge == "github":
        given = given[len(GITHUB_PREFIX) :] if given.startswith(GITHUB_PREFIX) else ""
    same = hmac.compare_digest(expected, given.lower().encode("utf-8", "replace"))
    return same and secret is not None


def event_name(forge: Forge, headers: Any) -> str:
    """The event a delivery carries (``push``, ``ping``, ...), or ``""``."""
    for name in EVENT_HEADERS[forge]:
        value = headers.get(name)
        if value:
            return str(value).strip().lower()
    return ""


def delivery_id(forge: Forge, headers: Any) -> str | None:
    """The delivery's id, or None when the forge sent none.

    Raises :class:`BadRequest` for an id too long or with odd characters:
    it is stored, and no forge sends such a thing.
    """
    value = headers.get(DELIVERY_HEADERS[forge])
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if not _DELIVERY.match(text):
        raise BadRequest(
            f"{DELIVERY_HEADERS[forge]} {text[:40]!r} is not a delivery id; "
            "send the id the forge made, or none"
        )
    return text


@dataclass(frozen=True, slots=True)
class Push:
    """What a push event says, reduced to what decides the jobs.

    ``paths`` holds every file the listed commits added, modified or
    removed; None means the lists cannot be trusted to be complete (no
    commits listed, a list the forge cut short, or a forced push, whose
    rewritten history the lists do not describe), and then every
    subproject counts as touched.
    """

    ref: str
    before: str
    after: str
    deleted: bool
    paths: frozenset[str] | None

    @property
    def branch(self) -> str | None:
        """The branch pushed to; None for a tag or any other ref."""
        if self.ref.startswith(BRANCH_PREFIX):
            return self.ref[len(BRANCH_PREFIX) :] or None
        return None


def payload_json(body: bytes) -> dict[str, Any]:
    """The delivery's JSON object, sent as JSON or as a ``payload=`` form.

    GitHub can be told to send ``application/x-www-form-urlencoded`` with
    the JSON in a ``payload`` field; the signature covers the form as sent.
    Raises :class:`BadRequest` when neither form holds a JSON object.
    """
    text = body.decode("utf-8", "replace")
    if text.startswith("payload="):
        text = parse_qs(text).get("payload", [""])[0]
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadRequest(
            f"the webhook body is not JSON ({exc}); set the content type to "
            "application/json on the forge"
        ) from None
    except RecursionError:
        # json.loads recurses once per level; no forge nests this deep.
        raise BadRequest("the webhook body is JSON nested too deeply to read") from None
    if not isinstance(data, dict):
        raise BadRequest("the webhook body is not a JSON object")
    return data


def parse_push(forge: Forge, body: bytes) -> Push:
    """Read a push event; :class:`BadRequest` naming a missing or odd field."""
    data = payload_json(body)
    ref = _text(data, "ref")
    before = _text(data, "before").lower()
    after = _text(data, "after").lower()
    for name, value in (("before", before), ("after", after)):
        if not _SHA.match(value):
            raise BadRequest(f"push field {name!r} is {value[:80]!r}, not a commit id")
    deleted = bool(data.get("deleted")) or set(after) == {"0"}
    commits = data.get("commits") or []
    if not isinstance(commits, list):
        raise BadRequest("push field 'commits' is not a list")
    return Push(
        ref=ref,
        before=before,
        after=after,
        deleted=deleted,
        paths=_changed_paths(forge, data, commits),
    )


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"push field {name!r} is missing or not a string")
    return value


def _changed_paths(
    forge: Forge, data: dict[str, Any], commits: list[Any]
) -> frozenset[str] | None:
    if not commits or data.get("forced"):
        return None
    # Gitea lists only the newest few commits and says how many there were.
    total = data.get("total_commits")
    if forge == "gitea" and isinstance(total, int) and total > len(commits):
        return None
    if forge == "github" and len(commits) >= GITHUB_MAX_COMMITS:
        return None
    paths: set[str] = set()
    for commit in commits:
        if not isinstance(commit, dict):
            raise BadRequest("push field 'commits' holds something not an object")
        for key in ("added", "modified", "removed"):
            files = commit.get(key) or []
            if not isinstance(files, list):
                raise BadRequest(f"a commit's {key!r} is not a list of paths")
            paths.update(str(f).strip("/") for f in files if isinstance(f, str))
    return frozenset(paths)


def touches(subproject: str, paths: frozenset[str] | None) -> bool:
    """True when a file in ``paths`` lies in the folder ``subproject``.

    The root (``.``) and unknown paths (None) always count as touched.
    """
    if subproject == "." or paths is None:
        return True
    prefix = subproject + "/"
    return any(p == subproject or p.startswith(prefix) for p in paths)


def plan_push(spec: ProjectIn, push: Push) -> list[tuple[str, str]]:
    """The (subproject path, recipe) pairs a push runs, in project order.

    Nothing for a tag or a branch deletion. Otherwise each ``on_push``
    recipe of each subproject that defines it, left out where the push
    touched no file of the subproject while ``push_paths_only`` is on.
    """
    if push.deleted or push.branch is None:
        return []
    out: list[tuple[str, str]] = []
    for sub in spec.subprojects:
        if spec.push_paths_only and not touches(sub.path, push.paths):
            continue
        for recipe in dict.fromkeys(spec.on_push):
            if sub.command(recipe) is not None:
                out.append((sub.path, recipe))
    return out
