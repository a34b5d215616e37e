"""Finding identities that survive code moving up and down a file.

The fingerprint (kind, file, line, code) changes as soon as a line is
inserted above a finding, so "new since the last run" would call every
finding below an edit new. An identity instead hashes what the finding is
about: its kind, file, code and the text of its source line with runs of
whitespace collapsed (so re-indenting keeps it too). Two findings with the
same tuple in one job (the same rule on two identical lines) are told apart
by an occurrence index, counted in the order given (the tool's order). A
finding without a readable source line (no file, no line, a file outside
the worktree, a line past the end) falls back to kind, file, code and its
message.

The caller reads the worktree: ``read_line(file, line)`` returns that line's
text or None, which keeps this module pure and testable without files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crafting_table.parsers.base import Finding

__all__ = ["ReadLine", "identities", "identity_basis"]

ReadLine = Callable[[str, int], str | None]
"""``read_line(file, line)``: the 1-based line of a worktree file, or None."""

FindingLike = Finding | Mapping[str, Any]


def _field(finding: FindingLike, name: str) -> Any:
    if isinstance(finding, Mapping):
        return finding.get(name)
    return getattr(finding, name, None)


def identity_basis(finding: FindingLike, read_line: ReadLine) -> tuple[str, ...]:
    """What a finding's identity hashes, before the occurrence index."""
    kind = str(_field(finding, "kind") or "")
    file = _field(finding, "file")
    code = str(_field(finding, "code") or "")
    line = _field(finding, "line")
    outside = bool(_field(finding, "outside"))
    text = None
    if isinstance(file, str) and isinstance(line, int) and line > 0 and not outside:
        try:
            text = read_line(file, line)
        except (OSError, UnicodeDecodeError, ValueError):
            text = None
    if text is not None:
        return kind, file or "", code, "source", " ".join(text.split())
    message = " ".join(str(_field(finding, "message") or "").split())
    return kind, str(file or ""), code, "message", message


def identities(findings: Sequence[FindingLike], read_line: ReadLine) -> list[str]:
    """One identity (32 hex characters) per finding, in the same order.

    ``findings`` are :class:`Finding` objects or mappings with the same
    keys (ledger rows). Deterministic for the same findings and the same
    source text; unchanged when lines are inserted or removed elsewhere
    in the file. ``read_line`` errors count as "no source line".
    """
    seen: dict[tuple[str, ...], int] = {}
    result = []
    for finding in findings:
        basis = identity_basis(finding, read_line)
        occurrence = seen.get(basis, 0)
        seen[basis] = occurrence + 1
        text = "\x1f".join((*basis, str(occurrence)))
        result.append(
            hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        )
    return result
