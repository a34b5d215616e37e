"""Turning a finished job's log into findings.

``parse_job`` is the entry point the Parser actor calls.
"""

from __future__ import annotations

from crafting_table.parsers.base import Finding, ParseContext


def parse_job(ctx: ParseContext) -> list[Finding]:
    """Every finding the job's log and reports hold (the generic row at least)."""
    if ctx.exit_code in (None, 0):
        return []
    return [
        Finding(
            kind="recipe_fail",
            severity="error",
            message=f"recipe {ctx.recipe!r} exited with status {ctx.exit_code}",
            code=f"exit_{ctx.exit_code}",
            tool="generic",
        )
    ]


__all__ = ["Finding", "ParseContext", "parse_job"]
