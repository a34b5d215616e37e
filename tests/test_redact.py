"""Masking secrets in whole texts and in streams split anywhere."""

from __future__ import annotations

import base64
import time
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crafting_table.auth import mint_bearer
from crafting_table.models import DigestFinding
from crafting_table.redact import BEARER_WINDOW, Masker, Redactor, redact_text

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


PREFIXED = ["secret12", "secret12-and-more"]
ENCODED = base64.b64encode(b"secret12").decode()
PIECES = [
    "secret12",
    "-and-more",
    ENCODED,
    ENCODED[:-2],
    ENCODED[-2:],
    base64.b64encode(b"u:secret12").decode(),
    "ct_",
    "c",
    "x",
    " ",
    "\n",
    mint_bearer()[:20],
    mint_bearer(),
]


@given(pieces=st.lists(st.sampled_from(PIECES), max_size=6))
def test_a_stream_fed_in_pieces_masks_as_the_whole_text(pieces: list[str]) -> None:
    # Within the bearer window, a stream is masked exactly as its whole
    # text: a secret that is the start of a longer one (a base64 fragment
    # and the full encoding too) waits for the longer one's end.
    text = "".join(pieces)
    assume(len(text) <= BEARER_WINDOW)
    masker = Masker(PREFIXED)

    out = [masker.feed(piece.encode()) for piece in pieces] + [masker.flush()]

    assert b"".join(out) == redact_text(text, PREFIXED).encode()


def test_masker_without_secrets_passes_through() -> None:
    masker = Masker([])

    assert masker.feed(b"x" * 10) == b"x" * 10
    assert masker.flush() == b""


BEARER = mint_bearer()


@given(cuts=st.lists(st.integers(min_value=0, max_value=90), max_size=6))
def test_stream_masks_bearers_it_was_never_told(cuts: list[int]) -> None:
    stream = f"token {BEARER}\nsee ct_docs and {BEARER}".encode()
    masker = Masker([])
    pieces = []
    last = 0
    for cut in sorted(set(min(c, len(stream)) for c in cuts)):
        pieces.append(masker.feed(stream[last:cut]))
        last = cut
    pieces.append(masker.feed(stream[last:]))
    pieces.append(masker.flush())

    out = b"".join(pieces)

    assert out == b"token ***\nsee ct_docs and ***"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"bearer {BEARER} leaked", "bearer *** leaked"),
        ("Authorization: Basic Ym90OnB3ZA==", "Authorization: Basic ***"),
        ("authorization=token abc.def-123", "authorization=token ***"),
        ("https://bot:pw@git.example.com/a.git", "https://***@git.example.com/a.git"),
        ("ssh://tok3n@host:22/r", "ssh://***@host:22/r"),
        (f"known {SECRET} value", "known *** value"),
        # Ordinary text that only looks close stays as it is.
        ("https://ct.example.com/jobs/06h4", "https://ct.example.com/jobs/06h4"),
        ("mail ops@example.com", "mail ops@example.com"),
        ("ct_short and a bearer token expired", "ct_short and a bearer token expired"),
    ],
    ids=[
        "bearer",
        "basic-header",
        "token-header",
        "url-userinfo",
        "ssh-userinfo",
        "known-value",
        "plain-url",
        "address",
        "words",
    ],
)
def test_redactor_masks_credentials_whatever_their_value(text: str, shown: str) -> None:
    assert Redactor([SECRET]).text(text) == shown


def test_a_long_run_of_url_characters_is_masked_in_linear_time() -> None:
    # Quadratic matching took seconds for these 40 000 characters (and
    # hours for a megabyte of a report's text), holding up the Parser.
    text = "ct_ " + "a-" * 20_000 + " https://bot:pw@h/ " + "x://" * 5_000
    started = time.perf_counter()

    masked = Redactor([]).text(text)

    assert time.perf_counter() - started < 1
    assert " https://***@h/ " in masked


def test_redactor_masks_every_string_of_a_model() -> None:
    finding = DigestFinding(
        id=1,
        kind="lint",
        severity="error",
        file=f"conf/{BEARER}.env",
        line=3,
        code=SECRET,
        message=f"see https://u:{SECRET}@h/",
        suggested_fix=None,
        fingerprint="0123456789abcdef",
        state="new",
    )

    masked = Redactor([SECRET]).model(finding)

    assert (masked.file, masked.code, masked.message) == (
        "conf/***.env",
        "***",
        "see https://***@h/",
    )
    assert masked.fingerprint == finding.fingerprint
