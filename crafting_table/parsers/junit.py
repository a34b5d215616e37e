"""JUnit XML reports written by the recipe into its report folder.

Every ``testcase`` with a ``failure`` or ``error`` child is a ``test_fail``
finding named ``classname.name`` (or ``name``), placed by the ``file`` and
``line`` attributes that pytest (xunit1), Jest and others add. Where the
``message`` does not say what was raised (pytest's "collection failure"),
the first ``E   SomeError: ...`` line of the report's text is added; a case
with no ``file`` is placed at the deepest traceback frame inside the
subproject (``tests/test_x.py:3: in <module>``). The files
are consulted only when the log itself named no failed test: most runners
print what they also write to the report.

The files are read with the standard library's streaming parser. They are
written by code under test, so a file that declares a DTD (which JUnit
reports never need, and entity expansion attacks do) is skipped unread.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

from crafting_table.parsers.base import (
    Finding,
    ToolParser,
    as_str,
    first_line,
    open_report,
    report_files,
)

__all__ = ["JunitParser", "junit_files"]

_PROLOG_BYTES = 64 * 1024
# What was raised, as pytest prints it under a traceback.
_RAISED = re.compile(
    r"^E\s+(?P<text>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$",
    re.MULTILINE,
)
_FRAME = re.compile(r"^(?P<file>[^\s:][^:\n]*):(?P<line>\d+): in ", re.MULTILINE)


def junit_files(folder: Path) -> Iterator[Path]:
    """The ``*.xml`` files in a report folder, in name order; never raises."""
    return report_files(folder, (".xml",))


def _declares_dtd(path: Path) -> bool:
    with open_report(path) as handle:
        prolog = handle.read(_PROLOG_BYTES)
    return b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog


class JunitParser(ToolParser):
    """Failed and errored test cases from JUnit XML files."""

    tool: ClassVar[str] = "junit"
    # A JUnit file often repeats what the test runner printed (pytest with
    # --junitxml); a second runner's report (Surefire beside pytest) does not.
    repeats_log_tests: ClassVar[bool] = True

    def finish(self) -> Iterable[Finding]:
        if self.ctx.reports_dir is None:
            return []
        findings: list[Finding] = []
        for path in junit_files(self.ctx.reports_dir):
            try:
                if _declares_dtd(path):
                    continue
                findings.extend(self._file(path))
            except (OSError, ElementTree.ParseError, ValueError):
                # A half-written report: keep the test cases read so far.
                continue
        return findings

    def _file(self, path: Path) -> list[Finding]:
        # S314: the file was checked for a DTD above; without one expat
        # expands no entities.
        with open_report(path) as handle:
            return self._cases(ElementTree.iterparse(handle, events=("end",)))  # noqa: S314

    def _cases(
        self, events: Iterator[tuple[str, ElementTree.Element]]
    ) -> list[Finding]:
        findings: list[Finding] = []
        try:
            for _, element in events:
                if element.tag != "testcase":
                    continue
                finding = self._case(element)
                if finding is not None:
                    findings.append(finding)
                element.clear()
        except ElementTree.ParseError:
            pass
        return findings

    def _case(self, case: ElementTree.Element) -> Finding | None:
        problem = case.find("failure")
        outcome = "failure"
        if problem is None:
            problem = case.find("error")
            outcome = "error"
        if problem is None:
            return None
        name = case.get("name") or "?"
        classname = case.get("classname")
        test_id = f"{classname}.{name}" if classname else name
        text = problem.text or ""
        detail = first_line(
            as_str(problem.get("message")) or first_line(text) or outcome
        )
        raised = _RAISED.search(text)
        if raised and raised["text"] not in detail:
            detail = f"{detail}: {raised['text']}"
        file, outside = self.place(as_str(case.get("file")))
        line = case.get("line")
        number = int(line) if line and line.isdigit() and int(line) > 0 else None
        if file is None:
            file, number = self._deepest_frame(text)
        return Finding(
            kind="test_fail",
            severity="error",
            message=f"{test_id}: {detail}"[:1000],
            file=file,
            line=number,
            outside=outside,
            tool=self.tool,
            raw={"test_id": test_id, "outcome": outcome, "type": problem.get("type")},
        )

    def _deepest_frame(self, text: str) -> tuple[str | None, int | None]:
        """The last traceback frame in ``text`` inside the subproject."""
        found: tuple[str | None, int | None] = (None, None)
        for frame in _FRAME.finditer(text):
            file, outside = self.place(frame["file"])
            if file is not None and not outside:
                found = (file, int(frame["line"]) or None)
        return found
