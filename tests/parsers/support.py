"""Helpers shared by the parser tests: samples on disk and jobs in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from crafting_table.parsers import Finding, ParseContext, parse_job

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# The folders the samples were captured in (see tests/samples/README.md);
# absolute paths in the logs point into them.
SRC = Path("/tmp/samples-src")


def sample_lines(tool: str, name: str) -> list[str]:
    """The lines of a captured sample, with their ends, as a log file yields them."""
    with (SAMPLES / tool / name).open(encoding="utf-8", newline="") as handle:
        return list(handle)


def context(
    language: str,
    recipe: str,
    lines: Iterable[str],
    *,
    exit_code: int | None = 1,
    workdir: Path = Path("/work/project"),
    reports_dir: Path | None = None,
) -> ParseContext:
    """A job whose log holds ``lines``."""
    kept = list(lines)

    def log() -> Iterator[str]:
        return iter(kept)

    return ParseContext(
        language=language,
        recipe=recipe,
        exit_code=exit_code,
        subproject=".",
        workdir=workdir,
        log=log,
        reports_dir=reports_dir,
    )


def parse(
    language: str,
    recipe: str,
    lines: Iterable[str],
    *,
    exit_code: int | None = 1,
    workdir: Path = Path("/work/project"),
    reports_dir: Path | None = None,
) -> list[Finding]:
    """``parse_job`` over a log held in memory."""
    ctx = context(
        language,
        recipe,
        lines,
        exit_code=exit_code,
        workdir=workdir,
        reports_dir=reports_dir,
    )
    return parse_job(ctx)


def places(
    findings: Iterable[Finding],
) -> list[tuple[str, str | None, int | None, str | None]]:
    """(kind, file, line, code) per finding, the corpus's comparison key."""
    return [(f.kind, f.file, f.line, f.code) for f in findings]


def crlf(lines: Iterable[str]) -> list[str]:
    """The same log written with CRLF line ends."""
    return [line.rstrip("\n") + "\r\n" for line in lines]


def half(lines: list[str]) -> list[str]:
    """The log cut in the middle of a line, as when a job is killed."""
    text = "".join(lines)
    return (text[: len(text) // 2]).splitlines(keepends=True)
