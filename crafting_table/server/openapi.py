"""The OpenAPI document, completed with what quart-schema leaves out.

quart-schema describes each HTTP route from its decorators, and only JSON
answers. Added here:

* answers of other kinds (a log as text, Prometheus figures, an HTML page,
  a SARIF log) and statuses such as 416, declared on a handler with
  :func:`document_answer`;
* the websocket routes, which OpenAPI 3 has no operation for: each appears
  as the ``GET`` that opens it, whose success is ``101 Switching
  Protocols``;
* ``/openapi.json`` itself, which quart-schema leaves out of its own
  document;
* the error answer every operation can give (so a client generator knows
  its shape), and no security requirement on the paths that need no token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from quart_schema.openapi import QUART_SCHEMA_HIDDEN_ATTRIBUTE, OpenAPIProvider
from werkzeug.routing import Rule

from crafting_table.models import ErrorAnswer

T = TypeVar("T", bound=Callable[..., Any])

ANSWERS_ATTRIBUTE = "_crafting_answers"
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorAnswer"}
ERROR_ANSWER = {
    "description": "The request failed; see error.code and error.message.",
    "content": {"application/json": {"schema": ERROR_SCHEMA}},
}


def document_answer(
    status: int,
    description: str,
    *,
    content: dict[str, dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Callable[[T], T]:
    """Describe an answer of a handler that quart-schema cannot describe.

    ``content`` maps each media type to the JSON schema of its body (an
    error answer is ``{"application/json": {"schema": ERROR_SCHEMA}}``);
    leave it out for an answer without a body. ``headers`` maps the name
    of each response header to its description. A status documented this
    way replaces one documented by quart-schema's own decorators.
    """

    def decorator(func: T) -> T:
        answer: dict[str, Any] = {"description": description}
        if headers:
            answer["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in headers.items()
            }
        if content:
            answer["content"] = content
        # A fresh dict: quart-schema's wrappers copy attributes by reference.
        answers = {**getattr(func, ANSWERS_ATTRIBUTE, {}), str(status): answer}
        setattr(func, ANSWERS_ATTRIBUTE, answers)
        return func

    return decorator


class Provider(OpenAPIProvider):
    """quart-schema's provider plus the answers, routes and rules above."""

    def generate_rules(self) -> Iterable[Rule]:
        """Every rule quart-schema documents, and the websocket rules."""
        yield from super().generate_rules()
        for rule in self._app.url_map.iter_rules():
            view = self._app.view_functions[rule.endpoint]
            if rule.websocket and not getattr(view, QUART_SCHEMA_HIDDEN_ATTRIBUTE, 0):
                yield rule

    def generate_methods(self, rule: Rule) -> Iterable[str]:
        """The rule's methods; a websocket is opened by a ``GET`` only."""
        if rule.websocket:
            return ["GET"]
        return list(super().generate_methods(rule))

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """quart-schema's operations with the answers of document_answer."""
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        extra = getattr(func, ANSWERS_ATTRIBUTE, {})
        for operations in paths.values():
            for operation in operations.values():
                responses = {str(k): v for k, v in operation["responses"].items()}
                operation["responses"] = responses | extra
        return paths, components

    def schema(self) -> dict[str, Any]:
        """The document for the running app."""
        # Imported here: the app module imports this one to build the app.
        from crafting_table.server.app import PUBLIC_PATHS, PUBLIC_PREFIXES

        document = super().schema()
        components = document["components"]["schemas"]
        components["ErrorAnswer"] = ErrorAnswer.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, schema in components["ErrorAnswer"].pop("$defs", {}).items():
            components.setdefault(name, schema)
        document["paths"]["/openapi.json"] = {"get": _document_operation()}
        for path, operations in document["paths"].items():
            for operation in operations.values():
                operation["responses"].setdefault("default", ERROR_ANSWER)
                if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
                    operation["security"] = []
        return document


def _document_operation() -> dict[str, Any]:
    return {
        "summary": "This document: the API in OpenAPI 3.1.",
        "operationId": "get_openapi",
        "parameters": [],
        "responses": {
            "200": {
                "description": "The OpenAPI document.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }
