"""``/docs``: the OpenAPI document rendered as one plain HTML page.

Rendered on the server with no script or stylesheet from elsewhere, so
it works on a network without internet access.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from quart import Blueprint, Response, current_app

from crafting_table.server.app import (
    PUBLIC_PATHS,
    PUBLIC_PREFIXES,
    WS_BEARER_PREFIX,
    WS_SUBPROTOCOL,
)
from crafting_table.server.openapi import document_answer

blueprint = Blueprint("docs", __name__)

# The reST our docstrings use, which the document carries as it is:
# ``literal``, :role:`target` and `interpreted`, all shown as code.
_MARKUP = re.compile(r"``(.+?)``|:[a-z]+:`([^`]+)`|`([^`]+)`")


def _prose(text: str) -> str:
    """Paragraphs of escaped text, with the inline reST markup as code."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "".join(f"<p>{_inline(p)}</p>" for p in paragraphs if p.strip())


def _inline(text: str) -> str:
    """Escaped text on one line, with the inline reST markup as code."""
    escaped = html.escape(" ".join(text.split()), quote=False)
    return _MARKUP.sub(_code, escaped)


def _aside(text: str) -> str:
    """`` — text`` after an item, or nothing when there is no text."""
    return f" — {_inline(text)}" if text else ""


def _code(match: re.Match[str]) -> str:
    return f"<code>{next(g for g in match.groups() if g is not None)}</code>"


def _schema_name(schema: dict[str, Any]) -> str:
    """A schema as a short type, models linked to their entry below."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _link(name)
    if "title" in schema and "properties" in schema:
        return _link(str(schema["title"]))
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(html.escape(repr(v)) for v in schema["enum"])
    if "const" in schema:
        return html.escape(repr(schema["const"]))
    if schema.get("type") == "array":
        return f"list[{_schema_name(schema.get('items', {}))}]"
    return html.escape(str(schema.get("type", "object")))


def _link(name: str) -> str:
    escaped = html.escape(name)
    return f"<a href='#{escaped}'>{escaped}</a>"


def _models(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The named schemas, with the models quart-schema writes in place.

    A request body's or an answer's own model is not among the
    components: its schema sits inside the operation, named by its title.
    """
    models = dict(document.get("components", {}).get("schemas", {}))
    for operations in document.get("paths", {}).values():
        for op in operations.values():
            answers = op.get("responses", {}).values()
            holders = [op.get("requestBody", {}), *answers]
            for holder in holders:
                for media in holder.get("content", {}).values():
                    schema = media.get("schema", {})
                    if "title" in schema and "properties" in schema:
                        models.setdefault(str(schema["title"]), schema)
    return models


def _operation(method: str, path: str, op: dict[str, Any]) -> Iterable[str]:
    yield f"<h3><code>{method.upper()} {html.escape(path)}</code></h3>"
    if op.get("summary"):
        yield _prose(op["summary"])
    if op.get("description"):
        yield _prose(op["description"])
    if op.get("security") == []:
        yield "<p><em>No token needed.</em></p>"
    parameters = op.get("parameters", [])
    if parameters:
        yield "<p>Parameters:</p><ul>"
        for p in parameters:
            schema = p.get("schema", {})
            yield (
                f"<li><code>{html.escape(p['name'])}</code> ({p['in']}): "
                f"{_schema_name(schema)}"
                f"{_aside(p.get('description') or schema.get('description', ''))}"
                "</li>"
            )
        yield "</ul>"
    for media, content in op.get("requestBody", {}).get("content", {}).items():
        yield (
            f"<p>Body ({html.escape(media)}): "
            f"{_schema_name(content.get('schema', {}))}</p>"
        )
    yield "<ul>"
    for status, answer in sorted(op.get("responses", {}).items(), key=str):
        kinds = [
            f"{html.escape(media)} {_schema_name(content.get('schema', {}))}"
            for media, content in answer.get("content", {}).items()
        ]
        yield (
            f"<li>{html.escape(str(status))}: {', '.join(kinds) or 'no body'}"
            f"{_aside(answer.get('description', ''))}</li>"
        )
    yield "</ul>"


def _model(name: str, schema: dict[str, Any]) -> Iterable[str]:
    yield f"<h3 id='{html.escape(name)}'>{html.escape(name)}</h3>"
    if schema.get("description"):
        yield _prose(schema["description"])
    yield "<ul>"
    required = set(schema.get("required", []))
    for field, spec in schema.get("properties", {}).items():
        mark = " (required)" if field in required else ""
        yield (
            f"<li><code>{html.escape(field)}</code>: {_schema_name(spec)}{mark}"
            f"{_aside(spec.get('description', ''))}</li>"
        )
    if schema.get("additionalProperties") is True:
        yield "<li>and further sections, by name</li>"
    yield "</ul>"


def render(document: dict[str, Any]) -> str:
    """The HTML page for an OpenAPI document."""
    info = document["info"]
    public = ", ".join(f"<code>{html.escape(p)}</code>" for p in PUBLIC_PATHS)
    hooks = " and ".join(f"<code>{html.escape(p)}</code>" for p in PUBLIC_PREFIXES)
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(info['title'])} API</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "code{background:#eee;padding:0 .2em}h3{margin-bottom:.2em}</style>",
        "</head><body>",
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>",
        "<p>Every request needs <code>Authorization: Bearer &lt;token&gt;</code> "
        f"except {public} and the webhooks under {hooks}, which carry the "
        "project's signature instead. All of them are still only for the "
        "addresses in <code>CRAFTING_LAN_CIDRS</code>. A websocket opened from "
        "a browser, which cannot send that header, offers the subprotocols "
        f"<code>{WS_SUBPROTOCOL}, {WS_BEARER_PREFIX}&lt;token&gt;</code>. "
        "The machine-readable document is "
        "<a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, operations in sorted(document.get("paths", {}).items()):
        for method, op in operations.items():
            out.extend(_operation(method, path, op))
    out.append("<h2>Models</h2>")
    for name, schema in sorted(_models(document).items()):
        out.extend(_model(name, schema))
    out.append("</body></html>")
    return "\n".join(out)


@blueprint.get("/docs")
@document_answer(
    200, "This page.", content={"text/html": {"schema": {"type": "string"}}}
)
async def docs() -> Response:
    """The API described for people: this document as one HTML page."""
    schema = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    return Response(render(schema), mimetype="text/html")
