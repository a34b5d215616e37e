"""The OpenAPI document, completed with what every operation shares.

quart-schema describes each route from its decorators. Added here: the
error answer every operation can give (so a client generator knows its
shape), and no security requirement on the public paths.
"""

from __future__ import annotations

from typing import Any

from quart_schema.openapi import OpenAPIProvider

from crafting_table.models import ErrorAnswer

PUBLIC = ("/healthz", "/openapi.json", "/docs", "/metrics", "/hooks/")


class Provider(OpenAPIProvider):
    """quart-schema's provider plus shared error answers and public paths."""

    def schema(self) -> dict[str, Any]:
        """The document for the running app."""
        document = super().schema()
        components = document["components"]["schemas"]
        components["ErrorAnswer"] = ErrorAnswer.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, schema in components["ErrorAnswer"].pop("$defs", {}).items():
            components.setdefault(name, schema)
        error = {
            "description": "The request failed; see error.code and error.message.",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorAnswer"}
                }
            },
        }
        for path, operations in document["paths"].items():
            for operation in operations.values():
                # Status codes as strings, as OpenAPI writes them (and so
                # that they sort beside "default").
                responses = {
                    str(k): v for k, v in operation.get("responses", {}).items()
                }
                responses.setdefault("default", error)
                operation["responses"] = responses
                if path.startswith(PUBLIC):
                    operation["security"] = []
        return document
