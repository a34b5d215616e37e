"""The Quart-Trio application: auth on every request, then the blueprints.

Every request passes two gates before a handler runs: its source address
must be in ``CRAFTING_LAN_CIDRS`` (``X-Forwarded-For`` is believed only from
``CRAFTING_TRUSTED_PROXIES``), and, except for the few public paths, it
must carry a live bearer whose own address ranges (if any) admit the
caller. The token found is in ``g.token`` for the handlers.

Then the query string: a handler without a query model refuses every
parameter, with the same 422 the query models give for a name they do not
know, so a misspelt ``?ofset=`` is never silently ignored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import ValidationError
from quart import Quart, g, request, websocket
from quart_schema import QuartSchema
from quart_schema.validation import QUART_SCHEMA_QUERYSTRING_ATTRIBUTE
from quart_trio import QuartTrio
from quart_trio.wrappers.request import TrioRequest

from crafting_table import __version__
from crafting_table.auth import (
    allowed,
    bearer_from_header,
    client_address,
    hash_bearer,
    networks,
    same_hash,
)
from crafting_table.errors import BadRequest, Forbidden, Unauthorized, Unprocessable
from crafting_table.ledger import tokens as token_store
from crafting_table.models import Query
from crafting_table.server import errors
from crafting_table.server.context import AppContext
from crafting_table.server.openapi import Provider

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("crafting_table.access")

# Paths that need the LAN but no bearer. Webhooks carry a signature instead.
PUBLIC_PATHS = ("/healthz", "/metrics", "/openapi.json", "/docs")
HOOKS_PREFIX = "/hooks/"
PUBLIC_PREFIXES = (HOOKS_PREFIX,)
# Websocket clients in browsers cannot set headers; they offer the bearer as
# a subprotocol named "bearer.<token>" next to this one, which we accept.
WS_SUBPROTOCOL = "crafting-table"
WS_BEARER_PREFIX = "bearer."
HTTP_BEARER_HINT = "send 'Authorization: Bearer <token>'"
WS_BEARER_HINT = (
    "send 'Authorization: Bearer <token>' or offer the subprotocols "
    f"'{WS_SUBPROTOCOL}, {WS_BEARER_PREFIX}<token>' (Sec-WebSocket-Protocol)"
)
# Touching last_used_at on every request would make every read a write.
TOUCH_INTERVAL = 60.0


class JsonRequest(TrioRequest):
    """A request whose body is read as JSON whatever its content type.

    curl's ``-d`` sends ``application/x-www-form-urlencoded``; rejecting
    such a body over its label would only confuse.

    A webhook delivery (a path under ``/hooks/``) may be as long as
    :attr:`hook_body_bytes` rather than the app's ``MAX_CONTENT_LENGTH``;
    :attr:`body_limit_setting` names the setting that bounds this request.
    """

    # Set on each app's own subclass (see with_hook_limit); None keeps
    # the app-wide limit for every path.
    hook_body_bytes: ClassVar[int | None] = None

    def __init__(
        self,
        method: str,
        scheme: str,
        path: str,
        *args: Any,
        max_content_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        # The limit must be chosen here: quart gives the body its limit when
        # the request is made and fills it while the handlers run; setting
        # request.max_content_length later bounds form parsing only.
        self.body_limit_setting = "CRAFTING_MAX_BODY_BYTES"
        if self.hook_body_bytes is not None and path.startswith(HOOKS_PREFIX):
            max_content_length = self.hook_body_bytes
            self.body_limit_setting = "CRAFTING_MAX_HOOK_BODY_BYTES"
        super().__init__(
            method, scheme, path, *args, max_content_length=max_content_length, **kwargs
        )
        self.max_content_length = max_content_length

    @classmethod
    def with_hook_limit(cls, limit: int) -> type[JsonRequest]:
        """A subclass whose webhook deliveries may be ``limit`` bytes long."""
        return type(cls.__name__, (cls,), {"hook_body_bytes": limit})

    async def get_json(
        self, force: bool = True, silent: bool = False, cache: bool = True
    ) -> Any:
        """Parse the body as JSON (always forced).

        400 when it is not UTF-8, not JSON or nested too deeply to parse.
        """
        try:
            return await super().get_json(force=True, silent=silent, cache=cache)
        except UnicodeDecodeError as exc:
            raise BadRequest(
                f"the request body is not UTF-8 ({exc.reason} at byte {exc.start}); "
                "send JSON encoded as UTF-8"
            ) from exc
        except RecursionError as exc:
            # json.loads recurses once per level of arrays and objects, and
            # quart turns only ValueError into a 400: a body of a few
            # thousand brackets would otherwise be a 500.
            raise BadRequest(
                "the request body is JSON nested too deeply to read; "
                "send a JSON object of a few levels"
            ) from exc

    def on_json_loading_failed(self, error: Exception) -> Any:
        """Answer 400 with the parser's reason."""
        raise BadRequest(
            f"the request body is not valid JSON ({error}); send a JSON object"
        )


class App(QuartTrio):
    """Our application class."""

    request_class = JsonRequest


class NoQuery(Query):
    """The query string of a handler that takes no parameters: empty."""


def create_app(ctx: AppContext) -> Quart:
    """Build the application around ``ctx``."""
    # No static folder: its route would answer nothing but 404s.
    app = App("crafting_table", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = ctx.settings.max_body_bytes
    app.request_class = JsonRequest.with_hook_limit(ctx.settings.max_hook_body_bytes)
    app.config["QUART_SCHEMA_CONVERT_CASING"] = False
    app.config["JSON_SORT_KEYS"] = False
    # Quart's automatic OPTIONS answers an empty HTML page; no client of
    # this API needs one (it serves no browser origin but its own).
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.extensions["crafting"] = ctx
    QuartSchema(
        app,
        info={"title": "crafting-table", "version": __version__},
        openapi_path="/openapi.json",
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
        openapi_provider_class=Provider,
    )
    errors.install(app)
    _install_gates(app, ctx)

    from crafting_table.server import (
        digests,
        docs,
        findings,
        health,
        hooks,
        jobs,
        logs,
        metrics,
        patches,
        projects,
        tokens,
    )

    blueprints = (
        health,
        docs,
        tokens,
        projects,
        jobs,
        findings,
        logs,
        patches,
        digests,
        hooks,
        metrics,
    )
    for module in blueprints:
        app.register_blueprint(module.blueprint)
    return app


def context() -> AppContext:
    """The running application's context (inside a request)."""
    from quart import current_app

    ctx: AppContext = current_app.extensions["crafting"]
    return ctx


def _install_gates(app: Quart, ctx: AppContext) -> None:
    lan = networks(ctx.settings.lan_cidrs)
    proxies = networks(ctx.settings.trusted_proxies)

    async def gate(
        path: str, headers: Any, peer: str | None, subprotocols: list[str], hint: str
    ) -> None:
        address = client_address(peer, headers.get("X-Forwarded-For"), proxies)
        g.client = str(address) if address else "?"
        g.token = None
        g.bearer_given = False
        if not allowed(address, lan):
            raise Forbidden(
                f"address {g.client} is outside CRAFTING_LAN_CIDRS; call from the LAN"
            )
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return
        bearer = bearer_from_header(headers.get("Authorization"))
        if bearer is None:
            bearer = next(
                (
                    p[len(WS_BEARER_PREFIX) :]
                    for p in subprotocols
                    if p.startswith(WS_BEARER_PREFIX)
                ),
                None,
            )
        if bearer is None:
            raise Unauthorized(f"no bearer token; {hint}")
        g.bearer_given = True
        token_hash = hash_bearer(bearer)
        token = ctx.token_cache.get(token_hash)
        if token is None:
            token = await ctx.ledger.read(token_store.by_hash, token_hash)
            if token is not None:
                ctx.token_cache.put(token_hash, token)
        # The lookup matched on the hash; the comparison in constant time
        # is the one made in Python on anything derived from the secret.
        if token is None or not same_hash(token.token_hash, token_hash):
            raise Unauthorized(
                "the bearer token is unknown or revoked; ask an admin for one"
            )
        if token.ip_cidrs and not allowed(address, networks(token.ip_cidrs)):
            raise Forbidden(
                f"token {token.name!r} may not be used from {g.client}; "
                "use it from an address in its ip_cidrs"
            )
        g.token = token
        now = time.time()
        if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
            await ctx.ledger.write(token_store.touch, token.id, now)
            ctx.token_cache.put(token_hash, replace(token, last_used_at=now))

    @app.before_request
    async def _http_gate() -> None:
        g.started = time.monotonic()
        # Read the body (bounded by the request's limit) before anything can
        # answer early: a keep-alive connection whose request body was left
        # unread behind an early 401 or 405 could stall the next request.
        if request.content_length:
            await request.get_data(cache=True)
        await gate(
            request.path,
            request.headers,
            _peer(request.remote_addr),
            [],
            HTTP_BEARER_HINT,
        )
        _refuse_undeclared_query(app, request)

    @app.before_websocket
    async def _ws_gate() -> None:
        g.started = time.monotonic()
        await gate(
            websocket.path,
            websocket.headers,
            _peer(websocket.remote_addr),
            list(websocket.requested_subprotocols),
            WS_BEARER_HINT,
        )
        _refuse_undeclared_query(app, websocket)

    if ctx.settings.access_log:

        @app.after_request
        async def _access(response: Any) -> Any:
            token = getattr(g, "token", None)
            millis = (time.monotonic() - getattr(g, "started", time.monotonic())) * 1000
            access_logger.info(
                '%s %s "%s %s" %d %.1fms',
                getattr(g, "client", "?"),
                token.name if token else "-",
                request.method,
                request.path,
                response.status_code,
                millis,
                extra=_access_fields(token, response.status_code, millis),
            )
            return response


def _refuse_undeclared_query(app: Quart, asked: Any) -> None:
    """422 naming the query parameters sent to a handler that takes none.

    Handlers with a query model leave this to the model, which refuses the
    names it does not know itself. A request that matched no route is left
    to its 404 or 405.
    """
    if not asked.args or asked.url_rule is None:
        return
    view = app.view_functions[asked.url_rule.endpoint]
    if hasattr(view, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE):
        return
    try:
        NoQuery.model_validate(asked.args.to_dict())
    except ValidationError as exc:
        message, problems = errors.describe_validation(exc)
        raise Unprocessable(message, problems=problems) from exc


def _peer(remote_addr: str | None) -> str | None:
    return remote_addr


def _access_fields(token: Any, status: int, millis: float) -> dict[str, Any]:
    """The access line's parts as fields, with the job or project it concerns."""
    fields: dict[str, Any] = {
        "client": getattr(g, "client", "?"),
        "token": token.name if token else None,
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round(millis, 1),
    }
    args = request.view_args or {}
    if "job_id" in args:
        fields["job_id"] = args["job_id"]
    if "name" in args:
        fields["project"] = args["name"]
    return fields
