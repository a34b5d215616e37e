"""Findings out as a SARIF 2.1.0 log, for code-scanning dashboards.

::

    log = to_sarif(findings, "crafting-table", base_uri="file:///work/repo/")
    json.dumps(log)

One run per tool that produced findings (a finding's ``tool``; findings
without one go to a run named ``tool_name``), and one empty run named
``tool_name`` when there are none, so that a viewer sees an analysis that
found nothing. The tool's own version is not known here, so a driver has
none; this service, with its version, is each run's ``conversion`` tool,
and the commit analysed, when given, its ``versionControlProvenance``.
Each run lists the codes its
findings carry as rules, and each finding becomes a result with the level
from its severity, its message, a location relative to the ``SRCROOT`` base
(or an absolute ``file://`` URI for a file outside the subproject), and our
fingerprint (and identity, when the row has one) as partial fingerprints so
that consumers can follow a result across runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from crafting_table.parsers.base import Finding, fingerprint

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "to_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_FINGERPRINT_KEY = "craftingTable/fingerprint/v1"
_IDENTITY_KEY = "craftingTable/identity/v1"

FindingLike = Finding | Mapping[str, Any]


def _field(finding: FindingLike, name: str) -> Any:
    if isinstance(finding, Mapping):
        return finding.get(name)
    return getattr(finding, name, None)


def to_sarif(
    findings: Iterable[FindingLike],
    tool_name: str = "crafting-table",
    *,
    tool_version: str | None = None,
    base_uri: str | None = None,
    provenance: Mapping[str, str] | None = None,
    subproject: str = ".",
    stopped: str | None = None,
) -> dict[str, Any]:
    """A SARIF 2.1.0 log object for ``findings`` (Finding objects or ledger rows).

    ``tool_version`` is this service's version (the converter's, not the
    tools'). ``base_uri``, when given, is where relative files live (an
    absolute URI ending in ``/``) and becomes ``SRCROOT`` in every run's
    ``originalUriBaseIds``. ``provenance`` is one SARIF
    ``versionControlDetails`` object (``repositoryUri``, ``revisionId``,
    ``branch``); the repository's root is mapped to ``SRCROOT``.
    ``stopped``, when given, is why the analysis did not finish: each run's
    invocation then says it was not successful, with that reason, so that
    a viewer does not take a missing result for a fixed one.
    ``subproject`` is the folder the findings' relative paths start from;
    result URIs are relative to the repository's root, as viewers that
    open the commit expect. A row's ``fingerprint`` is used when present, else
    computed; a row's ``identity`` is carried when present. Never raises on
    odd field values: they are rendered as text.
    """
    runs: dict[str, list[FindingLike]] = {}
    for finding in findings:
        tool = str(_field(finding, "tool") or tool_name)
        runs.setdefault(tool, []).append(finding)
    if not runs:
        runs[tool_name] = []
    converter: dict[str, Any] = {"name": "crafting-table"}
    if tool_version:
        converter["version"] = tool_version
    extras: dict[str, Any] = {"conversion": {"tool": {"driver": converter}}}
    if provenance:
        mapped = {**provenance, "mappedTo": {"uriBaseId": "SRCROOT"}}
        extras["versionControlProvenance"] = [mapped]
    if base_uri:
        extras["originalUriBaseIds"] = {"SRCROOT": {"uri": base_uri}}
    invocation: dict[str, Any] = {"executionSuccessful": stopped is None}
    if stopped is not None:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": stopped}}
        ]
    extras["invocations"] = [invocation]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            _run(tool, items, subproject) | extras for tool, items in runs.items()
        ],
    }


def _run(tool: str, findings: list[FindingLike], subproject: str) -> dict[str, Any]:
    rule_index: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    results = []
    for finding in findings:
        rule_id = str(_field(finding, "code") or _field(finding, "kind") or "finding")
        if rule_id not in rule_index:
            rule_index[rule_id] = len(rules)
            rules.append(_rule(rule_id, finding))
        results.append(_result(finding, rule_id, rule_index[rule_id], subproject))
    driver: dict[str, Any] = {"name": tool, "rules": rules}
    return {"tool": {"driver": driver}, "results": results}


def _rule(rule_id: str, finding: FindingLike) -> dict[str, Any]:
    kind = str(_field(finding, "kind") or "lint")
    return {
        "id": rule_id,
        "shortDescription": {"text": rule_id},
        "properties": {"kind": kind},
    }


def _result(
    finding: FindingLike, rule_id: str, index: int, subproject: str
) -> dict[str, Any]:
    kind = str(_field(finding, "kind") or "lint")
    severity = _field(finding, "severity")
    file = _field(finding, "file")
    line = _field(finding, "line")
    code = _field(finding, "code")
    prints = {
        _FINGERPRINT_KEY: str(
            _field(finding, "fingerprint")
            or fingerprint(kind, file, line if isinstance(line, int) else None, code)
        )
    }
    identity = _field(finding, "identity")
    if identity:
        prints[_IDENTITY_KEY] = str(identity)
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": index,
        "level": _LEVEL.get(str(severity), "warning"),
        "message": {"text": str(_field(finding, "message") or rule_id)},
        "partialFingerprints": prints,
        "properties": {"kind": kind},
    }
    fix = _field(finding, "suggested_fix")
    if fix:
        result["properties"]["suggestedFix"] = str(fix)
    if isinstance(file, str) and file:
        result["locations"] = [
            _location(file, line, _field(finding, "column"), finding, subproject)
        ]
    return result


def _location(
    file: str, line: Any, column: Any, finding: FindingLike, subproject: str
) -> dict[str, Any]:
    artifact: dict[str, Any]
    if bool(_field(finding, "outside")) and file.startswith("/"):
        artifact = {"uri": PurePosixPath(file).as_uri()}
    else:
        path = file if subproject in ("", ".") else f"{subproject}/{file}"
        artifact = {"uri": quote(path), "uriBaseId": "SRCROOT"}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if isinstance(line, int) and line > 0:
        region = {"startLine": line}
        if isinstance(column, int) and column > 0:
            region["startColumn"] = column
        physical["region"] = region
    return {"physicalLocation": physical}
