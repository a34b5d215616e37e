"""Masking secrets in text and in a stream of bytes.

A secret can reach a log in more shapes than its own: URL-encoded inside a
remote URL, or base64-encoded inside an ``Authorization: Basic`` header
that git prints with ``GIT_TRACE``. :func:`variants` lists the shapes;
:class:`Masker` replaces them in a byte stream even when a secret arrives
split across two writes, holding back only a tail that could still grow
into one.

Some secrets the service cannot list: the bearers of its tokens (the
ledger keeps only their hashes) and the credentials in any URL a tool
prints. Bearers have a shape of their own, which the stream masks too.
:class:`Redactor` adds Authorization values and URL userinfo, in text and
in every string of a pydantic model or JSON value, for what is shown
outside a job's own log (findings, the digest).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from pydantic import BaseModel

from crafting_table.auth import BEARER_PREFIX

MASK = b"***"
# Shorter values would mask ordinary words; no real token is this short.
MIN_SECRET_LENGTH = 6
# A base64 fragment shorter than this matches random text too often.
MIN_BASE64_FRAGMENT = 8

# A bearer is the prefix and 43 URL-safe characters; 32 of them already
# rule out words and identifiers that merely start with the prefix.
_BEARER = re.compile(re.escape(BEARER_PREFIX.encode("ascii")) + rb"[A-Za-z0-9_-]{32,}")
# How far back the stream looks for the start of a bearer; a bearer is 46
# bytes.
BEARER_WINDOW = 128
# The end of a stream piece that may still grow into a bearer: the prefix
# and some of its characters, or a proper start of the prefix.
_BEARER_TAIL = re.compile(
    b"(?:"
    + re.escape(BEARER_PREFIX.encode("ascii"))
    + b"[A-Za-z0-9_-]*|"
    + b"|".join(
        re.escape(BEARER_PREFIX[:size].encode("ascii"))
        for size in range(len(BEARER_PREFIX) - 1, 0, -1)
    )
    + b")\\Z"
)
# The value of an Authorization header, whatever its scheme.
_AUTHORIZATION = re.compile(
    r"(?i)(\bauthorization\s*[:=]\s*(?:bearer|basic|token)\s+)[^\s\"'<>,;]+"
)
# The userinfo of a URL: 'scheme://user:password@host' or 'scheme://token@host'.
# The scheme is bounded and the userinfo possessive: an open-ended scheme
# started after a word boundary made every '-' or '.' of a long run such
# as 'a-a-a-...' a new start that read to the run's end, quadratic in a
# report's text. A longer scheme is matched by its last 32 characters,
# which mask the same userinfo.
_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]{0,31}://)[^/\s@\"'<>]++@")
_MASK = MASK.decode()

M = TypeVar("M", bound=BaseModel)


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
    """``text`` with every shape of every secret, and every bearer, masked."""
    data = Masker(secrets).mask(text.encode("utf-8", "surrogateescape"))
    return data.decode("utf-8", "surrogateescape")


class Masker:
    """Masks secrets and bearers in a byte stream fed in arbitrary pieces.

    :meth:`feed` returns what is safe to write now; :meth:`flush` returns
    the held-back tail at the end of the stream. Output equals
    ``redact_text`` of the whole stream, however it was split, but for a
    bearer-shaped run longer than :data:`BEARER_WINDOW` (no bearer is that
    long): it may be masked in two pieces, or its end past a cut left as
    it is.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._shapes = variants(secrets)
        self._pattern = (
            re.compile(b"|".join(re.escape(v) for v in self._shapes))
            if self._shapes
            else None
        )
        self._longest = max((len(v) for v in self._shapes), default=0)
        # Raw bytes that may still become a shape, and masked ones that
        # may still become a bearer: two stages, as redact_text masks.
        self._carry = b""
        self._bearer_carry = b""

    @property
    def shapes(self) -> list[bytes]:
        """Every byte string masked for the secrets, longest first."""
        return self._shapes

    def mask(self, data: bytes) -> bytes:
        """``data`` masked as a whole, apart from the stream."""
        if self._pattern is not None:
            data = self._pattern.sub(MASK, data)
        return _BEARER.sub(MASK, data)

    def feed(self, data: bytes | bytearray) -> bytes:
        """Mask ``data`` (after any held-back tail); return the safe part."""
        buffer = self._carry + data
        cut, masked = self._mask_settled(buffer)
        self._carry = buffer[cut:]
        return self._bearers(masked)

    def flush(self) -> bytes:
        """The held-back tail; call once at the end of the stream."""
        tail, self._carry = self._carry, b""
        if self._pattern is not None:
            tail = self._pattern.sub(MASK, tail)
        rest, self._bearer_carry = self._bearer_carry + tail, b""
        return _BEARER.sub(MASK, rest)

    def _mask_settled(self, buffer: bytes) -> tuple[int, bytes]:
        """Mask the shapes whose match no later byte can change.

        Returns where the settled part ends and that part masked. A match
        is settled when it starts before the held-back tail: masking the
        whole buffer first would mask a shape that is the start of a
        longer one (a base64 fragment, the full encoding) and let the
        longer one's last characters through.
        """
        if self._pattern is None:
            return len(buffer), buffer
        settled = len(buffer) - self._shape_tail(buffer)
        parts = []
        done = 0
        for match in self._pattern.finditer(buffer):
            if match.start() >= settled:
                break
            parts += [buffer[done : match.start()], MASK]
            done = match.end()
        cut = max(done, settled)
        parts.append(buffer[done:cut])
        return cut, b"".join(parts)

    def _shape_tail(self, buffer: bytes) -> int:
        # The longest suffix of the buffer that is a proper prefix of some
        # shape: those bytes might be the start of a secret whose rest is
        # still in the pipe.
        window = buffer[-(self._longest - 1) :] if self._longest > 1 else b""
        for size in range(len(window), 0, -1):
            suffix = window[-size:]
            if any(shape.startswith(suffix) for shape in self._shapes):
                return size
        return 0

    def _bearers(self, data: bytes) -> bytes:
        buffer = self._bearer_carry + data
        # Only the last BEARER_WINDOW bytes are searched for a tail that
        # may grow into a bearer, so that a long run of URL-safe
        # characters is neither held back whole nor searched again and
        # again as it grows.
        tail = _BEARER_TAIL.search(buffer, max(len(buffer) - BEARER_WINDOW, 0))
        hold = len(buffer) - tail.start() if tail else 0
        self._bearer_carry = buffer[len(buffer) - hold :]
        return _BEARER.sub(MASK, buffer[: len(buffer) - hold])


class Redactor:
    """Masks known secrets and credential-shaped text in what is shown.

    Known values go in every shape :func:`variants` lists; bearers,
    Authorization header values and URL userinfo go whatever their value.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._masker = Masker(secrets)
        # One search tells whether a text can hold anything to mask: most
        # texts (a finding's file, code, message) hold nothing, and four
        # substitutions each would cost more than parsing them did.
        hints = [re.escape(shape.decode("utf-8")) for shape in self._masker.shapes]
        hints += [re.escape(BEARER_PREFIX), "@", "(?i:authorization)"]
        self._hint = re.compile("|".join(hints))

    def text(self, value: str) -> str:
        """``value`` with every secret and credential masked."""
        if not self._hint.search(value):
            return value
        data = self._masker.mask(value.encode("utf-8", "surrogateescape"))
        text = data.decode("utf-8", "surrogateescape")
        text = _AUTHORIZATION.sub(rf"\g<1>{_MASK}", text)
        return _USERINFO.sub(rf"\g<1>{_MASK}@", text)

    def model(self, model: M) -> M:
        """A copy of ``model`` with :meth:`text` applied to every string in it."""
        return type(model).model_validate(self.value(model.model_dump()))

    def value(self, value: Any) -> Any:
        """A JSON-like ``value`` with :meth:`text` applied to every string."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value
