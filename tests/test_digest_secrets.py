"""The digest never shows a secret, whatever the findings it lists carry.

A recipe on a repository fetched with credentials prints, and writes into
its report folder, SARIF results whose messages, rule ids and paths hold
the git_url's password, the SMTP password, the forge and agent tokens,
the admin bearer and a user's bearer. The mail (both parts), ``GET
/digests/{date}`` and ``/admin/digest/run-now`` show those findings with
the secrets masked. A mail server that repeats the password in its
refusal has it masked too.
"""

from __future__ import annotations

import base64
import json
import shlex
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from pydantic import SecretStr

from crafting_table.config import Settings
from crafting_table.digest import url_secrets
from tests.digest_service import (
    DigestClock,
    current_day,
    mail_settings,
    register_notified,
    running,
    schedule_ran,
)
from tests.gitserver import GitServer
from tests.mailserver import mail_server
from tests.support import Repo, run_job

GIT_PASSWORD = "gitpw-7c1e9a3f5b"
SMTP_USER = "digest-sender"
SMTP_PASSWORD = "smtp-pw+4d2b/8e6a=1c"
TOKENS = {
    "gitea_token": "gt_5e1f0a9c+d/7b=secret",
    "clawdforge_token": "cf-agent-0a9b8c7d6e5f",
    "github_token": "ghp_1234567890abcdefXYZ",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings holding a token of each kind the service keeps."""
    return settings.model_copy(
        update={name: SecretStr(value) for name, value in TOKENS.items()}
    )


def sarif(results: dict[str, str]) -> str:
    """A SARIF log with one result per ``rule id: message``."""
    return json.dumps(
        {
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": {"name": "leaky"}},
                    "results": [
                        {
                            "ruleId": rule,
                            "level": "error",
                            "message": {"text": text},
                            "locations": [
                                {
                                    "physicalLocation": {
                                        "artifactLocation": {"uri": "app.py"},
                                        "region": {"startLine": 3},
                                    }
                                }
                            ],
                        }
                        for rule, text in results.items()
                    ],
                }
            ],
        }
    )


def leaky_repo(make_repo: Any, secrets: dict[str, str], git_url: str) -> Repo:
    """A repository whose lint recipe prints and writes SARIF full of secrets.

    The printed log is masked for the secrets the service knows; the
    report file is read as written.
    """
    in_log = {f"LOG-{name}": f"log shows {value}" for name, value in secrets.items()}
    in_file = {f"FILE-{name}": f"file shows {value}" for name, value in secrets.items()}
    in_file["FILE-url"] = f"fetched from {git_url}"
    in_file["FILE-header"] = f"sent Authorization: Bearer {secrets['user-bearer']}"
    in_file["CVE-2024-0001"] = f"token {secrets['user-bearer']} in the config"
    report = '"$CRAFTING_REPORTS/x.sarif"'
    script = (
        f"printf '%s\\n' {shlex.quote(sarif(in_log))}\n"
        f"printf '%s\\n' {shlex.quote(sarif(in_file))} > {report}\n"
        "exit 1\n"
    )
    repo: Repo = make_repo({"leak.sh": script, "app.py": "print(1)\n"})
    return repo


def tls_server(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A private CA's file and a server context for 127.0.0.1.

    The mail server takes a login only over TLS, as a real one does.
    """
    authority = trustme.CA()
    pem = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return pem, context


def shapes(value: str) -> list[str]:
    """The ways a secret could be shown: as is, URL-encoded, base64."""
    return [value, quote(value, safe=""), base64.b64encode(value.encode()).decode()]


async def test_the_digest_masks_every_secret(
    settings: Settings, make_repo: Any, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    git = GitServer(served, "bot", GIT_PASSWORD)
    pem, tls = tls_server(tmp_path)
    login = (SMTP_USER, SMTP_PASSWORD)
    with mail_server(starttls=tls, login=login) as sink, git.running():
        config = mail_settings(
            settings,
            sink.port,
            smtp_tls=True,
            smtp_ca_file=pem,
            smtp_user=SMTP_USER,
            smtp_pass=SecretStr(SMTP_PASSWORD),
        )
        day = current_day(config.digest_tz)
        clock = DigestClock.at_send_time(config.digest_tz, day, timedelta(hours=2))
        async with running(config, clock) as (handle, admin):
            await schedule_ran(admin)
            minted = await admin.post("/admin/tokens", json={"name": "someone"})
            secrets = {
                "git-password": GIT_PASSWORD,
                "smtp-password": SMTP_PASSWORD,
                **TOKENS,
                "admin-bearer": str(handle.admin_bearer),
                "user-bearer": minted.json()["bearer"],
            }
            repo = leaky_repo(make_repo, secrets, git.url("demo.git"))
            bare = served / "demo.git"
            repo.git("clone", "-q", "--bare", str(repo.path), str(bare))
            repo.git("--git-dir", str(bare), "update-server-info")
            project = {
                "name": "demo",
                "git_url": git.url("demo.git"),
                "subprojects": [{"path": ".", "lint": "sh leak.sh"}],
                "notify": {"email": ["ops@example.com"], "on": ["nightly_summary"]},
            }
            assert (await admin.post("/projects", json=project)).status_code == 201
            job = await run_job(admin, "demo", recipe="lint")
            dry = await admin.post(
                "/admin/digest/run-now", json={"dry_run": True, "project": "demo"}
            )
            sent = await admin.post("/admin/digest/run-now", json={})
            shown = await admin.get(f"/digests/{day.isoformat()}")

    assert job["job"]["status"] == "failed", job["log_tail"]
    assert sent.json()["results"][0]["status"] == "sent", sent.text
    [received] = sink.messages
    message = received.parsed()
    text = message.get_body(preferencelist=("plain",))
    page = message.get_body(preferencelist=("html",))
    assert text is not None
    assert page is not None
    views = {
        "text": text.get_content(),
        "html": page.get_content(),
        "raw": received.data.decode("utf-8", "replace"),
        "digest": shown.text,
        "dry-run": dry.text,
        "run-now": sent.text,
    }
    [digest] = shown.json()["digests"]
    [listed] = digest["jobs"]
    messages = {f["code"]: f["message"] for f in listed["new_findings"]}
    # Every result made it into the digest, so the masking had work to do.
    assert len(messages) == 2 * len(secrets) + 3
    assert messages["FILE-smtp-password"] == "file shows ***"
    assert messages["LOG-user-bearer"] == "log shows ***"
    assert (
        messages["FILE-url"]
        == "fetched from http://***@" + git.url("demo.git").rpartition("@")[2]
    )
    assert messages["FILE-header"] == "sent Authorization: Bearer ***"
    assert [c["message"] for c in listed["cves"]] == ["token *** in the config"]
    assert "file shows ***" in views["text"]
    assert "file shows ***" in views["html"]
    for name, value in secrets.items():
        for shape in shapes(value):
            for view, shown_text in views.items():
                assert shape not in shown_text, (name, view)


async def test_a_refusal_repeating_the_smtp_password_is_masked(
    settings: Settings, make_repo: Any, tmp_path: Path
) -> None:
    pem, tls = tls_server(tmp_path)
    login = (SMTP_USER, "the-server-wants-this")
    with mail_server(starttls=tls, login=login, echo_refusal=True) as sink:
        config = mail_settings(
            settings,
            sink.port,
            smtp_tls=True,
            smtp_ca_file=pem,
            smtp_user=SMTP_USER,
            smtp_pass=SecretStr(SMTP_PASSWORD),
        )
        day = current_day(config.digest_tz)
        clock = DigestClock.at_send_time(config.digest_tz, day, timedelta(hours=2))
        async with running(config, clock) as (_, admin):
            await schedule_ran(admin)
            await register_notified(admin, make_repo())
            await run_job(admin, "demo", recipe="audit")
            sent = await admin.post("/admin/digest/run-now", json={})
            shown = await admin.get(f"/digests/{day.isoformat()}")
            health = await admin.get("/healthz")

    [result] = sent.json()["results"]
    [digest] = shown.json()["digests"]
    assert result["status"] == "failed"
    assert "535 5.7.8 '***' is not the password" in result["error"]
    assert digest["delivery"]["error"] == result["error"]
    assert sink.count() == 0
    for view in (sent.text, shown.text, health.text):
        for shape in shapes(SMTP_PASSWORD):
            assert shape not in view


@pytest.mark.parametrize(
    ("git_url", "masked"),
    [
        pytest.param(
            "https://crafting-table:t%40k-9f1c@git.example.com/org/a.git",
            ["t@k-9f1c"],
            id="name-and-token",
        ),
        pytest.param(
            "https://ghp_5e0c7a1d@github.com/org/a.git", ["ghp_5e0c7a1d"], id="token"
        ),
        pytest.param("https://git.example.com/org/a.git", [], id="none"),
    ],
)
def test_url_secrets_are_the_token_not_the_user_name(
    git_url: str, masked: list[str]
) -> None:
    # A digest subject reads "[crafting-table] ...": a user name of that
    # spelling beside a token must not turn it into "[***] ...".
    assert url_secrets(git_url) == masked
