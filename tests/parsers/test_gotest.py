"""go test output: plain, -v and -json."""

from __future__ import annotations

import pytest

from tests.parsers.support import SRC, crlf, parse, sample_lines

GOTESTS = SRC / "go" / "gotests"

CALC = [
    ("example.com/gotests/calc.TestAdd", None, None),
    # The parent TestTable failed only through its subtest.
    ("example.com/gotests/calc.TestTable/bad", None, None),
]
PANIC = [("example.com/gotests.TestPanics", "main_test.go", 7)]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(sample_lines("gotest", "plain.log"), PANIC + CALC, id="plain"),
        pytest.param(sample_lines("gotest", "verbose.log"), PANIC + CALC, id="verbose"),
        pytest.param(
            crlf(sample_lines("gotest", "plain.log")), PANIC + CALC, id="crlf"
        ),
        pytest.param(sample_lines("gotest", "json.log"), CALC, id="json"),
    ],
)
def test_failed_tests(
    lines: list[str], expected: list[tuple[str, str | None, int | None]]
) -> None:
    findings = parse("go", "test", lines, workdir=GOTESTS)
    assert [(f.raw["test_id"], f.file, f.line) for f in findings] == expected
    assert {f.kind for f in findings} == {"test_fail"}


def test_messages_carry_the_printed_place() -> None:
    findings = parse("go", "test", sample_lines("gotest", "plain.log"), workdir=GOTESTS)
    assert findings[0].message.startswith(
        "example.com/gotests.TestPanics: panic: assignment to entry in nil map"
    )
    assert findings[1].message == (
        "example.com/gotests/calc.TestAdd: Add(2, 2) = 0, want 4 (calc_test.go:7)"
    )


def test_passing_verbose_output_is_not_a_failure() -> None:
    log = [
        "=== RUN   TestOk\n",
        "    ok_test.go:3: just logging\n",
        "--- PASS: TestOk (0.00s)\n",
        "ok  \texample.com/m\t0.01s\n",
    ]
    assert parse("go", "test", log, exit_code=0) == []


def test_build_failure_in_a_test_recipe() -> None:
    log = [
        "# example.com/m\n",
        "./main.go:6:14: undefined: x\n",
        "FAIL\texample.com/m [build failed]\n",
    ]
    findings = parse("go", "test", log)
    assert [(f.kind, f.file, f.line, f.code) for f in findings] == [
        ("lint", "main.go", 6, "typecheck")
    ]
