"""Why a tool call's arguments were refused, as one sentence to act on.

The SDK checks a call's arguments against the tool's input schema before
the tool runs, and its refusal is pydantic's own text: several lines, a
model name the caller never saw and a link to pydantic's site. The model
reading it is better served the way the service words a refused field::

    argument 'max_bytes' must be an integer from 1024 to 262144 (got 300);
    pass one in that range, or leave it out for the default 16384

:func:`describe` words the first problem so, naming the argument, what it
must be and what to do, and names the arguments of any further ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

# Refusals of a number for its size; their bounds are read from the schema.
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
# A refused value is shown back only where it cannot be a credential: a
# number, or a short word (the service's rule for its own error answers).
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_.-]{0,40}$")
_SECRET_NAME = re.compile(r"(?i)secret|token|pass|key|auth|git_url|email")
_TYPE_WORDS = {"integer": "an integer", "number": "a number"}


def describe(error: ValidationError, schema: Mapping[str, Any]) -> str:
    """One sentence on ``error``, the refusal of arguments of ``schema``.

    ``schema`` is the tool's input schema; the bounds and default of a
    top-level argument are read from it, those of a nested field from
    pydantic's error context.
    """
    problems = error.errors(include_url=False)
    if not problems:
        return "the arguments do not match the tool's input schema; check them"
    first, *rest = problems
    sentence = _sentence(first, schema)
    others = sorted({_path(p["loc"]) for p in rest} - {_path(first["loc"])})
    if others:
        sentence += f" (and problems with {', '.join(repr(o) for o in others)})"
    return sentence


def _sentence(problem: ErrorDetails, schema: Mapping[str, Any]) -> str:
    path = _path(problem["loc"])
    prop = _property(problem["loc"], schema)
    if problem["type"] == "missing":
        if "$ref" in prop or prop.get("type") == "object":
            # The usual slip: the object's fields given at the top level.
            return (
                f"argument {path!r} is required; pass it as one object holding "
                "its fields, not those fields beside it"
            )
        return f"argument {path!r} is required; pass it"
    got = _shown(path, problem.get("input"))
    got_text = "" if got is None else f" (got {got!r})"
    if problem["type"] in _BOUNDS:
        must = _range(prop, problem.get("ctx") or {})
        todo = "pass one in that range"
        if "default" in prop:
            todo += f", or leave it out for the default {prop['default']!r}"
        return f"argument {path!r} must be {must}{got_text}; {todo}"
    text = problem["msg"]
    if text.startswith("Input should be "):
        text = "must be " + text.removeprefix("Input should be ")
    else:
        text = "is invalid: " + text[:1].lower() + text[1:]
    return f"argument {path!r} {text}{got_text}; correct it as the tool's schema says"


def _range(prop: Mapping[str, Any], ctx: Mapping[str, Any]) -> str:
    """``an integer from 1 to 500``, ``at least 0``, ...: what the bounds allow."""
    low, high = prop.get("minimum", ctx.get("ge")), prop.get("maximum", ctx.get("le"))
    above = prop.get("exclusiveMinimum", ctx.get("gt"))
    below = prop.get("exclusiveMaximum", ctx.get("lt"))
    kind = _TYPE_WORDS.get(str(prop.get("type")), "a number")
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    parts = [
        f"{words} {bound}"
        for words, bound in (
            ("at least", low),
            ("more than", above),
            ("at most", high),
            ("less than", below),
        )
        if bound is not None
    ]
    return f"{kind} of " + " and ".join(parts)


def _property(loc: Sequence[int | str], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema of a top-level argument; empty for a nested field."""
    if len(loc) != 1:
        return {}
    found = schema.get("properties", {}).get(str(loc[0]), {})
    return found if isinstance(found, Mapping) else {}


def _path(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "arguments"


def _shown(path: str, value: Any) -> Any:
    """The refused ``value`` if it is safe to show back, else None."""
    if _SECRET_NAME.search(path):
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and _PLAIN_WORD.match(value):
        return value
    return None
