"""The words of the patch loop: the agent's prompt, commit and pull request.

The prompt carries the finding, up to :data:`CONTEXT_LINES` lines of
source on either side of it, the project metadata an edit needs, and the
rules of the answer. Source is read through
:class:`~crafting_table.sourcefiles.SourceReader`, so a file reached
through a symbolic link or inside ``.git`` is never read: the prompt then
says that the source is unavailable. Nothing secret goes into any text
here: no ``git_url``, no recipe command.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from crafting_table.ledger.findings import FindingRow
from crafting_table.ledger.jobs import JobRow
from crafting_table.patchdiff import Draft
from crafting_table.sourcefiles import SourceReader

CONTEXT_LINES = 20
MAX_LINE_CHARS = 400
# Pull request bodies list at most this many findings before and after.
MAX_LISTED = 30
MAX_EXPLANATION_CHARS = 4000


def repo_path(subproject: str, file: str) -> str:
    """A finding's file (relative to its subproject) from the repository root."""
    return file if subproject in ("", ".") else f"{subproject}/{file}"


@dataclass(frozen=True, slots=True)
class SourceContext:
    """Lines around a finding, or why there are none.

    ``first`` is the number of the first line in ``lines``; ``target`` the
    finding's line, when known.
    """

    path: str | None
    first: int = 1
    lines: tuple[str, ...] = ()
    target: int | None = None
    unavailable: str | None = None


def read_context(
    reader: SourceReader, finding: FindingRow, subproject: str
) -> SourceContext:
    """The source around ``finding`` from the tree ``reader`` reads.

    A lint is shown around its line; a CVE (whose file is a manifest or
    lock file without a line) around the first line naming its package,
    else from the top of the file.
    """
    if not finding.file or finding.outside:
        return SourceContext(path=None, unavailable="the finding names no file")
    path = repo_path(subproject, finding.file)
    lines = reader.lines(path)
    if lines is None:
        return SourceContext(
            path=path,
            unavailable=(
                f"{path!r} cannot be read inside the repository (missing, "
                "too large, inside .git, climbing with '..', or reached "
                "through a symbolic link)"
            ),
        )
    target = finding.line if finding.line else _package_line(lines, finding)
    centre = target or 1
    first = max(1, centre - CONTEXT_LINES)
    last = min(len(lines), centre + CONTEXT_LINES)
    shown = tuple(line[:MAX_LINE_CHARS] for line in lines[first - 1 : last])
    return SourceContext(path=path, first=first, lines=shown, target=target)


def _package_line(lines: list[str], finding: FindingRow) -> int | None:
    try:
        raw = json.loads(finding.raw_json)
    except ValueError:
        return None
    name = raw.get("package") or raw.get("module") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not name or name == "?":
        return None
    wanted = name.lower()
    for number, line in enumerate(lines, start=1):
        if wanted in line.lower():
            return number
    return None


@dataclass(frozen=True, slots=True)
class PromptFacts:
    """What the prompt says about where the finding lives."""

    project: str
    default_branch: str
    job: JobRow
    max_diff_lines: int


def prompt(facts: PromptFacts, finding: FindingRow, context: SourceContext) -> str:
    """The one message the agent gets for ``finding``."""
    job = facts.job
    subproject = job.subproject
    where = repo_path(subproject, finding.file) if finding.file else "(no file)"
    if finding.line:
        where += f", line {finding.line}"
        if finding.column:
            where += f", column {finding.column}"
    parts = [
        "Fix one finding that a tool reported in a git repository.",
        "",
        f"Project: {facts.project} (default branch {facts.default_branch})",
        f"Commit: {job.sha}",
        f"Subproject folder: {subproject} (language {job.language}, "
        f"recipe {job.recipe})",
        "",
        "Finding:",
        f"  kind: {finding.kind}",
        f"  severity: {finding.severity or 'unknown'}",
        f"  tool: {finding.tool or 'unknown'}",
        f"  code: {finding.code or 'none'}",
        f"  where: {where}",
        f"  message: {finding.message}",
    ]
    if finding.suggested_fix:
        parts.append(f"  suggested fix: {finding.suggested_fix}")
    parts += ["", *_context_block(context), ""]
    parts += [
        "Answer with exactly one JSON object and nothing else:",
        '{"diff": "<unified diff>", "explanation": "<what and why, briefly>",'
        ' "confidence": <number from 0 to 1>}',
        "",
        "Rules for the diff:",
        "- a unified diff with paths relative to the repository root and the "
        "a/ and b/ prefixes, that `git apply` accepts as is (exact hunk counts);",
        f"- change only files inside the folder {subproject!r};",
        "- fix the cause: do not silence the tool (no noqa, type: ignore, "
        "eslint-disable, allow attributes or skip markers);",
        "- do not edit tests or lint, type-checker or test configuration;",
        "- no symbolic links, no binary changes, nothing under .git;",
        f"- keep it small: at most {facts.max_diff_lines} added plus removed lines.",
    ]
    return "\n".join(parts) + "\n"


def _context_block(context: SourceContext) -> list[str]:
    if context.unavailable is not None:
        return [f"Source: not available ({context.unavailable})."]
    last = context.first + len(context.lines) - 1
    header = f"Source of {context.path}, lines {context.first}-{last}"
    if context.target:
        header += " (the finding's line is marked with '>')"
    out = [header + ":"]
    width = len(str(last))
    for offset, text in enumerate(context.lines):
        number = context.first + offset
        mark = ">" if number == context.target else " "
        out.append(f"{mark}{number:>{width}} | {text}")
    return out


def title(finding: FindingRow, subproject: str) -> str:
    """A pull request and commit title naming what is fixed."""
    if finding.kind == "cve":
        text = f"Fix {finding.code or 'vulnerability'}"
        if finding.suggested_fix:
            text += f": {finding.suggested_fix}"
    else:
        text = f"Fix {finding.code or finding.kind}"
        if finding.file:
            text += f" in {repo_path(subproject, finding.file)}"
            if finding.line:
                text += f":{finding.line}"
    return _one_line(text)[:200]


def commit_message(
    finding: FindingRow, job: JobRow, draft: Draft, attempt_number: int
) -> str:
    """The commit message of a drafted patch."""
    explanation = draft.explanation[:MAX_EXPLANATION_CHARS] or "No explanation given."
    return (
        f"{title(finding, job.subproject)}\n\n{explanation}\n\n"
        f"Finding {finding.id} ({finding.kind} {finding.code or ''}".rstrip()
        + f") of job {job.id}, attempt {attempt_number}.\n"
        "Drafted by the crafting-table patch loop.\n"
    )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What the pull request says about the verification."""

    job: JobRow
    verify_job: JobRow
    target: FindingRow
    before: Sequence[FindingRow]
    after: Sequence[FindingRow]
    draft: Draft
    public_url: str | None = None


def pull_request_body(report: VerifyReport) -> str:
    """The pull request description: the why, the proof, and the findings."""
    job, verify = report.job, report.verify_job
    target = report.target
    explanation = report.draft.explanation[:MAX_EXPLANATION_CHARS]
    where = repo_path(job.subproject, target.file) if target.file else "-"
    if target.line:
        where += f":{target.line}"
    out = [
        f"This change was drafted by an agent for a `{target.kind}` finding "
        f"and verified by crafting-table: the `{job.recipe}` recipe of "
        f"`{job.subproject}` ran again on this commit (job "
        f"{_job_ref(verify, report.public_url)}), the finding is gone, no new "
        "finding appeared, and the exit status is no worse than before.",
        "",
        f"**Finding:** `{target.code or target.kind}` at `{where}`: "
        f"{_one_line(target.message)}",
        "",
        f"**Agent's explanation** (confidence {report.draft.confidence:g}):",
        "",
        *(f"> {line}" for line in (explanation or "No explanation given.").split("\n")),
        "",
        f"### Findings before (job {_job_ref(job, report.public_url)}, "
        f"exit {job.exit_code})",
        "",
        *_finding_list(report.before, job.subproject, target.id),
        "",
        f"### Findings after (job {_job_ref(verify, report.public_url)}, "
        f"exit {verify.exit_code})",
        "",
        *_finding_list(report.after, job.subproject, None),
        "",
        "Nothing is merged automatically: review the change before merging.",
    ]
    return "\n".join(out) + "\n"


def _job_ref(job: JobRow, public_url: str | None) -> str:
    if public_url:
        return f"[{job.id}]({public_url.rstrip('/')}/jobs/{job.id})"
    return f"`{job.id}`"


def _finding_list(
    findings: Sequence[FindingRow], subproject: str, target: int | None
) -> list[str]:
    if not findings:
        return ["- none"]
    out = []
    for f in findings[:MAX_LISTED]:
        place = repo_path(subproject, f.file) if f.file else "-"
        if f.line:
            place += f":{f.line}"
        mark = " (the finding this patch fixes)" if f.id == target else ""
        out.append(
            f"- `{f.code or f.kind}` {place}: {_one_line(f.message)[:200]}{mark}"
        )
    if len(findings) > MAX_LISTED:
        out.append(f"- ... and {len(findings) - MAX_LISTED} more")
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())
