"""``/docs``: the OpenAPI document rendered as one plain HTML page.

Rendered on the server with no script or stylesheet from elsewhere, so
it works on a network without internet access.
"""

from __future__ import annotations

import html
from typing import Any

from quart import Blueprint, Response, current_app

blueprint = Blueprint("docs", __name__)


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list[{_schema_name(schema.get('items', {}))}]"
    return str(schema.get("type", "object"))


def render(document: dict[str, Any]) -> str:
    """The HTML page for an OpenAPI document."""
    info = document["info"]
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(document['info']['title'])} API</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "code{background:#eee;padding:0 .2em}h3{margin-bottom:.2em}</style>",
        "</head><body>",
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>",
        "<p>Every request needs <code>Authorization: Bearer &lt;token&gt;</code> "
        "except <code>/healthz</code>, <code>/metrics</code> and webhooks. "
        "The machine-readable document is "
        "<a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, operations in sorted(document.get("paths", {}).items()):
        for method, op in operations.items():
            out.append(f"<h3><code>{method.upper()} {html.escape(path)}</code></h3>")
            summary = op.get("description") or op.get("summary") or ""
            out.append(f"<p>{html.escape(summary)}</p>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                out.append(
                    "<p>Body: <code>"
                    f"{html.escape(_schema_name(body['schema']))}</code></p>"
                )
            for status, answer in sorted(op.get("responses", {}).items(), key=str):
                content = answer.get("content", {}).get("application/json")
                name = _schema_name(content["schema"]) if content else ""
                label = html.escape(str(status))
                out.append(f"<p>{label}: <code>{html.escape(name)}</code></p>")
    schemas = document.get("components", {}).get("schemas", {})
    out.append("<h2>Models</h2>")
    for name, schema in sorted(schemas.items()):
        out.append(f"<h3 id='{html.escape(name)}'>{html.escape(name)}</h3><ul>")
        required = set(schema.get("required", []))
        for field, spec in schema.get("properties", {}).items():
            mark = " (required)" if field in required else ""
            out.append(
                f"<li><code>{html.escape(field)}</code>: "
                f"{html.escape(_schema_name(spec))}{mark}</li>"
            )
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


@blueprint.get("/docs")
async def docs() -> Response:
    """The API described for people."""
    schema = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    return Response(render(schema), mimetype="text/html")
