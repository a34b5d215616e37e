"""Every error answer is JSON: ``{ok: false, error: {code, message}}``.

One place maps our error tree, quart-schema's validation errors and
werkzeug's HTTP errors to that shape, so no handler ever answers with an
HTML page. A 422 always carries ``details.problems``, a list of
``{field, problem, type}``, whether pydantic or a handler found the fault.
A 401 carries the ``WWW-Authenticate: Bearer`` challenge of RFC 6750.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, g, jsonify, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

from crafting_table.errors import CraftingError

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_failed",
    426: "upgrade_required",
    429: "too_many_requests",
    503: "not_configured",
}


def error_response(status: int, code: str, message: str, **details: Any) -> Response:
    """The JSON error answer."""
    body: dict[str, Any] = {"ok": False, "error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


def describe_validation(
    error: ValidationError | Exception,
) -> tuple[str, list[dict[str, Any]]]:
    """A sentence naming the first bad field, and every problem as data."""
    if not isinstance(error, ValidationError):
        return str(error), []
    problems = []
    for item in error.errors(include_url=False):
        # An empty field: a rule over several fields (ref with sha) broken.
        field = ".".join(str(part) for part in item["loc"])
        text = str(item["msg"]).removeprefix("Value error, ")
        problem = {"field": field, "problem": text, "type": item["type"]}
        shown = _shown_input(field, item.get("input"))
        if shown is not None and item["type"] != "extra_forbidden":
            problem["input"] = shown
        problems.append(problem)
    if not problems:
        return "the request is invalid", []
    first = problems[0]
    message = _problem(first)
    if first["field"]:
        message = f"field {first['field']!r}: {message}"
    if "input" in first:
        message += f" (got {first['input']!r})"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s), see details)"
    return message, problems


def with_problems(message: str, details: dict[str, Any]) -> dict[str, Any]:
    """``details`` of a 422, given the ``problems`` list if it names a field.

    A handler's own refusal names its ``field``; a client then reads every
    422 the same way, from ``problems``, as it reads pydantic's.
    """
    if "field" not in details or "problems" in details:
        return details
    problem = {"field": details["field"], "problem": message, "type": "value_error"}
    return {**details, "problems": [problem]}


def challenge() -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750, section 3)."""
    if g.get("bearer_given"):
        return 'Bearer realm="crafting-table", error="invalid_token"'
    return 'Bearer realm="crafting-table"'


# A refused value is shown back only where it cannot be a credential: a
# number, or a short word. Error answers end up in logs and bug reports.
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_.-]{0,40}$")
_SECRET_FIELD = re.compile(r"(?i)secret|token|pass|key|auth|git_url|email")


def _shown_input(field: str, value: Any) -> Any:
    """The refused ``value`` if it is safe to show back, else None."""
    if _SECRET_FIELD.search(field):
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and _PLAIN_WORD.match(value):
        return value
    return None


def _problem(item: dict[str, Any]) -> str:
    if item["type"] == "extra_forbidden":
        return "is not a known field; remove it or check its spelling"
    if item["type"] == "missing":
        return "is required"
    if item["type"] == "model_type":
        return "must be a JSON object"
    return str(item["problem"])


def _too_large() -> Response:
    """The 413 naming the limit this request had and the setting behind it."""
    limit = request.max_content_length
    setting = getattr(request, "body_limit_setting", "CRAFTING_MAX_BODY_BYTES")
    message = (
        f"the request body is larger than {limit} bytes, the limit {setting} "
        "sets for this path; send a smaller body or raise the setting"
    )
    response = error_response(
        413, "payload_too_large", message, limit_bytes=limit, setting=setting
    )
    # The rest of the body stays unread, and hypercorn then stalls the
    # next request on this connection: the client must open a new one.
    response.headers["Connection"] = "close"
    return response


def install(app: Quart) -> None:
    """Register the handlers that turn every failure into JSON."""

    @app.errorhandler(CraftingError)
    async def _ours(error: CraftingError) -> Response:
        if error.status >= 500 and error.status != 503:
            logger.error("%s: %s", type(error).__name__, error.message)
        details = error.details
        if error.status == 422:
            details = with_problems(error.message, details)
        response = error_response(error.status, error.code, error.message, **details)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = challenge()
        if error.status == 416 and "size" in details:
            response.headers["Content-Range"] = f"bytes */{details['size']}"
        return response

    @app.errorhandler(RequestSchemaValidationError)
    async def _invalid(error: RequestSchemaValidationError) -> Response:
        cause = error.validation_error
        if isinstance(cause, TypeError | ValueError) and not isinstance(
            cause, ValidationError
        ):
            return error_response(400, "bad_request", "the body must be a JSON object")
        message, problems = describe_validation(cause)
        return error_response(422, "validation_failed", message, problems=problems)

    @app.errorhandler(HTTPException)
    async def _http(error: HTTPException) -> Response:
        if isinstance(error, WebsocketMismatch):
            response = error_response(
                426,
                "upgrade_required",
                "this endpoint is a websocket; open it with a websocket client "
                "(ws:// or wss://)",
            )
            response.headers["Upgrade"] = "websocket"
            return response
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        message = {
            400: "the request body is not valid JSON; send a JSON object",
            404: "no such endpoint; see /openapi.json for the API",
            405: "this endpoint does not take that method; see /openapi.json",
        }.get(status, error.description or error.name)
        if status == 413:
            return _too_large()
        return error_response(status, code, message)

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(
            500, "internal", "the server failed; the error is in its log"
        )
