"""Finding identities that survive line shifts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from crafting_table.parsers.base import Finding

LineReader = Callable[[str, int], str | None]


def identities(findings: Sequence[Finding], read_line: LineReader) -> list[str]:
    """One identity per finding: kind, file, code and the source line's text.

    Repeats of the same tuple within one job get an occurrence index.
    """
    seen: dict[str, int] = {}
    out = []
    for finding in findings:
        text = None
        if finding.file and finding.line:
            text = read_line(finding.file, finding.line)
        anchor = " ".join(text.split()) if text is not None else finding.message
        base = f"{finding.kind}|{finding.file or ''}|{finding.code or ''}|{anchor}"
        index = seen.get(base, 0)
        seen[base] = index + 1
        digest = hashlib.sha256(f"{base}|{index}".encode()).hexdigest()[:16]
        out.append(digest)
    return out
