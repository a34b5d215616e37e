"""The Parser's view of a log: lines, with a bound on what one line costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import parser
from crafting_table.joblog import PREFIX


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


@pytest.mark.usefixtures("small_bounds")
def test_service_lines_are_not_the_recipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads just longer than the prefix, so a long service line spans several.
    monkeypatch.setattr(parser, "READ_CHUNK", len(PREFIX) + 3)
    content = (
        b"[crafting-table] $ cat > r.sarif <<'EOF'\n"
        b'[crafting-table] {"runs": [' + b" " * 100 + b"]}\n"
        b"[crafting-table] EOF\n"
        b"out\n"
        b"[crafting-table]no-space\n"
        b" [crafting-table] indented\n"
        b"[crafting-table] failed exit 1"
    )

    assert lines(tmp_path / "log", content) == [
        "out\n",
        "[crafting-table]no-space\n",
        " [crafting-table] indented\n",
    ]


def test_missing_log_has_no_lines(tmp_path: Path) -> None:
    assert list(parser._log_source(tmp_path / "none")()) == []
