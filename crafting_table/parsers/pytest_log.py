"""pytest's terminal output: one ``test_fail`` per failed or errored test.

The failing tests are named by the short summary (``FAILED
tests/x.py::test_y - message``, ``ERROR tests/x.py`` for a module that
could not be collected, ``ERROR tests/x.py::test_z`` for a broken fixture)
and, in verbose runs, by the progress lines (``tests/x.py::test_y FAILED``).

The reason and place come from the FAILURES and ERRORS sections. With
``--tb=auto``, ``long`` or ``short`` each test has a block headed
``___ test_y ___`` (``___ ERROR collecting tests/x.py ___``, ``___ ERROR at
setup of test_z ___``): its first exception line (``E   KeyError: 'k'``) is
the reason when the summary gave none, and its last traceback line inside
the subproject (``tests/x.py:3: in <module>``, ``tests/x.py:9: KeyError``,
``E     File "/abs/tests/x.py", line 5`` of a SyntaxError) is the place.
``--tb=line`` prints no blocks for failures, only one ``/abs/tests/x.py:13:
assert ...`` line each, taken in the order of the summary. A place in a
library (outside the subproject, or in ``site-packages``) is no place: the
test's own file is kept and the line dropped.

Two errors stop pytest before any test runs, with exit status 4: a
conftest that cannot be imported (``ImportError while loading conftest``,
then a traceback) is a ``test_fail`` of that conftest, and a usage error
(``ERROR: file or directory not found: tests/y``, ``ERROR: usage: ...``
followed by argparse's ``pytest: error: ...``) is a ``recipe_fail`` coded
``usage_error``. The latter are read only from a run that exited 4: pip
and others print ``ERROR:`` lines too.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
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

# The parts of a FAILURES or ERRORS block. A block ends at the next head or
# section, or at its first "--- Captured stdout call ---" part: what the
# test printed may look like anything.
_BLOCK = re.compile(r"^_{3,} (?P<head>.+?) _{3,}$")
_ERROR_HEAD = re.compile(r"^ERROR (?:collecting|at (?:setup|teardown) of) (?P<key>.+)$")
_PART = re.compile(r"^-{3,} .+ -{3,}$")
_E_LINE = re.compile(r"^E\s+(?P<text>\S.*)$")
# Traceback entries: "x.py:9: in f", "x.py:9: KeyError", "x.py:9: " (long
# format), "/abs/x.py:40" and "file /abs/x.py, line 40" (a missing fixture),
# and the compiler's 'File "/abs/x.py", line 5' of a SyntaxError.
_FRAME = re.compile(
    r"^(?:E\s+File \"(?P<quoted>[^\"]+\.py)\", line (?P<qline>\d+)"
    r"|file (?P<named>\S.*\.py), line (?P<nline>\d+)"
    r"|(?P<file>[^\s:>][^:]*\.py):(?P<line>\d+)(?::.*)?)$"
)
_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:: .*)?$")
_LIBRARY = re.compile(r"(?:^|/)(?:site|dist)-packages/")

_CONFTEST = re.compile(r"^ImportError while loading conftest '(?P<path>.+)'\.$")
_USAGE = re.compile(r"^ERROR: (?P<message>.+)$")
_ARGPARSE = re.compile(r"^\S.*?: error: (?P<message>.+)$")
# pytest's ExitCode.USAGE_ERROR.
_USAGE_EXIT = 4


@dataclass(slots=True)
class _Block:
    """What one FAILURES or ERRORS block (or a conftest error) said."""

    section: str
    # The node id (a collection error, a conftest's path) or, when
    # ``by_name``, the test's name as the head gives it (``TestA.test_b``).
    key: str
    by_name: bool = False
    reason: str | None = None
    exception: str | None = None
    place: tuple[str, int] | None = None
    taken: bool = False

    def why(self) -> str | None:
        return self.exception or self.reason


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
        self._blocks: list[_Block] = []
        self._block: _Block | None = None
        self._conftests: list[_Block] = []
        self._usage: list[str] = []

    def feed_text(self, line: str) -> Iterable[Finding]:
        if (section := _SECTION.match(line)) is not None:
            self._section = section["title"].strip().lower()
            self._block = None
            return ()
        # Only before the session: a conftest below the test folder that
        # fails to import is a collection error, reported in ERRORS.
        conftest = _CONFTEST.match(line) if self._section is None else None
        if conftest is not None:
            self._block = _Block("conftest", conftest["path"])
            self._conftests.append(self._block)
            return ()
        if self.ctx.exit_code == _USAGE_EXIT and self._usage_line(line):
            return ()
        if self._section == "short test summary info":
            if (summary := _SUMMARY.match(line)) is not None:
                self._note(summary["node"], summary["outcome"], summary["message"])
            return ()
        if self._section in ("failures", "errors"):
            self._section_line(self._section, line)
            return ()
        if self._block is not None:
            self._block_line(self._block, line)
            return ()
        if (verbose := _VERBOSE.match(line)) is not None:
            node = verbose["node"] or verbose["node2"]
            outcome = verbose["outcome1"] or verbose["outcome2"]
            self._note(node, outcome, None)
        return ()

    def _usage_line(self, line: str) -> bool:
        if (usage := _USAGE.match(line)) is not None:
            self._usage.append(usage["message"])
            return True
        # argparse prints its complaint on the line after pytest's usage.
        after_usage = bool(self._usage) and self._usage[-1].startswith("usage:")
        if after_usage and (argparse := _ARGPARSE.match(line)) is not None:
            self._usage[-1] = argparse["message"]
            return True
        return False

    def _section_line(self, section: str, line: str) -> None:
        if (head := _BLOCK.match(line)) is not None:
            key = head["head"]
            error = _ERROR_HEAD.match(key) if section == "errors" else None
            if error is not None:
                key = error["key"]
            by_name = not head["head"].startswith("ERROR collecting ")
            self._block = _Block(section, key, by_name=by_name)
            self._blocks.append(self._block)
        elif self._block is not None:
            self._block_line(self._block, line)
        elif section == "failures" and (place := _TB_LINE.match(line)) is not None:
            # --tb=line: no blocks, one such line per failed test.
            self._places.append((place["file"], int(place["line"]), place["message"]))

    def _block_line(self, block: _Block, line: str) -> None:
        if _PART.match(line):
            self._block = None
            return
        if (frame := _FRAME.match(line)) is not None:
            path = frame["quoted"] or frame["named"] or frame["file"]
            number = frame["qline"] or frame["nline"] or frame["line"]
            # The deepest frame inside the subproject is where it went wrong.
            if self._project_file(path) is not None:
                block.place = (path, int(number))
            if not line.startswith("E"):
                return
        if (error := _E_LINE.match(line)) is not None:
            text = error["text"]
            if block.reason is None:
                block.reason = text
            if block.exception is None and _EXCEPTION.match(text):
                block.exception = text

    def _project_file(self, path: str) -> str | None:
        """The subproject's file at ``path``; None for a library's."""
        file, outside = self.place(path)
        if outside or file is None or _LIBRARY.search(path):
            return None
        return file

    def _note(self, node: str, outcome: str, message: str | None) -> None:
        known = self._tests.get(node)
        if known is None or (message and not known[1]):
            self._tests[node] = (outcome, message)

    def finish(self) -> Iterable[Finding]:
        findings = []
        blocks: dict[tuple[str, str], deque[_Block]] = defaultdict(deque)
        for each in self._blocks:
            blocks[each.section, each.key].append(each)
        places = iter(self._places)
        named: set[str] = set()
        for node, (outcome, message) in self._tests.items():
            names = _names(node)
            named.update(names)
            section = "failures" if outcome == "FAILED" else "errors"
            block = _take(blocks, section, names)
            if block is not None:
                findings.append(self._from_block(node, outcome, message, block))
                continue
            place = next(places, None) if outcome == "FAILED" else None
            findings.append(self._finding(node, outcome, message, place))
        # Blocks no summary named: a run with -rN, or a log cut short.
        for left in self._blocks:
            if not left.taken and left.key not in named:
                outcome = "FAILED" if left.section == "failures" else "ERROR"
                findings.append(
                    self._from_block(
                        left.key, outcome, None, left, node_is_name=left.by_name
                    )
                )
        for conftest in self._conftests:
            node = self.place(conftest.key)[0] or conftest.key
            findings.append(self._from_block(node, "ERROR", None, conftest))
        findings.extend(self._usage_error(message) for message in self._usage)
        return findings

    def _from_block(
        self,
        node: str,
        outcome: str,
        message: str | None,
        block: _Block,
        *,
        node_is_name: bool = False,
    ) -> Finding:
        block.taken = True
        reason = message or block.why()
        place = None
        if block.place is not None:
            place = (block.place[0], block.place[1], reason or "")
        return self._finding(node, outcome, reason, place, node_is_name=node_is_name)

    def _finding(
        self,
        node: str,
        outcome: str,
        message: str | None,
        place: tuple[str, int, str] | None,
        *,
        node_is_name: bool = False,
    ) -> Finding:
        # A block no summary named may know the test by its name alone.
        test_file = None if node_is_name else node.split("::", 1)[0]
        file, outside = self.place(test_file)
        line = None
        if place is not None:
            where = self._project_file(place[0])
            if where is not None:
                file, outside, line = where, False, place[1]
            message = message or place[2] or None
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

    def _usage_error(self, message: str) -> Finding:
        return Finding(
            kind="recipe_fail",
            severity="error",
            message=f"pytest usage error: {message}"[:1000],
            code="usage_error",
            tool=self.tool,
            raw={"outcome": "usage_error", "message": message},
        )


def _names(node: str) -> tuple[str, ...]:
    """What a block head calls ``node``: itself, or its test's dotted name."""
    rest = node.partition("::")[2]
    return (node, rest.replace("::", ".")) if rest else (node,)


def _take(
    blocks: dict[tuple[str, str], deque[_Block]], section: str, names: Iterable[str]
) -> _Block | None:
    for name in names:
        waiting = blocks.get((section, name))
        if waiting:
            return waiting.popleft()
    return None
