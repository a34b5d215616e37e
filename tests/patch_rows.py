"""Ledger rows for patch loop tests, built in memory."""

from __future__ import annotations

from typing import Any

from crafting_table.ledger.findings import FindingRow
from crafting_table.ledger.jobs import JobRow


def finding(id: int, kind: str = "lint", **fields: Any) -> FindingRow:
    """A finding; by default a ruff lint on line ``id`` of app.py."""
    values: dict[str, Any] = {
        "id": id,
        "job_id": "j",
        "kind": kind,
        "severity": "warning",
        "file": "app.py",
        "line": id,
        "column": 1,
        "code": "F401",
        "message": "m",
        "suggested_fix": None,
        "fingerprint": f"f{id}",
        "identity": f"i{id}",
        "outside": False,
        "tool": "ruff",
        "raw_json": "{}",
        "created_at": 0.0,
    }
    values.update(fields)
    return FindingRow(**values)


def job(status: str, exit_code: int | None) -> JobRow:
    """A finished lint job with ``status`` and ``exit_code``."""
    return JobRow(
        id="j",
        project_name="p",
        owner="o",
        subproject=".",
        recipe="lint",
        ref=None,
        sha="a" * 40,
        status=status,
        exit_code=exit_code,
        error=None,
        snapshot={},
        trigger="api",
        retry_of=None,
        created_at=0.0,
        started_at=None,
        finished_at=None,
        findings_count=0,
        log_path="x",
        log_bytes=0,
        pgid=None,
        proc_start=None,
        kill_mark=None,
    )
