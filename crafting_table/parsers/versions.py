"""Version strings compared well enough to pick "the smallest fix".

Advisories list fixed versions as plain release numbers (``2.32.0``,
``v1.9.3``) or requirements (``>=0.16.3``, ``^1.2``, ``>=1.8.1, <1.9.0``).
Ordering is by release numbers, a pre-release (``1.0.0-rc.1``, ``2.0b1``)
sorting before its release; exotic local suffixes fall back to text order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["lower_bounds", "smallest_above", "version_key"]

_RELEASE = re.compile(r"^v?(?P<numbers>\d+(?:\.\d+)*)(?P<rest>.*)$")
_BOUND = re.compile(r"(?:>=|\^|~|=|^)\s*(?P<version>v?\d+(?:\.\d+)*[-+.\w]*)")


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """A sort key: release numbers, then pre-release before release."""
    match = _RELEASE.match(version.strip())
    if match is None:
        return (), 0, version
    numbers = tuple(int(part) for part in match["numbers"].split("."))
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers = numbers[:-1]
    rest = match["rest"]
    return numbers, (1 if not rest or rest.startswith("+") else 0), rest


def lower_bounds(requirements: Iterable[str]) -> list[str]:
    """The versions named as lower bounds (``>=x``, ``^x``, ``x``) in requirements."""
    found = []
    for requirement in requirements:
        for clause in str(requirement).split(","):
            clause = clause.strip()
            strict_lower = clause.startswith(">") and not clause.startswith(">=")
            if clause.startswith("<") or strict_lower:
                continue
            match = _BOUND.match(clause)
            if match is not None:
                found.append(match["version"])
    return found


def smallest_above(candidates: Iterable[str], installed: str | None) -> str | None:
    """The smallest candidate above ``installed``; else the smallest at all.

    Returns None when there are no candidates.
    """
    ordered = sorted(set(candidates), key=version_key)
    if not ordered:
        return None
    if installed:
        floor = version_key(installed)
        above = [v for v in ordered if version_key(v) > floor]
        if above:
            return above[0]
    return ordered[0]
