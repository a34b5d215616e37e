"""SARIF 2.1.0 logs, printed by the recipe or written to its report folder.

Every ``runs[].results[]`` is a finding: ``ruleId`` the code, ``level``
(``error``, ``warning``, ``note``, ``none``) the severity, the first
location's artifact URI and region the place. A URI relative to a base id
is resolved against ``run.originalUriBaseIds`` when the base is given
there. Results whose rule id names an advisory (``CVE-``, ``GHSA-``,
``RUSTSEC-``, ``GO-``, ``PYSEC-``) are ``cve`` findings; the rest are lint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    Severity,
    ToolParser,
    as_int,
    as_str,
    open_report,
    report_files,
)

__all__ = ["SarifParser", "is_sarif", "sarif_files"]

MAX_REPORT_BYTES = 256 * 1024 * 1024
"""SARIF files larger than this in the report folder are skipped."""

_SEVERITY: dict[str, Severity | None] = {
    "error": "error",
    "warning": "warning",
    "note": "info",
    "none": None,
}
_ADVISORY = re.compile(
    r"^(?:CVE-\d{4}-\d+|GHSA-|RUSTSEC-\d{4}-|GO-\d{4}-|PYSEC-\d{4}-)"
)


def is_sarif(value: Any) -> bool:
    """True for a SARIF log object (any 2.x version)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("runs"), list)
        and (
            str(value.get("version", "")).startswith("2.")
            or "sarif" in str(value.get("$schema", "")).lower()
        )
    )


def sarif_files(folder: Path) -> Iterator[Path]:
    """The SARIF files in a report folder, in name order; never raises."""
    return report_files(folder, (".sarif", ".sarif.json"))


class SarifParser(ToolParser):
    """Results from SARIF logs in the log and in the report folder."""

    tool: ClassVar[str] = "sarif"
    wants_json: ClassVar[bool] = True

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not is_sarif(value):
            return ()
        return list(self._log(value))

    def finish(self) -> Iterable[Finding]:
        if self.ctx.reports_dir is None:
            return []
        findings: list[Finding] = []
        for path in sarif_files(self.ctx.reports_dir):
            try:
                with open_report(path) as handle:
                    data = handle.read(MAX_REPORT_BYTES + 1)
                if len(data) > MAX_REPORT_BYTES:
                    continue
                value = json.loads(data.decode("utf-8", "replace"))
            except (OSError, ValueError, RecursionError):
                continue
            if is_sarif(value):
                findings.extend(self._log(value))
        return findings

    def _log(self, log: dict[str, Any]) -> Iterator[Finding]:
        for run in log["runs"]:
            if not isinstance(run, dict) or not isinstance(run.get("results"), list):
                continue
            tool = _tool_name(run)
            bases = run.get("originalUriBaseIds")
            bases = bases if isinstance(bases, dict) else {}
            for result in run["results"]:
                if isinstance(result, dict):
                    yield self._result(result, tool, bases)

    def _result(
        self, result: dict[str, Any], tool: str, bases: dict[str, Any]
    ) -> Finding:
        code = as_str(result.get("ruleId"))
        rule = result.get("rule")
        if code is None and isinstance(rule, dict):
            code = as_str(rule.get("id"))
        message = result.get("message")
        text = ""
        if isinstance(message, dict):
            text = str(message.get("text") or message.get("markdown") or "")
        level = str(result.get("level", "warning"))
        uri, line, column = _place(result, bases)
        file, outside = self.place(uri)
        return Finding(
            kind="cve" if code and _ADVISORY.match(code) else "lint",
            severity=_SEVERITY.get(level, "warning"),
            message=text.strip()[:1000],
            file=file,
            line=line,
            column=column,
            code=code,
            outside=outside,
            tool=tool,
            raw=result,
        )


def _tool_name(run: dict[str, Any]) -> str:
    tool = run.get("tool")
    driver = tool.get("driver") if isinstance(tool, dict) else None
    name = driver.get("name") if isinstance(driver, dict) else None
    return as_str(name) or "sarif"


def _place(
    result: dict[str, Any], bases: dict[str, Any]
) -> tuple[str | None, int | None, int | None]:
    locations = result.get("locations")
    if not isinstance(locations, list) or not locations:
        return None, None, None
    location = locations[0]
    physical = location.get("physicalLocation") if isinstance(location, dict) else None
    if not isinstance(physical, dict):
        return None, None, None
    artifact = physical.get("artifactLocation")
    uri = None
    if isinstance(artifact, dict):
        uri = as_str(artifact.get("uri"))
        base_id = as_str(artifact.get("uriBaseId"))
        base = bases.get(base_id) if base_id else None
        base_uri = as_str(base.get("uri")) if isinstance(base, dict) else None
        if uri and base_uri and not uri.startswith(("/", "file:")):
            uri = base_uri.rstrip("/") + "/" + uri
    region = physical.get("region")
    region = region if isinstance(region, dict) else {}
    return uri, as_int(region.get("startLine")), as_int(region.get("startColumn"))
