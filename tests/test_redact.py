"""Masking secrets in whole texts and in streams split anywhere."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crafting_table.redact import Masker, redact_text

SECRET = "gt_4f9a8b7c6d5e+/x"


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(SECRET, id="raw"),
        pytest.param(quote(SECRET, safe=""), id="url-encoded"),
        pytest.param(base64.b64encode(SECRET.encode()).decode(), id="base64"),
        pytest.param(
            base64.b64encode(f"x-access-token:{SECRET}".encode()).decode(),
            id="basic-auth",
        ),
        pytest.param(base64.b64encode(f"ab:{SECRET}".encode()).decode(), id="offset-2"),
    ],
)
def test_every_shape_is_masked(shape: str) -> None:
    text = f"before {shape} after"

    masked = redact_text(text, [SECRET])

    assert SECRET not in masked
    assert shape not in masked
    assert masked.startswith("before ")
    assert masked.endswith(" after")


def test_short_values_are_not_masked() -> None:
    assert redact_text("a b c", ["b"]) == "a b c"


@given(cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=8))
def test_stream_masks_however_it_is_split(cuts: list[int]) -> None:
    stream = (
        f"token={SECRET} url=https://u:{quote(SECRET, safe='')}@h/ "
        f"hdr={base64.b64encode(('u:' + SECRET).encode()).decode()} end"
    ).encode()
    masker = Masker([SECRET])
    pieces = []
    last = 0
    for cut in sorted(set(min(c, len(stream)) for c in cuts)):
        pieces.append(masker.feed(stream[last:cut]))
        last = cut
    pieces.append(masker.feed(stream[last:]))
    pieces.append(masker.flush())

    out = b"".join(pieces)

    assert out == redact_text(stream.decode(), [SECRET]).encode()
    assert SECRET.encode() not in out


def test_masker_without_secrets_passes_through() -> None:
    masker = Masker([])

    assert masker.feed(b"x" * 10) == b"x" * 10
    assert not masker.active
