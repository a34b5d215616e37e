"""The Parser's view of a log: lines, with a bound on what one line costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import parser


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounds of a few bytes, so that the test files stay tiny."""
    monkeypatch.setattr(parser, "READ_CHUNK", 8)
    monkeypatch.setattr(parser, "MAX_TEXT_LINE", 16)
    monkeypatch.setattr(parser, "MAX_JSON_LINE", 64)


def lines(path: Path, content: bytes) -> list[str]:
    path.write_bytes(content)
    return list(parser._log_source(path)())


@pytest.mark.usefixtures("small_bounds")
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"a\nb\n", ["a\n", "b\n"], id="short"),
        pytest.param(
            b"x" * 100 + b"\nnext\n", ["x" * 16 + "\n", "next\n"], id="long-text"
        ),
        pytest.param(
            b"[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nnext\n",
            ["[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", "next\n"],
            id="json-kept",
        ),
        pytest.param(
            b"{" + b"1" * 100 + b"\n", ["{" + "1" * 63 + "\n"], id="json-capped"
        ),
        pytest.param(b"last-no-newline", ["last-no-newline"], id="no-final-newline"),
        pytest.param("h\u00e9\n".encode(), ["h\u00e9\n"], id="utf-8"),
        pytest.param(b"\xff\xfe\n", ["\ufffd\ufffd\n"], id="garbage"),
    ],
)
def test_lines_are_bounded(tmp_path: Path, content: bytes, expected: list[str]) -> None:
    assert lines(tmp_path / "log", content) == expected


def test_missing_log_has_no_lines(tmp_path: Path) -> None:
    assert list(parser._log_source(tmp_path / "none")()) == []
