"""javac's errors and warnings, as javac, Gradle and Maven print them.

javac itself (and Gradle, which passes its output on with absolute paths)
prints a header, the source line, a caret under the column, and sometimes
indented details::

    src/main/java/com/example/App.java:13: error: cannot find symbol
            System.out.println(greeting(args) + when + count);
                               ^
      symbol:   method greeting(String[])
      location: class App

Maven's compiler plugin prints the place in brackets, line then column,
with the details unprefixed after the first copy and prefixed by
``[ERROR]`` after the second: every error appears once in the
``COMPILATION ERROR :`` block and again under "Failed to execute goal"::

    [ERROR] /src/main/java/com/example/App.java:[13,28] cannot find symbol
      symbol:   method greeting(java.lang.String[])

Each diagnostic is one ``lint`` finding, reported once. javac gives the
column only through the caret; it is counted as javac counts it, a tab
advancing to the next multiple of eight, so both formats agree. A
warning's ``-Xlint`` category (``[deprecation]``, ``[rawtypes]``) is its
code; Maven leaves the category out, and errors have none. A "cannot find
symbol" error names the symbol in its message. Lines without a place
("Note: ... uses unchecked or unsafe operations", "error: invalid source
release") are not findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from crafting_table.parsers.base import Finding, ParseContext, Severity, ToolParser

__all__ = ["JavacParser"]

_JAVAC = re.compile(
    r"^(?P<file>[^\s:][^:]*\.java):(?P<line>\d+): "
    r"(?P<level>error|warning): (?P<message>.*)$"
)
_MAVEN = re.compile(
    r"^\[(?P<level>ERROR|WARNING)\] (?P<file>[^\s\[][^\[]*\.java):"
    r"\[(?P<line>\d+)(?:,(?P<column>\d+))?\] (?P<message>.*)$"
)
_CARET = re.compile(r"^[ \t]*\^[ \t]*$")
# Details follow a diagnostic indented by two spaces or more; Maven's second
# copy prefixes them, which "[ERROR] -> [Help 1]" must not pass for.
_DETAIL = re.compile(r"^(?:\[(?:ERROR|WARNING)\] )?(?:  |\t)\s*(?P<text>\S.*)$")
_CATEGORY = re.compile(r"^\[(?P<code>[a-z][a-z-]*)\] (?P<rest>.*)$")
_SEVERITY: dict[str, Severity] = {
    "error": "error",
    "ERROR": "error",
    "warning": "warning",
    "WARNING": "warning",
}
# javac's own tab stop, which its column numbers (and so Maven's) use.
_TAB = 8
# Enough for any real build; past it a repeated diagnostic may be reported twice.
_SEEN_LIMIT = 65536
# Lines of a diagnostic kept in its raw record: javac's longest explanations
# (type-variable bounds) run to a dozen.
_TEXT_LINES = 20


@dataclass
class _Open:
    """A diagnostic whose source line, caret or details may still follow."""

    level: str
    file: str
    line: int
    column: int | None
    message: str
    # javac's format: the source line comes next, then the caret.
    awaits_source: bool
    awaits_caret: bool = False
    symbol: str | None = None
    text: list[str] = field(default_factory=list)


class JavacParser(ToolParser):
    """Errors and warnings from javac, directly or through Gradle or Maven."""

    tool: ClassVar[str] = "javac"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"build", "lint", "test"})
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._open: _Open | None = None
        self._seen: set[tuple[str, int, int | None, str, str]] = set()

    def feed_text(self, line: str) -> Iterable[Finding]:
        opened = _header(line)
        if opened is not None:
            done = list(self._close())
            self._open = opened
            return done
        current = self._open
        if current is None:
            return ()
        if current.awaits_source:
            current.awaits_source = False
            current.awaits_caret = True
            current.text.append(line)
            return ()
        if current.awaits_caret:
            current.awaits_caret = False
            if _CARET.match(line):
                current.column = line.expandtabs(_TAB).index("^") + 1
                current.text.append(line)
                return ()
        detail = _DETAIL.match(line)
        if detail is None:
            return list(self._close())
        text = detail["text"]
        if text.startswith("symbol:") and current.symbol is None:
            current.symbol = text.removeprefix("symbol:").strip()
        if len(current.text) < _TEXT_LINES:
            current.text.append(line)
        return ()

    def finish(self) -> Iterable[Finding]:
        return list(self._close())

    def _close(self) -> Iterator[Finding]:
        current, self._open = self._open, None
        if current is None:
            return
        level = current.level.lower()
        seen = (current.file, current.line, current.column, level, current.message)
        if seen in self._seen:
            return
        if len(self._seen) < _SEEN_LIMIT:
            self._seen.add(seen)
        yield self._finding(current)

    def _finding(self, current: _Open) -> Finding:
        message, code = current.message, None
        category = _CATEGORY.match(message)
        if category is not None:
            message, code = category["rest"], category["code"]
        if current.symbol:
            message = f"{message}: {current.symbol}"
        file, outside = self.place(current.file)
        return Finding(
            kind="lint",
            severity=_SEVERITY[current.level],
            message=message[:1000],
            file=file,
            line=current.line or None,
            column=current.column,
            code=code,
            outside=outside,
            tool=self.tool,
            raw={"text": "\n".join(current.text)[:4000]},
        )


def _header(line: str) -> _Open | None:
    """The diagnostic ``line`` opens, in either format, or None."""
    if ".java:" not in line:
        # Most lines of a build log; skips both expressions.
        return None
    match = _JAVAC.match(line)
    if match is not None:
        return _Open(
            level=match["level"],
            file=match["file"],
            line=int(match["line"]),
            column=None,
            message=match["message"],
            awaits_source=True,
            text=[line],
        )
    match = _MAVEN.match(line)
    if match is not None:
        return _Open(
            level=match["level"],
            file=match["file"],
            line=int(match["line"]),
            column=int(match["column"]) if match["column"] else None,
            message=match["message"],
            awaits_source=False,
            text=[line],
        )
    return None
