"""Whether a patch did its job: the verify run against the run it patched.

A patch passes when the verify job's recipe ended no worse than the
original job's, the targeted finding is gone, and no finding appeared that
was not there before. Findings are compared by identity (kind, file, code
and the text of the source line), so findings that only moved up or down
a file are the same findings.
"""

from __future__ import annotations

from collections.abc import Sequence

from crafting_table.ledger.findings import FindingRow
from crafting_table.ledger.jobs import JobRow

# How many new findings a verify_failed reason names before "and N more".
MAX_NAMED = 5


def status_problem(before: JobRow, after: JobRow) -> str | None:
    """Why ``after`` ended worse than ``before``, or None.

    No worse means: it succeeded, or both failed with the same exit status
    (the same lints remain apart from the fixed one). A different non-zero
    status, a timeout or a cancel is worse: the tool failed another way.
    """
    if after.status == "succeeded":
        return None
    if (
        after.status == "failed"
        and before.status == "failed"
        and after.exit_code is not None
        and after.exit_code == before.exit_code
    ):
        return None
    return (
        f"the recipe ended {_ending(after)} on the patched commit, worse than "
        f"{_ending(before)} before"
    )


def verify_problems(
    before_job: JobRow,
    after_job: JobRow,
    target: FindingRow,
    before: Sequence[FindingRow],
    after: Sequence[FindingRow],
) -> list[str]:
    """Every reason the verify run fails the patch (empty: it passes)."""
    problems = []
    status = status_problem(before_job, after_job)
    if status:
        problems.append(status)
    if any(f.identity == target.identity for f in after):
        problems.append(f"the targeted finding is still reported: {describe(target)}")
    known = {f.identity for f in before}
    new = [f for f in after if f.identity not in known]
    if new:
        named = ", ".join(describe(f) for f in new[:MAX_NAMED])
        more = f" and {len(new) - MAX_NAMED} more" if len(new) > MAX_NAMED else ""
        problems.append(f"{len(new)} new finding(s) appeared: {named}{more}")
    return problems


def describe(finding: FindingRow) -> str:
    """``F401 at app.py:3`` and the like."""
    place = finding.file or "-"
    if finding.line:
        place += f":{finding.line}"
    return f"{finding.code or finding.kind} at {place}"


def _ending(job: JobRow) -> str:
    if job.exit_code is None:
        return job.status
    return f"{job.status} with exit status {job.exit_code}"
