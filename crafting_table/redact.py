"""Masking secrets in text and in a stream of bytes.

A secret can reach a log in more shapes than its own: URL-encoded inside a
remote URL, or base64-encoded inside an ``Authorization: Basic`` header
that git prints with ``GIT_TRACE``. :func:`variants` lists the shapes;
:class:`Masker` replaces them in a byte stream even when a secret arrives
split across two writes, holding back only a tail that could still grow
into one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = b"***"
# Shorter values would mask ordinary words; no real token is this short.
MIN_SECRET_LENGTH = 6
# A base64 fragment shorter than this matches random text too often.
MIN_BASE64_FRAGMENT = 8


def _base64_fragments(secret: bytes) -> list[bytes]:
    """The base64 characters that depend only on ``secret``, at each alignment.

    Inside a longer encoded string the secret starts at byte offset 0, 1 or
    2 modulo 3; each offset gives a different encoding, of which only the
    characters whose six bits all come from the secret are predictable.
    """
    fragments = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret)
        start = -(-8 * offset // 6)
        end = (8 * (offset + len(secret)) - 6) // 6
        fragment = encoded[start : end + 1]
        if len(fragment) >= MIN_BASE64_FRAGMENT:
            fragments.append(fragment)
    return fragments


def variants(secrets: Iterable[str]) -> list[bytes]:
    """Every byte string to mask for ``secrets``, longest first."""
    found: set[bytes] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        raw = secret.encode("utf-8")
        found.add(raw)
        found.add(quote(secret, safe="").encode("ascii"))
        found.add(quote_plus(secret, safe="").encode("ascii"))
        found.add(base64.b64encode(raw))
        found.update(_base64_fragments(raw))
    return sorted(found, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every shape of every secret replaced by ``***``."""
    shapes = variants(secrets)
    if not shapes:
        return text
    data = text.encode("utf-8", "surrogateescape")
    pattern = re.compile(b"|".join(re.escape(v) for v in shapes))
    return pattern.sub(MASK, data).decode("utf-8", "surrogateescape")


class Masker:
    """Masks secrets in a byte stream fed in arbitrary pieces.

    :meth:`feed` returns what is safe to write now; :meth:`flush` returns
    the held-back tail at the end of the stream. Output equals
    ``redact_text`` of the whole stream, however it was split.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._shapes = variants(secrets)
        self._pattern = (
            re.compile(b"|".join(re.escape(v) for v in self._shapes))
            if self._shapes
            else None
        )
        self._longest = max((len(v) for v in self._shapes), default=0)
        self._carry = b""

    def mask(self, data: bytes) -> bytes:
        """``data`` masked as a whole, apart from the stream."""
        return self._pattern.sub(MASK, data) if self._pattern else data

    @property
    def active(self) -> bool:
        """False when there is nothing to mask (the stream passes through)."""
        return self._pattern is not None

    def feed(self, data: bytes | bytearray) -> bytes:
        """Mask ``data`` (after any held-back tail); return the safe part."""
        if self._pattern is None:
            return bytes(data)
        buffer = self._pattern.sub(MASK, self._carry + data)
        hold = self._holdback(buffer)
        self._carry = buffer[len(buffer) - hold :] if hold else b""
        return buffer[: len(buffer) - hold]

    def flush(self) -> bytes:
        """The held-back tail; call once at the end of the stream."""
        tail, self._carry = self._carry, b""
        return tail

    def _holdback(self, buffer: bytes) -> int:
        # The longest suffix of the buffer that is a proper prefix of some
        # shape: those bytes might be the start of a secret whose rest is
        # still in the pipe.
        window = buffer[-(self._longest - 1) :] if self._longest > 1 else b""
        for size in range(len(window), 0, -1):
            suffix = window[-size:]
            if any(shape.startswith(suffix) for shape in self._shapes):
                return size
        return 0
