"""tsc diagnostics, plain and --pretty."""

from __future__ import annotations

import pytest

from tests.parsers.support import SRC, crlf, parse, places, sample_lines

APP = SRC / "ts" / "app"

EXPECTED = [
    ("lint", "src/main.ts", 6, "TS2339"),
    ("lint", "src/main.ts", 6, "TS2339"),
    ("lint", "src/main.ts", 9, "TS2322"),
    ("lint", "src/main.ts", 10, "TS2345"),
    ("lint", "src/main.ts", 10, "TS2304"),
    # A message chain on indented lines is one finding.
    ("lint", "src/main.ts", 11, "TS2322"),
    ("lint", "src/ünïcode.ts", 1, "TS7006"),
    ("lint", "../shared/util.ts", 2, "TS2322"),
]


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(sample_lines("tsc", "plain.log"), id="plain"),
        pytest.param(sample_lines("tsc", "pretty.log"), id="pretty-ansi"),
        pytest.param(crlf(sample_lines("tsc", "plain.log")), id="plain-crlf"),
    ],
)
def test_one_finding_per_header(lines: list[str]) -> None:
    findings = parse("typescript", "build", lines, exit_code=2, workdir=APP)
    assert places(findings) == EXPECTED
    assert [f.column for f in findings][:3] == [34, 40, 7]
    assert [f.outside for f in findings] == [False] * 7 + [True]
    assert findings[0].message == "Property 'z' does not exist on type 'Point'."


def test_pretty_log_has_colour_codes() -> None:
    assert any("\x1b[" in line for line in sample_lines("tsc", "pretty.log"))


def test_errors_without_a_place() -> None:
    log = ["error TS5083: Cannot read file '/w/tsconfig.json'.\n"]
    assert places(parse("typescript", "build", log)) == [("lint", None, None, "TS5083")]
