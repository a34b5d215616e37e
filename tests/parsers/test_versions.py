"""Picking the smallest fixed version."""

from __future__ import annotations

import pytest

from crafting_table.parsers.versions import lower_bounds, smallest_above, version_key


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        pytest.param("1.9", "1.10", id="numeric-not-textual"),
        pytest.param("1.0.0-rc.1", "1.0.0", id="pre-release-first"),
        pytest.param("2.0b1", "2.0", id="python-pre-release"),
        pytest.param("v1.6.6", "v1.9.3", id="go-v-prefix"),
    ],
)
def test_version_order(smaller: str, larger: str) -> None:
    assert version_key(smaller) < version_key(larger)


def test_trailing_zeros_are_equal() -> None:
    assert version_key("1.2") == version_key("1.2.0")


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        pytest.param([">=0.16.3"], ["0.16.3"], id="cargo-lower-bound"),
        pytest.param([">=1.8.1, <1.9.0", ">=1.9.1"], ["1.8.1", "1.9.1"], id="ranges"),
        pytest.param(["^0.9.8"], ["0.9.8"], id="caret"),
        pytest.param(["<1.0", ">2.0"], [], id="no-inclusive-lower-bound"),
    ],
)
def test_lower_bounds(requirements: list[str], expected: list[str]) -> None:
    assert lower_bounds(requirements) == expected


@pytest.mark.parametrize(
    ("candidates", "installed", "expected"),
    [
        pytest.param(["2.32.0", "2.31.0"], "2.25.0", "2.31.0", id="smallest"),
        pytest.param(["1.8.1", "1.9.1"], "1.9.0", "1.9.1", id="above-installed"),
        pytest.param(["1.0"], "2.0", "1.0", id="none-above-falls-back"),
        pytest.param([], "1.0", None, id="no-candidates"),
    ],
)
def test_smallest_above(
    candidates: list[str], installed: str, expected: str | None
) -> None:
    assert smallest_above(candidates, installed) == expected
