"""``cargo test`` human output: one ``test_fail`` per failed test.

Cargo runs one binary after the other (unit tests per target, each
integration test file, then the doc-tests), each announced by a
``Running <source> (<binary>)`` or ``Doc-tests <crate>`` line. Within one,
``test <name> ... FAILED`` marks a failure and a later
``---- <name> stdout ----`` section holds what the test printed, including
the ``panicked at FILE:LINE:COL:`` line that gives the place (older
toolchains print ``panicked at 'message', FILE:LINE:COL``). A doc-test's name
carries its place too (``src/lib.rs - add (line 5)``).

A test build that does not compile stops the recipe before any test runs;
its errors are reported as lint errors at their place. Warnings printed
while building are not failures and are left to the lint recipe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from crafting_table.parsers.base import Finding, ParseContext, ToolParser
from crafting_table.parsers.rustc import RustcDiagnostics

__all__ = ["CargoTestParser"]

_RUNNING = re.compile(r"^\s*Running (?P<source>.+?)(?: \((?P<binary>[^)]*)\))?$")
_DOC_TESTS = re.compile(r"^\s*Doc-tests (?P<crate>\S+)$")
_RESULT = re.compile(r"^test (?P<name>.+?) \.\.\. FAILED$")
_SECTION = re.compile(r"^---- (?P<name>.+?) (?:stdout|stderr) ----$")
_PANIC = re.compile(
    r"panicked at (?:'(?P<old_message>.*)', )?"
    r"(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<column>\d+)(?::)?$"
)
_DOC_TEST_NAME = re.compile(r"^(?P<file>.+?) - .*\(line (?P<line>\d+)\)$")


class CargoTestParser(ToolParser):
    """Failed tests and test-build errors from ``cargo test``."""

    tool: ClassVar[str] = "cargo-test"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"test"})
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self._compile = RustcDiagnostics(self, errors_only=True)
        self._binary: str | None = None
        # Failed test names of the current binary, in order; their details.
        self._failed: list[str] = []
        self._details: dict[str, dict[str, str | int | None]] = {}
        self._section: str | None = None
        self._expect_message = False

    def feed_text(self, line: str) -> Iterable[Finding]:
        if (running := _RUNNING.match(line)) is not None:
            done = self._flush()
            self._binary = running["source"]
            return done
        if (doc := _DOC_TESTS.match(line)) is not None:
            done = self._flush()
            self._binary = f"doc-tests {doc['crate']}"
            return done
        if (result := _RESULT.match(line)) is not None:
            name = result["name"]
            if name not in self._details:
                self._failed.append(name)
                self._details[name] = {}
            return ()
        if (section := _SECTION.match(line)) is not None:
            self._section = section["name"]
            self._expect_message = False
            return ()
        if self._section is not None:
            return self._section_line(line)
        return self._compile.feed(line)

    def _section_line(self, line: str) -> Iterable[Finding]:
        assert self._section is not None
        if line == "failures:" or line.startswith("test result:"):
            self._section = None
            return ()
        details = self._details.setdefault(self._section, {})
        if self._section not in self._failed:
            self._failed.append(self._section)
        if self._expect_message:
            self._expect_message = False
            if line.strip() and "message" not in details:
                details["message"] = line.strip()[:1000]
            return ()
        panic = _PANIC.search(line)
        if panic is not None and "file" not in details:
            details["file"] = panic["file"]
            details["line"] = int(panic["line"])
            details["column"] = int(panic["column"])
            if panic["old_message"] is not None:
                details["message"] = panic["old_message"][:1000]
            else:
                self._expect_message = True
        elif line.startswith("Error: ") and "message" not in details:
            details["message"] = line[len("Error: ") :][:1000]
        return ()

    def _flush(self) -> list[Finding]:
        findings = [self._finding(name) for name in self._failed]
        self._failed, self._details, self._section = [], {}, None
        return findings

    def _finding(self, name: str) -> Finding:
        details = self._details.get(name, {})
        path = details.get("file")
        file, outside = self.place(path if isinstance(path, str) else None)
        line, column = details.get("line"), details.get("column")
        doc = _DOC_TEST_NAME.match(name)
        if doc is not None and (file is None or outside):
            # A doc-test panics inside a generated file in a temporary
            # folder; its name says where the example is.
            (file, outside), line, column = (
                self.place(doc["file"]),
                int(doc["line"]),
                None,
            )
        message = details.get("message")
        return Finding(
            kind="test_fail",
            severity="error",
            message=f"{name}: {message}" if message else f"{name} failed",
            file=file,
            line=line if isinstance(line, int) else None,
            column=column if isinstance(column, int) else None,
            code=None,
            outside=outside,
            tool=self.tool,
            raw={"test_id": name, "test_binary": self._binary, **details},
        )

    def finish(self) -> Iterable[Finding]:
        return [*self._compile.finish(), *self._flush()]
