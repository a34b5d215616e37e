"""rustc's human diagnostics, as ``cargo build`` and ``cargo test`` print them.

A diagnostic is a header line (``error[E0596]: message`` or
``warning: message``), a ``--> file:line:col`` pointer, a code frame and
notes, and ends at the first blank line. The lint name of a warning is only
in a note (``#[warn(dead_code)]`` on by default). Headers without a pointer
are cargo's summaries ("could not compile", "generated 1 warning") and are
not findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, ParseContext, ToolParser

__all__ = ["RustcDiagnostics", "RustcParser"]

_HEADER = re.compile(
    r"^(?P<level>error|warning)(?:\[(?P<code>[A-Za-z0-9_:]+)\])?: (?P<message>.+)$"
)
_POINTER = re.compile(r"^\s*--> (?P<file>.+?):(?P<line>\d+):(?P<column>\d+)$")
_LINT_NOTE = re.compile(r"#\[(?:warn|deny|forbid)\((?P<lint>[\w:]+)\)\]")


class RustcDiagnostics:
    """A line-fed reader of rustc diagnostics, shared by the Rust parsers.

    With ``errors_only`` warnings are skipped: while building tests they
    are not what made the recipe fail.
    """

    def __init__(self, ctx_parser: ToolParser, *, errors_only: bool) -> None:
        self._parser = ctx_parser
        self._errors_only = errors_only
        self._open: dict[str, Any] | None = None

    def feed(self, line: str) -> list[Finding]:
        """Findings completed by this line (at most one)."""
        header = _HEADER.match(line)
        if header is not None:
            done = self.finish()
            level = header["level"]
            if level == "error" or not self._errors_only:
                self._open = {
                    "level": level,
                    "code": header["code"],
                    "message": header["message"],
                    "lines": [line],
                }
            return done
        if self._open is None:
            return []
        if not line.strip():
            return self.finish()
        self._open["lines"].append(line)
        if "file" not in self._open:
            pointer = _POINTER.match(line)
            if pointer is not None:
                self._open["file"] = pointer["file"]
                self._open["line"] = int(pointer["line"])
                self._open["column"] = int(pointer["column"])
        elif self._open["code"] is None:
            note = _LINT_NOTE.search(line)
            if note is not None:
                self._open["code"] = note["lint"]
        if len(self._open["lines"]) > 200:
            # A runaway frame; what matters came in the first lines.
            return self.finish()
        return []

    def finish(self) -> list[Finding]:
        """The diagnostic still open, as a finding if it had a location."""
        open_, self._open = self._open, None
        if open_ is None or "file" not in open_:
            return []
        file, outside = self._parser.place(open_["file"])
        return [
            Finding(
                kind="lint",
                severity="error" if open_["level"] == "error" else "warning",
                message=open_["message"][:1000],
                file=file,
                line=open_["line"] or None,
                column=open_["column"] or None,
                code=open_["code"],
                outside=outside,
                tool="rustc",
                raw={"text": "\n".join(open_["lines"])[:8000]},
            )
        ]


class RustcParser(ToolParser):
    """Errors and warnings from ``cargo build`` or ``cargo check`` text."""

    tool: ClassVar[str] = "rustc"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"build", "lint"})
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._reader = RustcDiagnostics(self, errors_only=False)

    def feed_text(self, line: str) -> Iterable[Finding]:
        return self._reader.feed(line)

    def finish(self) -> Iterable[Finding]:
        return self._reader.finish()
