"""``go test`` output, plain, verbose (``-v``) or ``-json``.

A failed test prints ``--- FAIL: TestName (0.00s)``, indented for subtests
(``--- FAIL: TestTable/bad``); its ``t.Errorf`` lines
(``    calc_test.go:7: message``) come after that line, or before it in
verbose mode, right after ``=== RUN   TestName``. A package's output ends
with ``FAIL\\t<import path>\\t0.01s`` (or ``ok``), which names the package.
With ``-json`` the same text arrives in ``output`` events, each carrying
its package.

One ``test_fail`` per failed test; a parent that failed only because a
subtest did is not repeated. ``t.Errorf`` places are relative to the
package's folder, which the log does not give, so they stay in the message;
a panic's stack trace does give absolute paths, and the first frame inside
the subproject becomes the finding's place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, ParseContext, ToolParser, as_str

__all__ = ["GoTestParser"]

_FAIL = re.compile(r"^\s*--- FAIL: (?P<name>\S+) \([\d.]+s\)$")
_RUN = re.compile(r"^=== (?:RUN|CONT|PAUSE)\s+(?P<name>\S+)$")
_PACKAGE = re.compile(r"^(?:FAIL|ok)\s+(?P<package>\S+)(?:\s+[\d.]+s|\s+\[.*\])?.*$")
_LOCATION = re.compile(r"^\s+(?P<file>[\w./-]+\.go):(?P<line>\d+): (?P<message>.*)$")
_PANIC = re.compile(r"^panic: (?P<message>.*?)(?: \[recovered.*\])?$")
_FRAME = re.compile(r"^\t(?P<file>/\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?$")


class GoTestParser(ToolParser):
    """Failed tests from ``go test``."""

    tool: ClassVar[str] = "go-test"
    recipes: ClassVar[frozenset[str] | None] = frozenset({"test"})
    wants_json: ClassVar[bool] = True
    wants_text: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        # Per package being read (None: not yet named): failed tests in
        # order with what is known of them, and the test printing now.
        self._failed: dict[str | None, dict[str, dict[str, Any]]] = {}
        self._current: dict[str | None, str] = {}

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if (
            not isinstance(value, dict)
            or "Action" not in value
            or "Package" not in value
        ):
            return ()
        package = as_str(value.get("Package"))
        if value["Action"] == "output" and isinstance(value.get("Output"), str):
            for line in value["Output"].splitlines():
                self._line(line, package)
            return ()
        if value["Action"] in ("fail", "pass", "skip") and value.get("Test") is None:
            return self._flush(package, package)
        return ()

    def feed_text(self, line: str) -> Iterable[Finding]:
        package_end = _PACKAGE.match(line)
        if package_end is not None:
            return self._flush(None, package_end["package"])
        self._line(line, None)
        return ()

    def _line(self, line: str, package: str | None) -> None:
        failed = self._failed.setdefault(package, {})
        if (fail := _FAIL.match(line)) is not None:
            self._current[package] = fail["name"]
            failed.setdefault(fail["name"], {}).pop("_seen_only", None)
            return
        if (run := _RUN.match(line)) is not None:
            self._current[package] = run["name"]
            return
        name = self._current.get(package)
        if name is None:
            return
        if (location := _LOCATION.match(line)) is not None:
            details = self._pending_details(package, name)
            details.setdefault("message", location["message"][:1000])
            details.setdefault("where", f"{location['file']}:{location['line']}")
        elif (panic := _PANIC.match(line)) is not None:
            details = self._pending_details(package, name)
            details["message"] = f"panic: {panic['message']}"[:1000]
        elif (frame := _FRAME.match(line)) is not None:
            details = self._pending_details(package, name)
            if "file" not in details:
                file, outside = self.place(frame["file"])
                if not outside:
                    details["file"], details["line"] = file, int(frame["line"])

    def _pending_details(self, package: str | None, name: str) -> dict[str, Any]:
        # Output may come before the --- FAIL line (verbose mode): keep it
        # aside under the name, and drop it if the test passes.
        notes = self._failed.setdefault(package, {})
        return notes.setdefault(name, {"_seen_only": True})

    def _flush(self, key: str | None, package: str | None) -> list[Finding]:
        failed = self._failed.pop(key, {})
        self._current.pop(key, None)
        confirmed = [n for n, d in failed.items() if not d.get("_seen_only")]
        findings = []
        for name in confirmed:
            if any(other.startswith(name + "/") for other in confirmed):
                continue
            findings.append(self._finding(package, name, failed[name]))
        return findings

    def _finding(
        self, package: str | None, name: str, details: dict[str, Any]
    ) -> Finding:
        test_id = f"{package}.{name}" if package else name
        message = details.get("message")
        where = details.get("where")
        text = f"{test_id}: {message}" if message else f"{test_id} failed"
        if where:
            text += f" ({where})"
        return Finding(
            kind="test_fail",
            severity="error",
            message=text[:1000],
            file=details.get("file"),
            line=details.get("line"),
            tool=self.tool,
            raw={"test_id": test_id, "package": package, "test": name, "where": where},
        )

    def finish(self) -> Iterable[Finding]:
        findings = []
        for key in list(self._failed):
            findings.extend(self._flush(key, key))
        return findings
