"""Checkstyle XML reports written by the recipe into its report folder.

The format began with Checkstyle (Maven's ``checkstyle:check`` leaves it in
``target/checkstyle-result.xml``) and is what many linters of other
languages write on request: PHPStan ``--error-format=checkstyle``, ESLint
with ``eslint-formatter-checkstyle``, ktlint, detekt, SwiftLint::

    <checkstyle version="9.3">
      <file name="/abs/src/Calc.java">
        <error line="3" column="17" severity="warning" message="..."
               source="com.puppycrawl.tools.checkstyle.checks.imports.AvoidStarImportCheck"/>
      </file>
    </checkstyle>

Every ``error`` is a ``lint`` finding in its ``file``: ``line`` and
``column`` place it, ``severity`` (``error``, ``warning``, ``info``,
``ignore``) grades it, and ``source`` names the rule. The code is the
rule's short name: Checkstyle's check class without its package and
``Check`` suffix, ESLint's rule without ``eslint.rules.``, anything else as
given.

Only ``*.xml`` files whose root element is ``checkstyle`` are read, so JUnit
reports beside them are passed over after their first tag. The files are
written by code under test: one that declares a DTD is skipped unread, and
a half-written one keeps the errors read before the break.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

from crafting_table.parsers.base import (
    Finding,
    Severity,
    ToolParser,
    as_str,
    first_line,
    open_report,
    report_files,
)

__all__ = ["CheckstyleParser", "rule_code"]

# A DTD, if any, sits in the prolog; this much covers any real one.
_PROLOG_BYTES = 64 * 1024

_SEVERITY: dict[str, Severity | None] = {
    "error": "error",
    "warning": "warning",
    "info": "info",
    "ignore": None,
}

# com.puppycrawl.tools.checkstyle.checks.imports.AvoidStarImportCheck
_CHECK_CLASS = re.compile(r"^(?:[a-z_][a-z0-9_]*\.)+([A-Z][A-Za-z0-9_]*?)Check$")
_ESLINT_RULE = "eslint.rules."


def rule_code(source: str | None) -> str | None:
    """The short rule name for a ``source`` attribute (None when absent)."""
    if not source:
        return None
    check = _CHECK_CLASS.match(source)
    if check:
        return check.group(1)
    if source.startswith(_ESLINT_RULE) and len(source) > len(_ESLINT_RULE):
        return source[len(_ESLINT_RULE) :]
    return source


def _declares_dtd(path: Path) -> bool:
    with open_report(path) as handle:
        prolog = handle.read(_PROLOG_BYTES)
    return b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog


def _positive(value: str | None) -> int | None:
    if value and value.isdigit() and int(value) > 0:
        return int(value)
    return None


class CheckstyleParser(ToolParser):
    """Lint findings from Checkstyle XML files in the report folder."""

    tool: ClassVar[str] = "checkstyle"

    def finish(self) -> Iterable[Finding]:
        if self.ctx.reports_dir is None:
            return []
        findings: list[Finding] = []
        for path in report_files(self.ctx.reports_dir, (".xml",)):
            try:
                if _declares_dtd(path):
                    continue
                findings.extend(self._file(path))
            except (OSError, ValueError):
                continue
        return findings

    def _file(self, path: Path) -> list[Finding]:
        # S314: the file was checked for a DTD above; without one expat
        # expands no entities.
        with open_report(path) as handle:
            events = ElementTree.iterparse(handle, events=("start", "end"))  # noqa: S314
            return list(self._errors(events, path.name))

    def _errors(
        self, events: Iterator[tuple[str, ElementTree.Element]], report: str
    ) -> Iterator[Finding]:
        file: str | None = None
        try:
            for position, (event, element) in enumerate(events):
                if position == 0 and element.tag != "checkstyle":
                    return
                if event == "start" and element.tag == "file":
                    file = as_str(element.get("name"))
                elif event == "end" and element.tag == "error":
                    yield self._error(element, file, report)
                elif event == "end" and element.tag == "file":
                    file = None
                    element.clear()
        except ElementTree.ParseError:
            # A half-written report: the errors read so far stand.
            return

    def _error(
        self, error: ElementTree.Element, file: str | None, report: str
    ) -> Finding:
        source = as_str(error.get("source"))
        severity = (error.get("severity") or "").lower()
        place, outside = self.place(file)
        return Finding(
            kind="lint",
            severity=_SEVERITY.get(severity, "warning"),
            message=first_line(error.get("message") or "") or (source or "?"),
            file=place,
            line=_positive(error.get("line")),
            column=_positive(error.get("column")),
            code=rule_code(source),
            outside=outside,
            tool=self.tool,
            raw={"source": source, "severity": severity or None, "report": report},
        )
