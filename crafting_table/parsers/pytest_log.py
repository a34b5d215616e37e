"""pytest's terminal output, best with ``--tb=line``: one ``test_fail`` per test.

The failing tests are named by the short summary (``FAILED
tests/x.py::test_y - message``, ``ERROR tests/x.py`` for a module that
could not be collected, ``ERROR tests/x.py::test_z`` for a broken fixture)
and, in verbose runs, by the progress lines (``tests/x.py::test_y FAILED``).
The place comes from the ``--tb=line`` lines of the FAILURES section
(``/abs/tests/x.py:13: assert ...``), one per failed test in the order of the
summary; where it points outside the subproject (into a library) the test's
own file is kept and the line dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from crafting_table.parsers.base import Finding, ParseContext, ToolParser

__all__ = ["PytestParser"]

# Node ids may hold spaces and " - " inside their parameter brackets.
_NODE = r"(?P<node>[^\s\[]+(?:\[.*?\])?)"
_SUMMARY = re.compile(rf"^(?P<outcome>FAILED|ERROR) {_NODE}(?: - (?P<message>.*))?$")
_VERBOSE = re.compile(
    rf"^(?:\[gw\d+\] (?:\[\s*\d+%\] )?(?P<outcome1>FAILED|ERROR) {_NODE}"
    r"|(?P<node2>[^\s\[]+::[^\s\[]+(?:\[.*?\])?) (?P<outcome2>FAILED|ERROR)"
    r"(?: +\[\s*\d+%\])?)$"
)
_SECTION = re.compile(r"^={3,} (?P<title>[A-Za-z ]+?) ={3,}$")
_TB_LINE = re.compile(r"^(?P<file>[^\s:][^:]*\.py):(?P<line>\d+): (?P<message>.*)$")


class PytestParser(ToolParser):
    """Failed and errored tests from pytest's terminal output."""

    tool: ClassVar[str] = "pytest"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"test", "build"})
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._section: str | None = None
        # Node id -> (outcome, message), in the order first seen.
        self._tests: dict[str, tuple[str, str | None]] = {}
        self._places: list[tuple[str, int, str]] = []

    def feed_text(self, line: str) -> Iterable[Finding]:
        if (section := _SECTION.match(line)) is not None:
            self._section = section["title"].strip().lower()
            return ()
        if self._section == "short test summary info":
            if (summary := _SUMMARY.match(line)) is not None:
                self._note(summary["node"], summary["outcome"], summary["message"])
            return ()
        if self._section == "failures":
            if (place := _TB_LINE.match(line)) is not None:
                self._places.append(
                    (place["file"], int(place["line"]), place["message"])
                )
            return ()
        if (verbose := _VERBOSE.match(line)) is not None:
            node = verbose["node"] or verbose["node2"]
            outcome = verbose["outcome1"] or verbose["outcome2"]
            self._note(node, outcome, None)
        return ()

    def _note(self, node: str, outcome: str, message: str | None) -> None:
        known = self._tests.get(node)
        if known is None or (message and not known[1]):
            self._tests[node] = (outcome, message)

    def finish(self) -> Iterable[Finding]:
        findings = []
        places = iter(self._places)
        for node, (outcome, message) in self._tests.items():
            place = next(places, None) if outcome == "FAILED" else None
            findings.append(self._finding(node, outcome, message, place))
        return findings

    def _finding(
        self,
        node: str,
        outcome: str,
        message: str | None,
        place: tuple[str, int, str] | None,
    ) -> Finding:
        test_file = node.split("::", 1)[0]
        file, outside = self.place(test_file)
        line = None
        if place is not None:
            where, where_outside = self.place(place[0])
            if not where_outside:
                file, outside, line = where, False, place[1]
            message = message or place[2]
        what = "failed" if outcome == "FAILED" else "error"
        text = f"{node}: {message}" if message else f"{node} {what}"
        return Finding(
            kind="test_fail",
            severity="error",
            message=text[:1000],
            file=file,
            line=line,
            code=None,
            outside=outside,
            tool=self.tool,
            raw={"test_id": node, "outcome": outcome, "place": place},
        )
