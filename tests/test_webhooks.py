"""Signatures, push payloads and push plans, without a service."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from crafting_table.errors import BadRequest
from crafting_table.models import ProjectIn
from crafting_table.webhooks import (
    Push,
    delivery_id,
    parse_push,
    plan_push,
    signature_valid,
    touches,
)
from tests.forge_payloads import ZERO, commit, hmac_hex, push_body

SECRET = "s3cret-hook-key"
A = "a" * 40
B = "b" * 40
BODY = push_body("gitea", "refs/heads/main", A, B, commits=[commit(B)])


@pytest.mark.parametrize(
    ("forge", "secret", "header", "expected"),
    [
        pytest.param("gitea", SECRET, hmac_hex(SECRET, BODY), True, id="gitea-good"),
        pytest.param(
            "gitea", SECRET, hmac_hex(SECRET, BODY).upper(), True, id="gitea-upper"
        ),
        pytest.param(
            "github",
            SECRET,
            "sha256=" + hmac_hex(SECRET, BODY),
            True,
            id="github-good",
        ),
        pytest.param(
            "github", SECRET, hmac_hex(SECRET, BODY), False, id="github-no-prefix"
        ),
        pytest.param(
            "gitea",
            SECRET,
            "sha256=" + hmac_hex(SECRET, BODY),
            False,
            id="gitea-with-prefix",
        ),
        pytest.param("gitea", SECRET, hmac_hex("other", BODY), False, id="wrong-key"),
        pytest.param(
            "gitea", SECRET, hmac_hex(SECRET, BODY + b" "), False, id="other-body"
        ),
        pytest.param("gitea", SECRET, None, False, id="missing"),
        pytest.param("github", SECRET, "", False, id="empty"),
        pytest.param("gitea", SECRET, "zz\u00e9", False, id="not-hex"),
        pytest.param("gitea", None, hmac_hex("", BODY), False, id="no-secret"),
    ],
)
def test_signature(
    forge: str, secret: str | None, header: str | None, expected: bool
) -> None:
    assert signature_valid(forge, secret, BODY, header) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize("forge", ["gitea", "github"])
def test_push_collects_every_changed_path(forge: str) -> None:
    body = push_body(
        forge,
        "refs/heads/feature/x",
        A,
        B,
        commits=[
            commit("c" * 40, added=["api/new.py"], modified=["README.md"]),
            commit(B, removed=["web/old.js"], modified=["api/app.py"]),
        ],
    )

    push = parse_push(forge, body)  # type: ignore[arg-type]

    assert push.branch == "feature/x"
    assert (push.before, push.after, push.deleted) == (A, B, False)
    assert push.paths == {"api/new.py", "README.md", "web/old.js", "api/app.py"}


@pytest.mark.parametrize(
    ("forge", "ref", "after", "extra", "branch", "deleted", "paths_known"),
    [
        pytest.param(
            "github", "refs/heads/gone", ZERO, {}, "gone", True, True, id="deletion"
        ),
        pytest.param("gitea", "refs/tags/v1.0", B, {}, None, False, True, id="tag"),
        pytest.param(
            "github",
            "refs/heads/main",
            B,
            {"forced": True},
            "main",
            False,
            False,
            id="forced",
        ),
        pytest.param(
            "gitea",
            "refs/heads/main",
            B,
            {"total_commits": 9},
            "main",
            False,
            False,
            id="gitea-cut-short",
        ),
    ],
)
def test_push_kinds(
    forge: str,
    ref: str,
    after: str,
    extra: dict[str, object],
    branch: str | None,
    deleted: bool,
    paths_known: bool,
) -> None:
    body = push_body(forge, ref, A, after, commits=[commit(B, added=["x"])], **extra)

    push = parse_push(forge, body)  # type: ignore[arg-type]

    assert push.branch == branch
    assert push.deleted is deleted
    assert (push.paths is not None) is paths_known


def test_push_sent_as_a_form() -> None:
    payload = push_body("github", "refs/heads/main", A, B, commits=[commit(B)])
    body = urlencode({"payload": payload.decode()}).encode()

    assert parse_push("github", body).after == B


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(b"not json", "not JSON", id="not-json"),
        pytest.param(b"[1, 2]", "not a JSON object", id="list"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested", id="too-deep"),
        pytest.param(
            json.dumps({"ref": "refs/heads/main", "before": A}).encode(),
            "'after'",
            id="no-after",
        ),
        pytest.param(
            json.dumps(
                {"ref": "refs/heads/main", "before": A, "after": "--upload-pack=x"}
            ).encode(),
            "not a commit id",
            id="bad-sha",
        ),
        pytest.param(
            json.dumps(
                {"ref": "refs/heads/main", "before": A, "after": B, "commits": "x"}
            ).encode(),
            "'commits'",
            id="bad-commits",
        ),
    ],
)
def test_bad_push_payloads(body: bytes, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        parse_push("gitea", body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("72d3a0b2-1c4f-11ef-8a1b-0242ac120002", "ok", id="uuid"),
        pytest.param(None, None, id="absent"),
        pytest.param("x" * 200, "bad", id="too-long"),
        pytest.param("a b", "bad", id="space"),
    ],
)
def test_delivery_ids(value: str | None, expected: str | None) -> None:
    headers = {} if value is None else {"X-GitHub-Delivery": value}
    if expected == "bad":
        with pytest.raises(BadRequest):
            delivery_id("github", headers)
    else:
        assert delivery_id("github", headers) == value


@pytest.mark.parametrize(
    ("subproject", "paths", "expected"),
    [
        pytest.param(".", frozenset({"web/a.js"}), True, id="root-always"),
        pytest.param("api", None, True, id="unknown-paths"),
        pytest.param("api", frozenset({"api/x.py"}), True, id="inside"),
        pytest.param("api", frozenset({"api"}), True, id="the-folder-itself"),
        pytest.param("api", frozenset({"apiary/x.py"}), False, id="prefix-only"),
        pytest.param("clients/py", frozenset({"clients/go/x.go"}), False, id="sibling"),
        pytest.param("api", frozenset(), False, id="nothing-changed"),
    ],
)
def test_touches(subproject: str, paths: frozenset[str] | None, expected: bool) -> None:
    assert touches(subproject, paths) is expected


def _project(**fields: object) -> ProjectIn:
    return ProjectIn.model_validate(
        {
            "name": "mono",
            "git_url": "https://forge.example.com/platform/monorepo.git",
            "subprojects": [
                {"path": "api", "test": "pytest", "lint": "ruff check ."},
                {"path": "web", "test": "npm test"},
                {"path": "docs", "build": "mkdocs build"},
            ],
            "on_push": ["lint", "test"],
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("fields", "ref", "paths", "expected"),
    [
        pytest.param(
            {},
            "refs/heads/main",
            {"web/app.js"},
            [("web", "test")],
            id="only-the-touched-subproject",
        ),
        pytest.param(
            {},
            "refs/heads/main",
            {"api/x.py", "docs/index.md"},
            [("api", "lint"), ("api", "test")],
            id="recipes-it-defines",
        ),
        pytest.param(
            {"push_paths_only": False},
            "refs/heads/main",
            {"web/app.js"},
            [("api", "lint"), ("api", "test"), ("web", "test")],
            id="paths-ignored",
        ),
        pytest.param(
            {},
            "refs/heads/main",
            None,
            [("api", "lint"), ("api", "test"), ("web", "test")],
            id="paths-unknown",
        ),
        pytest.param({}, "refs/tags/v1", None, [], id="tag"),
        pytest.param({"on_push": []}, "refs/heads/main", None, [], id="no-on-push"),
    ],
)
def test_plan_push(
    fields: dict[str, object],
    ref: str,
    paths: set[str] | None,
    expected: list[tuple[str, str]],
) -> None:
    push = Push(
        ref=ref,
        before=A,
        after=B,
        deleted=False,
        paths=None if paths is None else frozenset(paths),
    )

    assert plan_push(_project(**fields), push) == expected


def test_a_deleted_branch_runs_nothing() -> None:
    push = Push(ref="refs/heads/main", before=A, after=ZERO, deleted=True, paths=None)

    assert plan_push(_project(), push) == []
