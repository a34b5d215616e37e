"""ShellCheck: json, json1 and the terminal format."""

from __future__ import annotations

import pytest

from tests.parsers.support import SRC, crlf, parse, places, sample_lines

SH = SRC / "sh"

DEPLOY = [
    ("lint", "bin/deploy.sh", 3, "SC2035"),
    ("lint", "bin/deploy.sh", 5, "SC2086"),
    ("lint", "bin/deploy.sh", 5, "SC2086"),
    ("lint", "bin/deploy.sh", 7, "SC2034"),
    ("lint", "bin/deploy.sh", 8, "SC2116"),
    ("lint", "bin/deploy.sh", 8, "SC2086"),
]
DOS = [
    ("lint", "dos.sh", 1, "SC1017"),
    ("lint", "dos.sh", 2, "SC1017"),
    ("lint", "dos.sh", 3, "SC2086"),
    ("lint", "dos.sh", 3, "SC1017"),
    ("lint", "dos.sh", 4, "SC1017"),
    ("lint", "dos.sh", 5, "SC1017"),
]
SKRIPT = [
    ("lint", "bin/skript-ä.sh", 2, "SC2164"),
    ("lint", "bin/skript-ä.sh", 3, "SC2086"),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("json.log", SKRIPT + DOS + DEPLOY, id="json"),
        pytest.param("json1.log", SKRIPT + DEPLOY, id="json1"),
        pytest.param("tty.log", DEPLOY + DOS + SKRIPT, id="tty-with-raw-cr"),
    ],
)
def test_formats(name: str, expected: list[tuple[str, str, int, str]]) -> None:
    findings = parse("shell", "lint", sample_lines("shellcheck", name), workdir=SH)
    assert places(findings) == expected


def test_tty_columns_and_levels() -> None:
    findings = parse("shell", "lint", sample_lines("shellcheck", "tty.log"), workdir=SH)
    deploy = [(f.column, f.severity) for f in findings[:6]]
    # style has no equivalent among our severities: it is info.
    assert deploy == [
        (12, "info"),
        (6, "info"),
        (9, "info"),
        (1, "warning"),
        (13, "info"),
        (20, "info"),
    ]


def test_tty_log_with_crlf_line_ends() -> None:
    findings = parse(
        "shell", "lint", crlf(sample_lines("shellcheck", "tty.log")), workdir=SH
    )
    assert places(findings) == DEPLOY + DOS + SKRIPT


def test_gcc_format() -> None:
    log = ["bin/a.sh:3:7: note: Double quote to prevent globbing. [SC2086]\n"]
    findings = parse("shell", "lint", log)
    assert places(findings) == [("lint", "bin/a.sh", 3, "SC2086")]
    assert findings[0].severity == "info"
