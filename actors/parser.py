"""The Parser: a finished job's log becomes findings, stored with its status.

Parsing runs on a worker thread (a log can be tens of megabytes) and reads
each finding's source line from the job's folder, which the Runner keeps
until the answer comes back. Findings and the terminal status are written
in one transaction; then the Notifier and the Patcher hear of the job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import trio

from actors.kernel import Actor
from crafting_table.joblog import PREFIX
from crafting_table.ledger import Ledger
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger.jobs import JobRow
from crafting_table.messages import JobParsed, ParseJob, Ref
from crafting_table.parsers import Finding, ParseContext, parse_job
from crafting_table.parsers.identity import identities
from crafting_table.redact import Redactor
from crafting_table.sourcefiles import SourceReader

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ParserStatistics:
    """A snapshot for ``/healthz``."""

    name: str
    handled: int
    failed: int
    findings: int
    parse_seconds: float


class Parser(Actor):
    """Parses finished jobs; see the module docstring."""

    name = "parser"

    def __init__(
        self, ledger: Ledger, data_dir: Path, listeners: list[Ref] | None = None
    ) -> None:
        super().__init__()
        self.ledger = ledger
        self.data_dir = data_dir
        self.listeners = listeners or []
        self.findings = 0
        self.parse_seconds = 0.0

    async def handle(self, message: object) -> Any:
        """Dispatch one message."""
        match message:
            case ParseJob():
                return await self._parse(message)
            case _:
                return await super().handle(message)

    def statistics(self) -> ParserStatistics:
        """Counters."""
        return ParserStatistics(
            name=self.name,
            handled=self.handled,
            failed=self.failed,
            findings=self.findings,
            parse_seconds=round(self.parse_seconds, 3),
        )

    async def _parse(self, message: ParseJob) -> JobRow | None:
        job: JobRow = message.job
        found: list[Finding] = []
        keys: list[str] = []
        if message.status in ("succeeded", "failed", "timed_out"):
            started = time.monotonic()
            context = ParseContext(
                language=job.language,
                recipe=job.recipe,
                exit_code=message.exit_code,
                subproject=job.subproject,
                workdir=message.workdir or Path("/nonexistent"),
                log=_log_source(self.data_dir / job.log_path),
                reports_dir=message.reports_dir,
                timed_out=message.status == "timed_out",
            )
            found, keys = await trio.to_thread.run_sync(
                _parse_and_identify, context, Redactor(message.secrets)
            )
            self.parse_seconds += time.monotonic() - started

        row = await self.ledger.write(
            finding_store.finish_with_findings,
            job.id,
            findings=found,
            identities=keys,
            status=message.status,
            exit_code=message.exit_code,
            error=message.error,
            log_bytes=message.log_bytes,
            now=time.time(),
        )
        if row is None:
            return None
        self.findings += len(found)
        event = JobParsed(job_id=row.id, project=row.project_name, status=row.status)
        for listener in self.listeners:
            await listener.tell(event)
        return row


# How a log reaches the parsers: line by line, with a bound on what one line
# may cost. A long line that opens like JSON (a single-line eslint or ruff
# report) is kept whole up to MAX_JSON_LINE, past which it arrives in pieces;
# any other line is cut at MAX_TEXT_LINE and the rest skipped unread into
# memory. A recipe printing a gigabyte without a newline then costs the
# Parser a megabyte, not the log's size twice over. The service's own lines
# are skipped: the header echoes the recipe's command, and a command that
# holds a tool's output (a report written with a here-document) would
# otherwise be read as if the recipe had printed it (READ_CHUNK is far
# longer than the prefix, so the first read of a line tells).
READ_CHUNK = 1024 * 1024
MAX_TEXT_LINE = 1024 * 1024
MAX_JSON_LINE = 64 * 1024 * 1024


def _log_source(path: Path) -> Any:
    def lines() -> Iterator[str]:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        with handle:
            while piece := handle.readline(READ_CHUNK):
                if piece.startswith(PREFIX):
                    _skip_rest_of_line(handle, piece)
                    continue
                if not piece.endswith(b"\n"):
                    piece = _rest_of_line(handle, piece)
                yield piece.decode("utf-8", "replace")

    return lines


def _skip_rest_of_line(handle: Any, piece: bytes) -> None:
    while piece and not piece.endswith(b"\n"):
        piece = handle.readline(READ_CHUNK)


def _rest_of_line(handle: Any, piece: bytes) -> bytes:
    """Finish a line longer than one read, within the bounds above."""
    keep = MAX_JSON_LINE if piece.lstrip()[:1] in (b"{", b"[") else MAX_TEXT_LINE
    parts = [piece[:keep]]
    size = len(parts[0])
    chunk = piece
    while not chunk.endswith(b"\n"):
        chunk = handle.readline(READ_CHUNK)
        if not chunk:
            return b"".join(parts)
        if size < keep:
            parts.append(chunk[: keep - size])
            size += len(parts[-1])
    if not parts[-1].endswith(b"\n"):
        parts.append(b"\n")
    return b"".join(parts)


def _parse_and_identify(
    context: ParseContext, redactor: Redactor
) -> tuple[list[Finding], list[str]]:
    found = parse_job(context)
    reader = SourceReader(context.workdir)
    keys = identities(found, reader.line)
    return [_masked(finding, redactor) for finding in found], keys


def _masked(finding: Finding, redactor: Redactor) -> Finding:
    """``finding`` with its texts masked: a report file never went through
    the log's masking, and a log line may hold a bearer or credentials in a
    URL that no configured secret names."""
    text = redactor.text
    return replace(
        finding,
        message=text(finding.message),
        file=text(finding.file) if finding.file else finding.file,
        code=text(finding.code) if finding.code else finding.code,
        suggested_fix=text(finding.suggested_fix)
        if finding.suggested_fix
        else finding.suggested_fix,
        raw=redactor.value(finding.raw),
    )
