"""The common part of the outside HTTP services the service talks to.

An :class:`HttpService` holds where a service is, the token it takes, the
deadline of a call and, in tests, a transport that replaces the network.
Its clients never follow redirects: a token sent to one host must not be
carried to another by a ``Location`` header.
"""

from __future__ import annotations

import httpx


class HttpService:
    """A base URL, a token and a deadline; subclasses add the calls."""

    # How the token goes in the Authorization header ("Bearer", "token").
    auth_scheme = "Bearer"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._transport = transport

    def _client(self) -> httpx.AsyncClient:
        """A fresh client for one conversation with the service."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"{self.auth_scheme} {self._token}"},
            timeout=httpx.Timeout(self.timeout),
            transport=self._transport,
            follow_redirects=False,
        )
