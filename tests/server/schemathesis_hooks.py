"""A schemathesis check of our own: no answer of the API is an HTML page.

Loaded by the fuzz test through ``SCHEMATHESIS_HOOKS``.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_crash(ctx: Any, response: Any, case: Any) -> None:
    """No 5xx, except 503 for a feature that settings leave off."""
    if response.status_code < 500:
        return
    if response.status_code == 503 and '"not_configured"' in response.text:
        return
    raise AssertionError(f"server error {response.status_code}: {response.text[:300]}")


@schemathesis.check
def json_errors_only(ctx: Any, response: Any, case: Any) -> None:
    """Every error answer is our JSON error object, never HTML."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if "json" not in content_type:
        raise AssertionError(f"error answer with content-type {content_type!r}")
    body = response.json()
    if body.get("ok") is not False or "code" not in body.get("error", {}):
        raise AssertionError(f"error answer without the error object: {body!r}")
