"""How fast and how lean the findings parsers read a big log.

Run by hand (never from the test suite)::

    .venv/bin/python bench/parsers.py [--mb 100] [--keep]

It writes two logs of about ``--mb`` megabytes into a temporary folder by
repeating the captured samples (file names varied per repetition, so the
findings stay distinct): a clippy ``--message-format=json`` log (one
document per line, progress lines between) and a ruff
``--output-format=json`` log (one pretty-printed array). Each case then runs
in a fresh subprocess, reading the log line by line from the file as the
Parser actor does, and reports wall and CPU time, MB/s and findings/s (per
CPU second, which a busy machine disturbs less than wall time) and the
peak resident memory of that process:

* ``parse_job``: the list of findings, exactly what the Parser gets;
* ``iter_findings``: the same findings streamed and only counted, which
  shows the parser's own memory without the result list;
* ``json.loads per line``: the floor asked for, a plain loop decoding every
  line (lines that are not JSON caught and skipped);
* ``json.load whole``: for the pretty-printed ruff log, decoding it as one
  document, the fastest possible read of it (and the memory that costs).

An idle subprocess that only imports the parsers gives the baseline memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples"
sys.path.insert(0, str(ROOT))


def build_clippy(path: Path, megabytes: int) -> None:
    """A clippy JSON log: the coloured sample repeated, paths varied."""
    lines = (
        (SAMPLES / "clippy" / "color.log").read_text(encoding="utf-8").splitlines(True)
    )
    target = megabytes * 1024 * 1024
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for i in range(10**9):
            for line in lines:
                text = line.replace("src/lib.rs", f"src/m{i}/lib.rs")
                out.write(text)
                written += len(text)
            if written >= target:
                return


def build_ruff(path: Path, megabytes: int) -> None:
    """A ruff JSON log: one pretty-printed array of the sample's elements."""
    sample = json.loads((SAMPLES / "ruff" / "check.log").read_text(encoding="utf-8"))
    target = megabytes * 1024 * 1024
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        first = True
        for i in range(10**9):
            for element in sample:
                element = dict(element, filename=f"/bench/pkg{i}/{element['filename']}")
                text = json.dumps(element, indent=2)
                text = ("" if first else ",\n") + "  " + text.replace("\n", "\n  ")
                first = False
                out.write(text)
                written += len(text)
            if written >= target:
                break
        out.write("\n]\n")


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        yield from handle


def run_case(case: str, path: Path, language: str, recipe: str) -> dict[str, float]:
    """Run one case in this process; return its measurements."""
    from crafting_table.parsers import ParseContext, iter_findings, parse_job

    ctx = ParseContext(language, recipe, 1, ".", Path("/bench"), lambda: _lines(path))
    started = time.perf_counter()
    cpu_started = time.process_time()
    count = 0
    if case == "parse_job":
        count = len(parse_job(ctx))
    elif case == "iter_findings":
        count = sum(1 for _ in iter_findings(ctx))
    elif case == "loads_lines":
        for line in _lines(path):
            try:
                json.loads(line)
                count += 1
            except ValueError:
                pass
    elif case == "load_whole":
        with path.open(encoding="utf-8") as handle:
            value = json.load(handle)
        count = len(value) if isinstance(value, list) else 1
    elif case != "idle":
        raise SystemExit(f"unknown case {case!r}")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": elapsed, "cpu": cpu, "count": count, "peak_mb": peak_kb / 1024}


def measure(case: str, path: Path, language: str, recipe: str) -> dict[str, float]:
    """Run one case in a fresh interpreter, so peak memory is its own."""
    answer = subprocess.run(
        [
            sys.executable,
            __file__,
            "--case",
            case,
            "--log",
            str(path),
            language,
            recipe,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(answer.stdout)
    return result


def main() -> int:
    """Build the logs, run every case, print a table."""
    parser = argparse.ArgumentParser(description="Benchmark the findings parsers.")
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help="keep the generated logs")
    parser.add_argument("--case")
    parser.add_argument("--log", type=Path)
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.case:
        language, recipe = args.rest
        print(json.dumps(run_case(args.case, args.log, language, recipe)))
        return 0

    folder = Path(tempfile.mkdtemp(prefix="bench-parsers-"))
    try:
        logs = {
            "clippy": (folder / "clippy.log", "rust", "lint", build_clippy),
            "ruff": (folder / "ruff.log", "python", "lint", build_ruff),
        }
        for path, _, _, build in logs.values():
            build(path, args.mb)
        idle = measure("idle", logs["clippy"][0], "rust", "lint")
        baseline = idle["peak_mb"]
        print(
            f"baseline: idle interpreter with the parsers imported, {baseline:.0f} MB"
        )
        header = (
            "log",
            "case",
            "MB",
            "wall s",
            "cpu s",
            "MB/s",
            "items",
            "items/s",
            "peak MB",
        )
        print("{:<7} {:<14} {:>5} {:>7} {:>6} {:>6} {:>7} {:>8} {:>8}".format(*header))
        for name, (path, language, recipe, _) in logs.items():
            size = path.stat().st_size / 1024 / 1024
            cases = ["parse_job", "iter_findings", "loads_lines"]
            if name == "ruff":
                cases.append("load_whole")
            for case in cases:
                m = measure(case, path, language, recipe)
                # Rates per CPU second: the machine may be busy with others.
                print(
                    f"{name:<7} {case:<14} {size:>5.0f} {m['seconds']:>7.2f}"
                    f" {m['cpu']:>6.2f} {size / m['cpu']:>6.1f} {m['count']:>7.0f}"
                    f" {m['count'] / m['cpu']:>8.0f} {m['peak_mb']:>8.0f}"
                )
    finally:
        if args.keep:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
