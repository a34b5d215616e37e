"""Sending mail over SMTP with the standard library, off the trio thread.

smtplib blocks, so :func:`send` runs the whole conversation on a worker
thread. Every socket operation has ``CRAFTING_SMTP_TIMEOUT_SECS``; the
thread is never abandoned, because a conversation cut off from its result
could have been accepted by the server and would then be sent again.

Transport: with ``CRAFTING_SMTP_TLS`` on, port 465 speaks TLS from the
first byte (SMTPS) and any other port upgrades with STARTTLS, which the
server must offer. Certificates are verified against the system store,
plus ``CRAFTING_SMTP_CA_FILE`` when set (a private CA). Login happens only
when ``CRAFTING_SMTP_USER`` is set.

Every failure is a :class:`~crafting_table.errors.MailError` carrying the
server's reply (never the password), with the original chained.

Usage::

    config = SmtpConfig.from_settings(settings)
    refused = await send(config, message, ["ops@example.com"])
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import trio

from crafting_table.config import Settings
from crafting_table.errors import ConfigError, MailError

IMPLICIT_TLS_PORT = 465
DEFAULT_SENDER = "crafting-table@localhost"
# The conversation is a handful of commands, each bounded by the socket
# timeout; this only catches a server that trickles bytes forever.
COMMANDS = 8


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to send; built from the ``CRAFTING_SMTP_*`` settings."""

    host: str
    port: int
    sender: str
    tls: bool = True
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The mail settings; :class:`ConfigError` when no host is set."""
        if not settings.smtp_host:
            raise ConfigError("CRAFTING_SMTP_HOST is not set; mail cannot be sent")
        password = settings.smtp_pass.get_secret_value() if settings.smtp_pass else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from or settings.smtp_user or DEFAULT_SENDER,
            tls=settings.smtp_tls,
            user=settings.smtp_user,
            password=password,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout_secs,
        )

    @property
    def implicit_tls(self) -> bool:
        """True when the connection is TLS from the start (port 465)."""
        return self.tls and self.port == IMPLICIT_TLS_PORT

    def describe(self) -> str:
        """``host:port`` for messages; never the credentials."""
        return f"{self.host}:{self.port}"


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context: the system store, plus ``ca_file`` if given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"CRAFTING_SMTP_CA_FILE={str(ca_file)!r} cannot be read as PEM "
                f"certificates ({exc}); point it at the CA's certificate file"
            ) from exc
    return context


async def send(
    config: SmtpConfig, message: EmailMessage, recipients: list[str]
) -> dict[str, str]:
    """Deliver ``message`` to ``recipients``; answer the ones the server refused.

    The envelope goes to exactly ``recipients`` (the headers are not read
    for addresses). An empty answer means every recipient was accepted; a
    partial refusal maps each refused address to the server's reply.
    Raises :class:`MailError` when nothing was accepted: the server could
    not be reached, TLS or login failed, or every recipient or the message
    was refused.
    """
    context = tls_context(config.ca_file) if config.tls else None
    deadline = config.timeout * COMMANDS
    try:
        with trio.fail_after(deadline):
            # Not abandoned on cancel (see the module docstring): the worker
            # ends within its socket timeouts, and its answer is kept.
            return await trio.to_thread.run_sync(
                _converse, config, context, message, recipients, abandon_on_cancel=False
            )
    except trio.TooSlowError as exc:
        raise MailError(
            f"the SMTP server {config.describe()} did not finish within {deadline:g} s"
        ) from exc


def _converse(
    config: SmtpConfig,
    context: ssl.SSLContext | None,
    message: EmailMessage,
    recipients: list[str],
) -> dict[str, str]:
    # Runs on a worker thread.
    try:
        smtp = _connect(config, context)
        try:
            if config.user:
                smtp.login(config.user, config.password or "")
            refused = smtp.send_message(message, config.sender, recipients)
        finally:
            _quit(smtp)
    except smtplib.SMTPRecipientsRefused as exc:
        replies = "; ".join(
            f"{address}: {_reply(code, text)}"
            for address, (code, text) in exc.recipients.items()
        )
        raise MailError(
            f"the SMTP server {config.describe()} refused every recipient ({replies})"
        ) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"the SMTP server {config.describe()} refused the login of "
            f"{config.user!r}: {_reply(exc.smtp_code, exc.smtp_error)}; "
            "check CRAFTING_SMTP_USER and CRAFTING_SMTP_PASS"
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(
            f"the SMTP server {config.describe()} does not support "
            f"{'STARTTLS' if config.tls else 'a command we need'} ({exc}); "
            "use port 465 for TLS from the start, or set CRAFTING_SMTP_TLS=0"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(
            f"the SMTP server {config.describe()} answered "
            f"{_reply(exc.smtp_code, exc.smtp_error)}"
        ) from exc
    except ssl.SSLError as exc:
        raise MailError(
            f"TLS with the SMTP server {config.describe()} failed ({exc}); "
            "for a private CA set CRAFTING_SMTP_CA_FILE"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(
            f"cannot deliver through the SMTP server {config.describe()}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return {address: _reply(code, text) for address, (code, text) in refused.items()}


def _connect(config: SmtpConfig, context: ssl.SSLContext | None) -> smtplib.SMTP:
    if config.implicit_tls:
        return smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=context
        )
    smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    try:
        if context is not None:
            smtp.ehlo()
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def _quit(smtp: smtplib.SMTP) -> None:
    # Once the server has answered the message, the outcome is decided: a
    # QUIT that fails must not turn an accepted message into a failure
    # (and a resend), so its errors end here.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return f"{code} {' '.join(text.split())}"
