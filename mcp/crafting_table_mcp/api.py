"""The crafting-table HTTP API as the bridge calls it.

:class:`Config` is read once from the environment; :func:`open_api` holds
one httpx connection pool for the life of the bridge. Every failure leaves
here as a :class:`~crafting_table_mcp.errors.BridgeError`: the service's
``{ok: false, error: {code, message}}`` answers as
:class:`~crafting_table_mcp.errors.ApiRefused`, transport failures as
:class:`~crafting_table_mcp.errors.ServiceUnreachable`.

    async with open_api(Config.from_env(os.environ)) as api:
        project = await api.call("GET", "/projects/alpha")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from crafting_table_mcp.errors import ApiRefused, NotConfigured, ServiceUnreachable

DEFAULT_BASE_URL = "http://127.0.0.1:8810"
# Cancelling a running job answers only once its process tree is gone,
# which the service bounds by its kill grace (10 s by default) plus 20 s.
DEFAULT_TIMEOUT = 60.0
RUNNING_STATUSES = frozenset({"queued", "running"})


@dataclass(frozen=True, slots=True)
class Config:
    """Where the service is and the bearer to show it; ``repr`` hides the bearer."""

    base_url: str = DEFAULT_BASE_URL
    token: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """Read ``CRAFTING_TABLE_BASE_URL`` and ``CRAFTING_TABLE_TOKEN``.

        A missing base URL means the service's default local address; a
        missing token is reported by each tool call, not here, so that an
        MCP client still lists the tools and shows the reason.
        """
        base_url = environ.get("CRAFTING_TABLE_BASE_URL", "").strip()
        token = environ.get("CRAFTING_TABLE_TOKEN", "").strip()
        return cls(base_url=base_url or DEFAULT_BASE_URL, token=token or None)

    def problem(self) -> str | None:
        """Why no request can be made with this configuration, or None."""
        if self.token is None:
            return (
                "CRAFTING_TABLE_TOKEN is not set; give the bridge a bearer of the "
                "service in its environment (the MCP client's server configuration)"
            )
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            return (
                f"CRAFTING_TABLE_BASE_URL {self.shown_url!r} is not an http:// or "
                "https:// URL; set it to the service's address, e.g. "
                f"{DEFAULT_BASE_URL}"
            )
        return None

    @property
    def shown_url(self) -> str:
        """The base URL without any user or password it may carry."""
        try:
            return str(httpx.URL(self.base_url).copy_with(userinfo=b""))
        except (httpx.InvalidURL, TypeError):
            return "<unreadable URL>"


def segment(value: str | int) -> str:
    """``value`` quoted as one path segment.

    Names and ids come from a model's arguments; quoting keeps ``../x`` or
    ``a/b`` from reaching another endpoint.
    """
    return quote(str(value), safe="")


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of a job's log, cut at a line end where one is near."""

    job_id: str
    offset: int
    next_offset: int
    log_size: int
    job_status: str
    text: str

    @property
    def running(self) -> bool:
        """Whether the job is still queued or running (the log may grow)."""
        return self.job_status in RUNNING_STATUSES


class Api:
    """Calls to one crafting-table service; see :func:`open_api`."""

    def __init__(self, config: Config, client: httpx.AsyncClient) -> None:
        self.config = config
        self._client = client

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """Send one request and return the JSON object of a successful answer.

        Raises:
            NotConfigured: no token, or a base URL that is not http(s).
            ServiceUnreachable: the connection failed or timed out.
            ApiRefused: the service answered with an error.
        """
        self._check()
        request = self._client.build_request(method, path, params=params, json=body)
        response = await self._send(request, stream=False)
        return _answer(response)

    async def log_page(self, job_id: str, offset: int, max_bytes: int) -> LogPage:
        """Up to ``max_bytes`` of the job's log from byte ``offset``.

        The page ends after its last complete line when the log goes on
        (or the job may still append to it), so a line is split only when
        it is longer than a page; a split never cuts a UTF-8 character.

        Raises:
            NotConfigured, ServiceUnreachable, ApiRefused: as :meth:`call`;
            an offset past the end of the log is the service's 416.
        """
        self._check()
        # ?offset= streams from there to the end as the log is now; reading
        # only what the page needs and closing keeps a huge log off the wire
        # and, unlike a Range header, answers an offset at the very end
        # with an empty page rather than a 416.
        request = self._client.build_request(
            "GET", f"/jobs/{segment(job_id)}/log", params={"offset": offset}
        )
        response = await self._send(request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                _answer(response)
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    break
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        finally:
            await response.aclose()
        size = int(response.headers.get("X-Log-Size", offset + len(data)))
        status = response.headers.get("X-Job-Status", "unknown")
        page = bytes(data[:max_bytes])
        more = len(data) > max_bytes or offset + len(data) < size
        kept = _page_end(page) if more or status in RUNNING_STATUSES else len(page)
        return LogPage(
            job_id=job_id,
            offset=offset,
            next_offset=offset + kept,
            log_size=size,
            job_status=status,
            text=page[:kept].decode("utf-8", "replace"),
        )

    def _check(self) -> None:
        problem = self.config.problem()
        if problem is not None:
            raise NotConfigured(problem)

    async def _send(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        try:
            return await self._client.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: httpx.HTTPError) -> ServiceUnreachable:
        url = self.config.shown_url
        if isinstance(exc, httpx.TimeoutException):
            return ServiceUnreachable(
                f"crafting-table at {url} did not answer within "
                f"{self.config.timeout:g} s; try again, or check the service"
            )
        reason = str(exc) or type(exc).__name__
        return ServiceUnreachable(
            f"cannot reach crafting-table at {url} ({reason}); check "
            "CRAFTING_TABLE_BASE_URL and that the service is running"
        )


@asynccontextmanager
async def open_api(
    config: Config, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[Api]:
    """An :class:`Api` whose connections are closed when the block ends."""
    headers = {"User-Agent": "crafting-table-mcp"}
    if config.token is not None:
        headers["Authorization"] = f"Bearer {config.token}"
    try:
        base_url = httpx.URL(config.base_url)
    except httpx.InvalidURL:
        # Every call reports the bad URL through Config.problem().
        base_url = httpx.URL(DEFAULT_BASE_URL)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=config.timeout,
        transport=transport,
    ) as client:
        yield Api(config, client)


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code < 400 and isinstance(body, dict):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "message" in error:
        code = str(error.get("code", "error"))
        raise ApiRefused(response.status_code, code, str(error["message"]))
    text = response.text.strip().replace("\n", " ")[:200] or "(empty body)"
    raise ApiRefused(response.status_code, "unexpected_answer", text)


def _page_end(data: bytes) -> int:
    """How many bytes of ``data`` a page keeps when more may follow it.

    Up to its last line end; a page without one (a line longer than a
    page, or a progress bar that never ends its line) up to its last
    whole character, so that a reader always moves forward.
    """
    newline = data.rfind(b"\n")
    if newline >= 0:
        return newline + 1
    return _utf8_boundary(data)


def _utf8_boundary(data: bytes) -> int:
    """The length of the longest prefix of ``data`` that ends on a character."""
    end = len(data)
    start = end
    # A UTF-8 character is at most four bytes: look back at most three
    # continuation bytes (10xxxxxx) for the lead byte.
    while start > 0 and end - start < 3 and data[start - 1] & 0xC0 == 0x80:
        start -= 1
    if start == 0:
        return end
    lead = data[start - 1]
    width = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return start - 1 if start - 1 + width > end else end
