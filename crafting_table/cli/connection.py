"""Which service the client talks to, with which bearer, and the calls.

The base URL comes from ``--url``, else ``CRAFTING_TABLE_BASE_URL``, else
the address the service in this folder listens on (``CRAFTING_BIND``, from
the environment or ``./.env`` as the service reads it), else
:data:`DEFAULT_URL`. The bearer comes from ``--token``, else
``CRAFTING_TABLE_TOKEN``, else the admin bearer file that the service
writes on first boot, ``<CRAFTING_DATA_DIR or ./data>/admin-bearer.txt``,
so that on the service's own machine ``crafting-table job list`` works in
the folder the service runs in.

:class:`Client` translates every failure at one seam: an error answer
becomes :class:`~crafting_table.errors.ServiceRefused`, a failed or
timed-out connection :class:`~crafting_table.errors.ServiceUnreachable`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from crafting_table import __version__
from crafting_table.errors import ServiceRefused, ServiceUnreachable, UsageError

DEFAULT_URL = "http://127.0.0.1:8810"
# Cancelling a running job answers once its processes are gone: up to the
# service's kill grace (10 s by default) plus 20 s.
TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Target:
    """The service's base URL and the bearer to show it (hidden from repr)."""

    url: str
    token: str | None = field(default=None, repr=False)
    # Why there is no token, when there is none: read problems of the file.
    missing_reason: str = ""

    @property
    def ws_url(self) -> str:
        """The base URL with ws:// or wss:// for websockets."""
        scheme, rest = self.url.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest


def resolve_target(
    url: str | None, token: str | None, environ: Mapping[str, str], cwd: Path
) -> Target:
    """The target from flags, then environment, then the admin bearer file.

    Raises:
        UsageError: the base URL is not an http:// or https:// URL.
    """
    local = _service_settings(environ, cwd)
    base = url or environ.get("CRAFTING_TABLE_BASE_URL", "") or _bind_url(local)
    base = base.strip().rstrip("/")
    try:
        parsed = httpx.URL(base)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(
            f"the service URL {base!r} is not an http:// or https:// URL; "
            f"pass --url or set CRAFTING_TABLE_BASE_URL, e.g. {DEFAULT_URL}"
        )
    bearer = (token or environ.get("CRAFTING_TABLE_TOKEN", "")).strip()
    if bearer:
        return Target(url=base, token=bearer)
    data_dir = Path(local.get("CRAFTING_DATA_DIR", "") or "data")
    path = data_dir if data_dir.is_absolute() else cwd / data_dir
    path = path / "admin-bearer.txt"
    try:
        bearer = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return Target(url=base, missing_reason="")
    except OSError as exc:
        return Target(url=base, missing_reason=f" ({path} is not readable: {exc})")
    return Target(url=base, token=bearer or None)


def _service_settings(environ: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """The service's settings for this folder: ``./.env``, then the environment."""
    from dotenv import dotenv_values

    found = {k: v for k, v in dotenv_values(cwd / ".env").items() if v is not None}
    return {**found, **environ}


def _bind_url(settings: Mapping[str, str]) -> str:
    """The URL of the service listening on ``CRAFTING_BIND``, or the default."""
    bind = settings.get("CRAFTING_BIND", "").strip()
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or port == "0":
        return DEFAULT_URL
    # A service listening on every address is reached on loopback.
    anywhere = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}  # noqa: S104
    host = anywhere.get(host, host)
    return f"http://{host}:{port}"


def segment(value: str | int) -> str:
    """``value`` quoted as one path segment (a name can never reach another path)."""
    return quote(str(value), safe="")


class Client:
    """Blocking calls to the API; use as a context manager."""

    def __init__(self, target: Target, timeout: float = TIMEOUT) -> None:
        if target.token is None:
            raise UsageError(
                "no bearer token: pass --token, set CRAFTING_TABLE_TOKEN, or run "
                "in the folder holding the service's data/admin-bearer.txt"
                + target.missing_reason
            )
        self.target = target
        self._http = httpx.Client(
            base_url=target.url,
            headers={
                "Authorization": f"Bearer {target.token}",
                "User-Agent": f"crafting-table/{__version__}",
            },
            timeout=timeout,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """One request; the JSON object of a successful answer.

        Raises:
            ServiceRefused: the API answered with an error status.
            ServiceUnreachable: no connection, or no answer in time.
        """
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.HTTPError as exc:
            raise unreachable(self.target.url, exc) from exc
        return answer_of(response)

    @contextmanager
    def stream(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> Iterator[httpx.Response]:
        """A GET whose body is read in pieces; refusals raise before it yields.

        Raises:
            ServiceRefused, ServiceUnreachable: as :meth:`call`, also while
            the body is being read.
        """
        try:
            with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    answer_of(response)
                yield response
        except httpx.HTTPError as exc:
            raise unreachable(self.target.url, exc) from exc


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful answer, else :class:`ServiceRefused`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code < 400 and isinstance(body, dict):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "message" in error:
        raise ServiceRefused(
            response.status_code, str(error.get("code", "error")), str(error["message"])
        )
    text = " ".join(response.text.split())[:200] or "an empty body"
    raise ServiceRefused(
        response.status_code,
        f"http_{response.status_code}",
        f"the service answered with {text!r}, which is not the API's JSON; "
        "check the URL",
    )


def unreachable(url: str, exc: Exception) -> ServiceUnreachable:
    """The error for a connection to ``url`` that failed with ``exc``."""
    if isinstance(exc, httpx.TimeoutException):
        return ServiceUnreachable(
            f"the service at {url} did not answer in time; try again or check it"
        )
    # trio-websocket's HandshakeError says nothing itself; its cause does.
    reason = str(exc) or str(exc.__cause__ or "") or type(exc).__name__
    return ServiceUnreachable(
        f"cannot reach the service at {url} ({reason}); is it running? "
        "(--url or CRAFTING_TABLE_BASE_URL, or CRAFTING_BIND in the service's .env)"
    )
