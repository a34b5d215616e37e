"""The mailer against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme

from crafting_table.config import Settings
from crafting_table.errors import ConfigError, MailError
from crafting_table.mailer import SmtpConfig, send
from tests.mailserver import HOST, free_port, mail_server

SENDER = "ct@example.com"


def _message(to: str = "ops@example.com") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "hello"
    message["From"] = SENDER
    message["To"] = to
    message.set_content("body text\n")
    return message


def _config(port: int, **changes: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": HOST,
        "port": port,
        "sender": SENDER,
        "tls": False,
        "timeout": 5.0,
    }
    values.update(changes)
    return SmtpConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path, ssl.SSLContext]:
    """A private CA, its PEM file, and a server context with a loopback cert."""
    authority = trustme.CA()
    pem = tmp_path / "private-ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(HOST, "localhost").configure_cert(server)
    return authority, pem, server


async def test_plain_delivery_keeps_envelope_and_body() -> None:
    with mail_server() as sink:
        refused = await send(
            _config(sink.port), _message(), ["ops@example.com", "dev@example.com"]
        )

    assert refused == {}
    assert len(sink.messages) == 1
    received = sink.messages[0]
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert received.parsed()["Subject"] == "hello"
    assert received.parsed().get_content().splitlines() == ["body text"]


async def test_starttls_with_a_private_ca_file(
    ca: tuple[trustme.CA, Path, ssl.SSLContext],
) -> None:
    _, pem, server = ca
    with mail_server(starttls=server) as sink:
        await send(_config(sink.port, tls=True, ca_file=pem), _message(), ["a@b.org"])

    assert sink.count() == 1


async def test_starttls_refuses_an_unknown_ca(
    ca: tuple[trustme.CA, Path, ssl.SSLContext],
) -> None:
    _, _, server = ca
    with (
        mail_server(starttls=server) as sink,
        pytest.raises(MailError, match="CRAFTING_SMTP_CA_FILE") as caught,
    ):
        await send(_config(sink.port, tls=True), _message(), ["a@b.org"])

    assert sink.count() == 0
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


async def test_a_server_demanding_starttls_refuses_plain_mail(
    ca: tuple[trustme.CA, Path, ssl.SSLContext],
) -> None:
    _, _, server = ca
    with mail_server(starttls=server) as sink, pytest.raises(MailError, match="530"):
        await send(_config(sink.port, tls=False), _message(), ["a@b.org"])

    assert sink.count() == 0


async def test_implicit_tls_on_port_465(
    ca: tuple[trustme.CA, Path, ssl.SSLContext],
) -> None:
    _, pem, server = ca
    try:
        context = mail_server(port=465, implicit_tls=server)
        sink = context.__enter__()
    except OSError as exc:
        pytest.skip(f"cannot listen on port 465 here: {exc}")
    try:
        config = _config(465, tls=True, ca_file=pem)
        assert config.implicit_tls
        await send(config, _message(), ["a@b.org"])
    finally:
        context.__exit__(None, None, None)

    assert sink.count() == 1


@pytest.mark.parametrize(
    ("password", "accepted"),
    [("s3cret-pass", True), ("wrong-pass", False)],
    ids=["right-password", "wrong-password"],
)
async def test_login_only_with_the_right_password(
    ca: tuple[trustme.CA, Path, ssl.SSLContext], password: str, accepted: bool
) -> None:
    _, pem, server = ca
    with mail_server(starttls=server, login=("robot", "s3cret-pass")) as sink:
        config = _config(
            sink.port, tls=True, ca_file=pem, user="robot", password=password
        )
        if accepted:
            await send(config, _message(), ["a@b.org"])
        else:
            with pytest.raises(MailError, match="535") as caught:
                await send(config, _message(), ["a@b.org"])
            assert password not in caught.value.message
            assert password not in repr(config)

    assert sink.count() == (1 if accepted else 0)


async def test_a_refused_recipient_is_an_error_with_the_reply() -> None:
    with (
        mail_server(refuse={"gone@example.com"}) as sink,
        pytest.raises(MailError, match=r"gone@example\.com: 550 5\.1\.1"),
    ):
        await send(_config(sink.port), _message(), ["gone@example.com"])

    assert sink.count() == 0


async def test_a_partly_refused_message_answers_the_refusals() -> None:
    with mail_server(refuse={"gone@example.com"}) as sink:
        refused = await send(
            _config(sink.port), _message(), ["gone@example.com", "here@example.com"]
        )

    assert list(refused) == ["gone@example.com"]
    assert refused["gone@example.com"].startswith("550")
    assert sink.messages[0].rcpt_tos == ["here@example.com"]


async def test_a_server_that_is_down_is_a_mail_error() -> None:
    with pytest.raises(MailError, match="cannot deliver") as caught:
        await send(_config(free_port()), _message(), ["a@b.org"])

    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_an_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    from crafting_table.mailer import tls_context

    bad = tmp_path / "not-a-cert.pem"
    bad.write_text("hello\n")
    with pytest.raises(ConfigError, match="CRAFTING_SMTP_CA_FILE"):
        tls_context(bad)


@pytest.mark.parametrize(
    ("env", "sender", "implicit"),
    [
        ({"smtp_host": "mx", "smtp_port": 465}, "crafting-table@localhost", True),
        (
            {"smtp_host": "mx", "smtp_user": "u@example.com", "smtp_port": 587},
            "u@example.com",
            False,
        ),
        (
            {"smtp_host": "mx", "smtp_from": "f@example.com", "smtp_port": 465},
            "f@example.com",
            True,
        ),
        ({"smtp_host": "mx", "smtp_port": 465, "smtp_tls": False}, None, False),
    ],
    ids=["default-sender", "user-as-sender", "from-wins", "tls-off"],
)
def test_config_from_settings(
    env: dict[str, object], sender: str | None, implicit: bool
) -> None:
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    config = SmtpConfig.from_settings(settings)

    assert config.implicit_tls is implicit
    if sender is not None:
        assert config.sender == sender


@pytest.mark.parametrize(
    "value",
    ["a@b.com\r\nBcc: x@y", "mx\nRCPT TO:<x@y>"],
    ids=["crlf-in-from", "lf-in-host"],
)
def test_settings_refuse_line_breaks(value: str) -> None:
    with pytest.raises(ValueError, match="single line"):
        Settings(_env_file=None, smtp_host=value, smtp_from=value)  # type: ignore[call-arg]
