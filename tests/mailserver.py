"""A real SMTP server for tests: aiosmtpd on loopback, in its own thread.

``mail_server()`` starts one on a free port and yields a :class:`MailSink`
that keeps every message it accepted. It can refuse chosen recipients,
demand STARTTLS with a certificate, demand a login, or speak TLS from the
first byte.

Usage::

    with mail_server() as sink:
        ...  # send to 127.0.0.1:sink.port
        assert len(sink.messages) == 1
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import trio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message as the server took it: envelope and raw bytes."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def parsed(self) -> EmailMessage:
        """The message parsed with the default (modern) policy."""
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class MailSink:
    """The handler: records accepted messages, refuses listed recipients."""

    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Refuse the listed addresses with a permanent error."""
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message."""
        with self._lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 2.0.0 accepted"

    def count(self) -> int:
        """How many messages were accepted so far."""
        with self._lock:
            return len(self.messages)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` messages arrived."""
        with trio.fail_after(timeout):
            while self.count() < count:
                await trio.sleep(0.02)


class _LoopbackController(Controller):  # type: ignore[misc]
    """A controller on a port the kernel picks (aiosmtpd wants a fixed one)."""

    def _create_server(self) -> Any:
        if self.port:
            return super()._create_server()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.port = sock.getsockname()[1]
        return self.loop.create_server(
            self._factory_invoker, sock=sock, ssl=self.ssl_context
        )


def password_check(user: str, password: str, echo: bool = False) -> Any:
    """An aiosmtpd authenticator accepting exactly ``user``/``password``.

    With ``echo``, a refusal repeats the password it was given, as a
    careless server might.
    """

    def check(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        given = auth_data.password.decode()
        ok = auth_data.login.decode() == user and given == password
        reply = f"535 5.7.8 {given!r} is not the password" if echo else None
        return AuthResult(success=ok, handled=False, message=None if ok else reply)

    return check


@contextmanager
def mail_server(
    *,
    refuse: set[str] | None = None,
    port: int = 0,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    login: tuple[str, str] | None = None,
    echo_refusal: bool = False,
) -> Iterator[MailSink]:
    """Run a server until the block ends; see the module docstring.

    ``starttls``: a server context; the server then refuses mail before
    STARTTLS. ``implicit_tls``: TLS from the first byte. ``login``: the one
    user and password accepted, required before mail; ``echo_refusal``
    repeats a wrong password in the refusal.
    """
    sink = MailSink(refuse=set(refuse or ()))
    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if login is not None:
        check = password_check(*login, echo=echo_refusal)
        options.update(authenticator=check, auth_required=True)
    controller = _LoopbackController(
        sink, hostname=HOST, port=port, ssl_context=implicit_tls, **options
    )
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port
