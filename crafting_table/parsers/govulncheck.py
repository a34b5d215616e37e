"""``govulncheck -json``: a stream of pretty-printed messages.

Each message is an object with one key: ``config``, ``progress``, ``SBOM``,
``osv`` (an advisory that may apply) or ``finding`` (evidence that it does).
A vulnerability is reported once per OSV id that has at least one finding;
an ``osv`` entry without a finding is not a finding. Findings come at three
depths: the module is required (``module``), a vulnerable package is
imported (``package``), a vulnerable symbol is reachable (``symbol``, the
trace's first frame names a function). The deepest is kept; at symbol level
the trace's last frame is the call site in the scanned module, whose
position (source mode only) gives file and line.

Severity follows the depth: symbol error, package warning, module info.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from crafting_table.parsers.base import Finding, Severity, ToolParser, as_int, as_str

__all__ = ["GovulncheckParser"]

_LEVELS = ("module", "package", "symbol")
_SEVERITY: dict[str, Severity] = {
    "symbol": "error",
    "package": "warning",
    "module": "info",
}
_KEYS = frozenset({"config", "progress", "osv", "finding", "SBOM"})


class GovulncheckParser(ToolParser):
    """Vulnerabilities from govulncheck's JSON stream."""

    tool: ClassVar[str] = "govulncheck"
    wants_json: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._advisories: dict[str, dict[str, Any]] = {}
        # OSV id -> the deepest finding seen, in first-seen order.
        self._best: dict[str, tuple[int, dict[str, Any]]] = {}

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not isinstance(value, dict) or len(value) != 1:
            return ()
        key, body = next(iter(value.items()))
        if key not in _KEYS or not isinstance(body, dict):
            return ()
        if key == "osv" and as_str(body.get("id")):
            self._advisories[body["id"]] = {
                "aliases": body.get("aliases"),
                "summary": body.get("summary") or body.get("details"),
            }
        elif key == "finding" and as_str(body.get("osv")):
            depth = _depth(body.get("trace"))
            known = self._best.get(body["osv"])
            if known is None or depth > known[0]:
                self._best[body["osv"]] = (depth, body)
        return ()

    def finish(self) -> Iterable[Finding]:
        return [
            self._finding(osv, depth, body) for osv, (depth, body) in self._best.items()
        ]

    def _finding(self, osv: str, depth: int, body: dict[str, Any]) -> Finding:
        trace = [frame for frame in body.get("trace") or () if isinstance(frame, dict)]
        first = trace[0] if trace else {}
        module = as_str(first.get("module")) or "?"
        found = as_str(first.get("version"))
        fixed = as_str(body.get("fixed_version"))
        level = _LEVELS[depth]
        file = line = column = None
        outside = False
        if level == "symbol" and len(trace) > 1:
            position = trace[-1].get("position")
            if isinstance(position, dict):
                file, outside = self.place(as_str(position.get("filename")))
                line = as_int(position.get("line"))
                column = as_int(position.get("column"))
        advisory = self._advisories.get(osv, {})
        summary = as_str(advisory.get("summary")) or "vulnerable"
        symbol = as_str(first.get("function"))
        if symbol and as_str(first.get("receiver")):
            symbol = f"{first['receiver']}.{symbol}"
        where = {
            "symbol": f"calls {symbol}" if symbol else "calls vulnerable code",
            "package": "imports a vulnerable package",
            "module": "requires a vulnerable module",
        }[level]
        return Finding(
            kind="cve",
            severity=_SEVERITY[level],
            message=f"{module} {found or ''}: {where}: {summary}"[:1000],
            file=file,
            line=line,
            column=column,
            code=osv,
            suggested_fix=f"bump {module} to {fixed}" if fixed else None,
            outside=outside,
            tool=self.tool,
            raw={
                "module": module,
                "found_version": found,
                "fixed_version": fixed,
                "level": level,
                "aliases": advisory.get("aliases"),
                "trace": trace,
            },
        )


def _depth(trace: Any) -> int:
    if not isinstance(trace, list) or not trace or not isinstance(trace[0], dict):
        return 0
    if trace[0].get("function"):
        return 2
    if trace[0].get("package"):
        return 1
    return 0
