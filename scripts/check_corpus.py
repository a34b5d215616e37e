"""Run the parsers over the shared corpus of real logs and compare.

Usage: ``python scripts/check_corpus.py [CORPUS_DIR]`` (default: the
``shared/corpus`` folder beside the repository). For every case folder it
builds the job the way the Parser actor would (language and recipe from
``cmd.txt``, the exit code, the folder the tool ran in from ``source.txt``),
streams ``log.txt`` through :func:`parse_job` and compares the findings with
``expected.json`` on (kind, file, line, code). Test failures are matched by
the test's name, as the corpus asks; a compile error that the truth calls a
``recipe_fail`` matches a ``lint`` at the same place. Exits 1 when any case
differs.

Not part of the test suite: the corpus is a shared reference, not ours to
copy into the repository.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crafting_table.parsers import Finding, ParseContext, parse_job

Key = tuple[str, str | None, int | None, str | None]

_ROOT = re.compile(
    r"^subproject root at capture[^:]*\(cwd[^)]*\):\s*(?P<root>\S+)", re.M
)


def _workdir(case: Path) -> Path:
    match = _ROOT.search((case / "source.txt").read_text(encoding="utf-8"))
    if match is None or not match["root"].startswith("/"):
        return Path("/nonexistent-workdir")
    return Path(match["root"])


def _context(case: Path) -> ParseContext:
    command = (case / "cmd.txt").read_text(encoding="utf-8").splitlines()
    exit_code = int((case / "exit_code.txt").read_text(encoding="utf-8").strip())
    log_path = case / "log.txt"

    def log() -> Iterator[str]:
        with log_path.open(encoding="utf-8", errors="replace", newline="") as handle:
            yield from handle

    return ParseContext(
        language=command[1].strip(),
        recipe=command[2].strip(),
        exit_code=exit_code,
        subproject=".",
        workdir=_workdir(case),
        log=log,
    )


def _expected_key(finding: dict[str, Any]) -> Key:
    code = finding.get("code")
    if isinstance(code, list):
        code = ",".join(sorted(code))
    kind = finding["kind"]
    if kind == "test_fail":
        return kind, finding.get("file"), finding.get("line"), finding.get("test_id")
    if kind == "recipe_fail" and finding.get("file"):
        # A compile error stopping the recipe may be reported as a lint.
        kind = "lint"
    return kind, finding.get("file"), finding.get("line"), code


def _got_key(finding: Finding) -> Key:
    if finding.kind == "test_fail":
        return finding.kind, finding.file, finding.line, finding.raw.get("test_id")
    return finding.kind, finding.file, finding.line, finding.code


def check_case(case: Path) -> tuple[int, int, list[str]]:
    """Return (expected count, got count, mismatch lines) for one case."""
    truth = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    findings = parse_job(_context(case))
    expected = Counter(_expected_key(f) for f in truth["findings"])
    tolerated = Counter(
        _expected_key(f) for f in truth.get("not_test_failures_in_log", [])
    )
    got = Counter(_got_key(f) for f in findings)
    problems = []
    for key, count in sorted((expected - got).items(), key=str):
        problems.append(f"  missing x{count}: {key}")
    for key, count in sorted((got - expected - tolerated).items(), key=str):
        problems.append(f"  extra   x{count}: {key}")
    problems.extend(_detail_differences(truth["findings"], findings))
    return truth.get("count", len(truth["findings"])), len(findings), problems


def _detail_differences(
    truth: list[dict[str, Any]], findings: list[Finding]
) -> list[str]:
    """Severity and suggested-fix differences between findings matched by key."""
    by_key: dict[Key, list[Finding]] = {}
    for finding in findings:
        by_key.setdefault(_got_key(finding), []).append(finding)
    problems = []
    for wanted in truth:
        candidates = by_key.get(_expected_key(wanted))
        if not candidates:
            continue
        finding = candidates.pop(0)
        severity = wanted.get("severity")
        known = severity in (None, "error", "warning", "info")
        if "severity" in wanted and known and severity != finding.severity:
            problems.append(
                f"  severity {finding.severity!r} != {severity!r}: {_got_key(finding)}"
            )
        if (
            "suggested_fix" in wanted
            and wanted["suggested_fix"] != finding.suggested_fix
        ):
            problems.append(
                f"  fix {finding.suggested_fix!r} != {wanted['suggested_fix']!r}: "
                f"{_got_key(finding)}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Check every case; print a table; return 1 if any case differs."""
    default = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=default)
    args = parser.parse_args(argv)
    failed = 0
    print(f"{'case':<48} {'expected':>8} {'got':>5}  verdict")
    for case in sorted(
        p for p in args.corpus.iterdir() if (p / "expected.json").is_file()
    ):
        expected, got, problems = check_case(case)
        verdict = "ok" if not problems else f"{len(problems)} mismatch(es)"
        failed += bool(problems)
        print(f"{case.name:<48} {expected:>8} {got:>5}  {verdict}")
        for line in problems:
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
