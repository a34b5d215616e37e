"""``dotnet list package --vulnerable --format json``: vulnerable NuGet packages.

The report (NuGet's format version 1) is one document::

    {"version": 1, "parameters": "--vulnerable --include-transitive",
     "problems": [{"project": "/src/Api/Api.csproj", "error": "..."}],
     "sources": ["https://api.nuget.org/v3/index.json"],
     "projects": [{"path": "/src/Api/Api.csproj", "frameworks": [
         {"framework": "net8.0",
          "topLevelPackages": [{"id", "requestedVersion", "resolvedVersion",
                                "vulnerabilities": [{"severity", "advisoryurl"}]}],
          "transitivePackages": [{"id", "resolvedVersion", "vulnerabilities"}]}]}]}

``problems`` appears only when there are some, each keyed by its level
(``error``, ``warning`` or ``information``); ``frameworks``,
``topLevelPackages`` and ``transitivePackages`` are left out when empty.
Severity is ``Low``, ``Moderate``, ``High``, ``Critical`` or empty; the
advisory is a GitHub advisory URL for nuget.org's feed.

Each vulnerable package and advisory is one ``cve`` finding in the
project's file, coded by the GHSA id in the URL (the whole URL when it has
none). A package vulnerable under several target frameworks of one project
is reported once, naming them all. The report names no fixed version, so
there is no suggested fix: a guess would send the patch loop after a
version nobody checked; the message points at the advisory instead.

The command exits 0 when it finds vulnerabilities, so such a job succeeds
with its findings. An ``error`` problem (a project not restored, a
``packages.config`` project) means that project went unaudited; it becomes
a ``recipe_fail`` coded ``not_audited``, which the fallback would not add
once other projects have findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from crafting_table.parsers.base import (
    Finding,
    ParseContext,
    ToolParser,
    advisory_severity,
    as_str,
    first_line,
)

__all__ = ["DotnetAuditParser", "advisory_code"]

_GHSA = re.compile(r"GHSA(?:-[0-9a-z]{4}){3}", re.IGNORECASE)
_KINDS = (("topLevelPackages", False), ("transitivePackages", True))


def _is_report(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and "version" in value
        and isinstance(value.get("parameters"), str)
        and (
            isinstance(value.get("projects"), list)
            or isinstance(value.get("problems"), list)
        )
    )


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def advisory_code(url: str) -> str:
    """The GHSA id in an advisory URL, spelt as GitHub does, else the whole URL."""
    match = _GHSA.search(url)
    return "GHSA" + match[0][4:].lower() if match else url


class DotnetAuditParser(ToolParser):
    """Vulnerable packages from ``dotnet list package --vulnerable --format json``."""

    tool: ClassVar[str] = "dotnet-list-package"
    wants_json: ClassVar[bool] = True

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        # (project, package id, advisory) already reported, in case the log
        # holds the report twice (a recipe that lists each project alone).
        self._seen: set[tuple[str, str, str]] = set()

    def feed_json(self, value: Any) -> Iterable[Finding]:
        if not _is_report(value):
            return ()
        findings = [self._problem(p) for p in _dicts(value.get("problems"))]
        for project in _dicts(value.get("projects")):
            findings.extend(self._project(project))
        return [finding for finding in findings if finding is not None]

    def _project(self, project: dict[str, Any]) -> list[Finding]:
        path = as_str(project.get("path")) or ""
        # One finding per package and advisory: collect every framework
        # first so that the finding can name them all.
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for framework in _dicts(project.get("frameworks")):
            name = as_str(framework.get("framework")) or "?"
            for key, transitive in _KINDS:
                for package in _dicts(framework.get(key)):
                    _collect(found, package, name, transitive)
        findings = []
        for (package_id, code), record in found.items():
            seen = (path, package_id.lower(), code)
            if seen in self._seen:
                continue
            self._seen.add(seen)
            findings.append(self._finding(path, code, record))
        return findings

    def _finding(self, path: str, code: str, record: dict[str, Any]) -> Finding:
        file, outside = self.place(path) if path else (None, False)
        how = "transitive" if record["transitive"] else "top-level"
        where = ", ".join(record["frameworks"])
        level = record["severity"] or "unknown"
        message = (
            f"{record['id']} {record['resolvedVersion'] or '?'} ({how}, {where}): "
            f"{level} severity, no fixed version named; see {record['advisoryurl']}"
        )
        return Finding(
            kind="cve",
            severity=advisory_severity(level),
            message=message[:1000],
            file=file,
            code=code,
            outside=outside,
            tool=self.tool,
            raw=record,
        )

    def _problem(self, problem: dict[str, Any]) -> Finding | None:
        text = as_str(problem.get("error"))
        if text is None:
            return None
        project = as_str(problem.get("project"))
        file, outside = self.place(project) if project else (None, False)
        return Finding(
            kind="recipe_fail",
            severity="error",
            message=f"not audited: {first_line(text, 500)}",
            file=file,
            code="not_audited",
            outside=outside,
            tool=self.tool,
            raw=problem,
        )


def _collect(
    found: dict[tuple[str, str], dict[str, Any]],
    package: dict[str, Any],
    framework: str,
    transitive: bool,
) -> None:
    """Add ``package``'s advisories under ``framework`` to ``found``."""
    package_id = as_str(package.get("id"))
    if package_id is None:
        return
    for vulnerability in _dicts(package.get("vulnerabilities")):
        url = as_str(vulnerability.get("advisoryurl"))
        if url is None:
            continue
        record = found.setdefault(
            (package_id.lower(), advisory_code(url)),
            {
                "id": package_id,
                "requestedVersion": as_str(package.get("requestedVersion")),
                "resolvedVersion": as_str(package.get("resolvedVersion")),
                "severity": as_str(vulnerability.get("severity")),
                "advisoryurl": url,
                "transitive": transitive,
                "frameworks": [],
            },
        )
        if framework not in record["frameworks"]:
            record["frameworks"].append(framework)
