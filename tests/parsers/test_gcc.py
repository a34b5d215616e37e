"""GCC and Clang diagnostics, and swiftc's in the same format."""

from __future__ import annotations

import pytest

from crafting_table.parsers.gcc import option_code
from tests.parsers.support import SRC, crlf, parse, places, sample_lines

WORKDIR = SRC / "c" / "warned"


def test_cmake_ninja_build_warnings_and_errors() -> None:
    findings = parse(
        "c", "lint", sample_lines("gcc", "cmake-ninja.log"), workdir=WORKDIR
    )

    assert places(findings) == [
        ("lint", "util.c", 2, "-Wparentheses"),
        ("lint", "calc.c", 4, "-Wunused-variable"),
        ("lint", "calc.c", 10, "-Wsign-compare"),
        ("lint", "calc.c", 11, "-Wformat="),
        ("lint", "calc.c", 8, "-Wunused-parameter"),
        ("lint", "shapes.cpp", 10, None),
    ]
    assert [f.severity for f in findings] == ["warning"] * 5 + ["error"]
    assert [f.column for f in findings] == [9, 9, 14, 18, 27, 12]
    # GCC quotes names with typographic quotes in a UTF-8 locale.
    assert findings[1].message == "unused variable \u2018unused\u2019"
    assert all(f.tool == "gcc" for f in findings)


def test_crlf_log_reads_the_same() -> None:
    lines = sample_lines("gcc", "cmake-ninja.log")

    plain = parse("cpp", "build", lines, workdir=WORKDIR)
    windows = parse("cpp", "build", crlf(lines), workdir=WORKDIR)

    assert places(windows) == places(plain)


def test_clang_lines_without_column_and_repeats() -> None:
    # Clang's wording, a header's warning seen from two files, a note and a
    # linker error (no place), as a recipe's log shows them.
    lines = [
        "src/a.c:3:7: error: unused variable 'x' [-Werror,-Wunused-variable]\n",
        "include/defs.h:2:9: warning: 'MAX' macro redefined [-Wmacro-redefined]\n",
        "include/defs.h:1:9: note: previous definition is here\n",
        "include/defs.h:2:9: warning: 'MAX' macro redefined [-Wmacro-redefined]\n",
        'src/b.c:5: warning: "MIN" redefined\n',
        "src/b.c:9:1: fatal error: 'missing.h' file not found\n",
        "/usr/bin/ld: b.o: in function `main': undefined reference to `f'\n",
    ]

    findings = parse("cpp", "build", lines)

    assert places(findings) == [
        ("lint", "src/a.c", 3, "-Wunused-variable"),
        ("lint", "include/defs.h", 2, "-Wmacro-redefined"),
        ("lint", "src/b.c", 5, None),
        ("lint", "src/b.c", 9, None),
    ]
    assert [f.severity for f in findings] == ["error", "warning", "warning", "error"]
    assert findings[2].column is None


def test_swift_compiler_errors() -> None:
    lines = [
        "/work/project/Sources/App/main.swift:4:9: error: cannot find 'y' in scope\n"
    ]

    findings = parse("swift", "build", lines)

    assert places(findings) == [("lint", "Sources/App/main.swift", 4, None)]


def test_not_read_for_audit_or_other_languages() -> None:
    lines = sample_lines("gcc", "cmake-ninja.log")

    assert places(parse("c", "audit", lines)) == [("recipe_fail", None, None, "exit_1")]
    assert "gcc" not in {f.tool for f in parse("go", "build", lines)}


@pytest.mark.parametrize(
    ("option", "code"),
    [
        ("-Wunused-variable", "-Wunused-variable"),
        ("-Werror=unused-variable", "-Wunused-variable"),
        ("-Werror,-Wunused-variable", "-Wunused-variable"),
        ("-Werror", None),
        (None, None),
    ],
    ids=["plain", "gcc-werror", "clang-werror", "bare-werror", "none"],
)
def test_option_code(option: str | None, code: str | None) -> None:
    assert option_code(option) == code
