"""The fallback: a failed recipe that no parser could explain.

When a job exits non-zero and no parser found anything in its log that
explains it, the job still gets one ``recipe_fail`` finding, coded
``exit_<n>``, so a failure is never a silent empty list, nor a list of
warnings. That covers tools nobody parses, a parser that did not recognise
its tool's output, a build that printed warnings before an error nobody
parses, an audit that could not reach its database, and a log that could
not be read at all.
"""

from __future__ import annotations

from crafting_table.parsers.base import Finding, ParseContext

__all__ = ["recipe_failure"]


def recipe_failure(
    ctx: ParseContext, *, log_unreadable: bool = False
) -> Finding | None:
    """The ``recipe_fail`` finding for a failed job, or None if it did not fail.

    ``exit_code`` None (not known) counts as not failed: there is nothing
    to say what went wrong. ``log_unreadable`` says so in the message.
    """
    if ctx.exit_code is None or ctx.exit_code == 0:
        return None
    where = f" in {ctx.subproject}" if ctx.subproject not in ("", ".") else ""
    if ctx.timed_out:
        message = (
            f"recipe {ctx.recipe!r}{where} reached its deadline and was stopped "
            f"(exit status {ctx.exit_code}); raise timeout_secs if it needs longer"
        )
    else:
        message = f"recipe {ctx.recipe!r}{where} exited with status {ctx.exit_code}"
    if log_unreadable:
        message += "; its log could not be read"
    return Finding(
        kind="recipe_fail",
        severity="error",
        message=message,
        code=f"exit_{ctx.exit_code}",
        tool="generic",
        raw={
            "recipe": ctx.recipe,
            "exit_code": ctx.exit_code,
            "log_unreadable": log_unreadable,
        },
    )
