"""Paths printed by tools, relative to the recipe's folder."""

from __future__ import annotations

import pytest

from crafting_table.parsers.paths import relative_to_workdir


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/w/p/src/a.py", ("src/a.py", False), id="absolute-inside"),
        pytest.param(
            "/w/p/./src/../src/a.py", ("src/a.py", False), id="absolute-unnormalised"
        ),
        pytest.param("/w/p", (".", False), id="the-workdir-itself"),
        pytest.param(
            "/w/pp/a.py", ("/w/pp/a.py", True), id="sibling-with-common-prefix"
        ),
        pytest.param(
            "/usr/lib/python3/x.py",
            ("/usr/lib/python3/x.py", True),
            id="absolute-outside",
        ),
        pytest.param("src/a.py", ("src/a.py", False), id="relative"),
        pytest.param("./src/a.py", ("src/a.py", False), id="dot-relative"),
        pytest.param(
            "../shared/u.ts", ("../shared/u.ts", True), id="relative-escaping"
        ),
        pytest.param("file:///w/p/src/a%20b.py", ("src/a b.py", False), id="file-uri"),
        pytest.param("/w/p/ünï/é.py", ("ünï/é.py", False), id="non-ascii"),
    ],
)
def test_relative_to_workdir(path: str, expected: tuple[str, bool]) -> None:
    assert relative_to_workdir(path, "/w/p") == expected


def test_trailing_slash_on_workdir() -> None:
    assert relative_to_workdir("/w/p/a.py", "/w/p/") == ("a.py", False)
