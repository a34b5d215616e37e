"""Choosing the finding the patch loop works on."""

from __future__ import annotations

import pytest

from crafting_table.ledger.findings import FindingRow
from crafting_table.patchpick import actionable, choose
from tests.patch_rows import finding


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(finding(1), True, id="lint"),
        pytest.param(finding(1, line=None), False, id="lint-without-line"),
        pytest.param(finding(1, file=None), False, id="lint-without-file"),
        pytest.param(finding(1, outside=True), False, id="lint-outside"),
        pytest.param(finding(1, "cve", suggested_fix="bump to 2.0"), True, id="cve"),
        pytest.param(finding(1, "cve"), False, id="cve-without-fix"),
        pytest.param(finding(1, "test_fail"), False, id="test-fail"),
        pytest.param(finding(1, "recipe_fail"), False, id="recipe-fail"),
    ],
)
def test_actionable(row: FindingRow, expected: bool) -> None:
    assert actionable(row) is expected


@pytest.mark.parametrize(
    ("rows", "attempts", "skip", "expected"),
    [
        pytest.param(
            [finding(1, severity="info"), finding(2, severity="error")],
            {},
            (),
            2,
            id="error-first",
        ),
        pytest.param(
            [
                finding(1, severity="warning"),
                finding(2, "cve", severity="warning", suggested_fix="bump"),
            ],
            {},
            (),
            2,
            id="cve-before-lint",
        ),
        pytest.param(
            [
                finding(1, severity="info"),
                finding(2, "cve", severity=None, suggested_fix="bump"),
            ],
            {},
            (),
            2,
            id="cve-without-severity-outranks-info",
        ),
        pytest.param(
            [finding(1, severity="error"), finding(2, severity="warning")],
            {1: 3},
            (),
            2,
            id="exhausted-skipped",
        ),
        pytest.param(
            [finding(1, severity="error"), finding(2, severity="warning")],
            {},
            ("i1",),
            2,
            id="settled-identity-skipped",
        ),
        pytest.param(
            [finding(1, "test_fail", severity="error")], {}, (), None, id="none"
        ),
        pytest.param([finding(3), finding(2)], {}, (), 2, id="tool-order-breaks-ties"),
    ],
)
def test_choose(
    rows: list[FindingRow],
    attempts: dict[int, int],
    skip: tuple[str, ...],
    expected: int | None,
) -> None:
    chosen = choose(rows, attempts=attempts, max_attempts=3, skip_identities=skip)

    assert (chosen.id if chosen else None) == expected
