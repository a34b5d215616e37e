"""Find the JSON documents in a terminal log, one line at a time.

A recipe's log interleaves a tool's JSON with everything else the terminal
showed: progress lines, colour codes, carriage-return redraws, warnings on
stderr. :func:`scan` turns the log's lines into a stream of events, each
either a :class:`Document` (a decoded JSON value) or a ``str`` (a text line,
cleaned of colour codes and line ends)::

    for event in scan(ctx.log()):
        if isinstance(event, Document):
            ...  # event.value is a dict, list, ...
        else:
            ...  # a text line

What it recognises:

* one document per line (NDJSON: clippy, mypy), several on one line;
* pretty-printed documents spread over many lines (govulncheck, go vet,
  npm audit), found by indentation: a document that opens on a line of its
  own closes on a line at the same indentation;
* a top-level array is never held whole: each element is yielded as its own
  ``Document`` with ``in_array`` set, so a 100 MB ruff or eslint report
  costs the memory of one element (for pretty-printed arrays) or of one line
  (for single-line arrays);
* text lines printed into the middle of a pretty-printed document (stderr
  interleaved with stdout) are yielded as text without breaking the
  document.

Memory stays flat: only the lines of the one document being read are kept,
up to ``max_document`` characters, past which the document is given up and
its lines are yielded as text. Nothing here raises on bad input: a document
that is cut off (a killed job) or is not JSON after all comes out as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_DOCUMENT", "MAX_TEXT_LINE", "Document", "clean_line", "scan"]

MAX_DOCUMENT = 64 * 1024 * 1024
"""Characters of one multi-line document kept before it is given up."""

MAX_TEXT_LINE = 64 * 1024
"""Text lines are cut to this length: no tool's human output needs more,
and line-oriented regular expressions stay cheap on binary garbage."""

# CSI sequences (colours, cursor moves), OSC sequences (titles, hyperlinks)
# and the two-character escapes; what a terminal would not show.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]"
)

# The first character of a line inside a pretty-printed document: a key or
# string, a nested value, a closer, a number or a literal. A line starting
# with anything else was printed by someone else in the middle of it.
_JSON_LINE_STARTS = frozenset('"{}[]-0123456789tfn,')

_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Document:
    """One JSON value found in the log.

    ``in_array`` is set when the value is an element of a top-level array,
    which is never yielded whole.
    """

    value: Any
    in_array: bool = False


def clean_line(raw: str) -> str:
    """Return the line as a terminal would leave it.

    The line end (LF, CRLF, stray CRs) goes, a carriage-return redraw keeps
    only what was drawn last, and colour and cursor codes are removed.
    """
    line = raw.rstrip("\r\n")
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    if "\r" in line:
        line = line[line.rfind("\r") + 1 :]
    return line


def _incomplete(text: str, error: json.JSONDecodeError) -> bool:
    """True when decoding failed only because the text stopped too early."""
    return error.pos >= len(text.rstrip())


def _decode_at(text: str, start: int) -> tuple[Any, int] | json.JSONDecodeError:
    try:
        return _decoder.raw_decode(text, start)
    except json.JSONDecodeError as error:
        return error
    except RecursionError:
        # Absurdly deep nesting is not any tool's output.
        return json.JSONDecodeError("nesting too deep", text, start)


def _documents(value: Any) -> Iterator[Document]:
    if isinstance(value, list):
        for item in value:
            yield Document(item, in_array=True)
    else:
        yield Document(value)


class _Scanner:
    """The state between lines; :func:`scan` drives it."""

    def __init__(self, max_document: int) -> None:
        self.max_document = max_document
        # The document (or array element) being read: its lines, the
        # indentation of its first line and whether it is an element.
        self.pending: list[str] | None = None
        self.pending_indent = 0
        self.pending_size = 0
        self.pending_item = False
        self.pending_deeper: tuple[str, ...] = ()
        # Indentation of the '[' of a pretty-printed top-level array we are
        # inside, or None.
        self.array_indent: int | None = None

    # -- text outside any document ------------------------------------

    def idle(self, line: str) -> Iterator[Document | str]:
        """A line (or the rest of one) outside any document."""
        body = line.lstrip()
        if not body or body[0] not in "{[":
            yield line[:MAX_TEXT_LINE]
            return
        indent = len(line) - len(body)
        if body.rstrip() == "[":
            self.array_indent = indent
            return
        if body.rstrip() == "{":
            self.begin(line, indent, item=False)
            return
        start = indent
        while True:
            result = _decode_at(line, start)
            if isinstance(result, json.JSONDecodeError):
                if start == indent and _incomplete(line, result):
                    self.begin(line, indent, item=False)
                elif start == indent:
                    yield line[:MAX_TEXT_LINE]
                else:
                    yield line[start:][:MAX_TEXT_LINE]
                return
            value, end = result
            yield from _documents(value)
            rest = line[end:].lstrip()
            if not rest:
                return
            start = len(line) - len(rest)
            if rest[0] not in "{[":
                yield rest[:MAX_TEXT_LINE]
                return

    # -- a pretty-printed top-level array ------------------------------

    def in_array(self, line: str, body: str, indent: int) -> Iterator[Document | str]:
        assert self.array_indent is not None
        if indent <= self.array_indent:
            if body[0] == "]" and indent == self.array_indent:
                self.array_indent = None
                rest = body[1:].lstrip()
                if rest:
                    yield from self.idle(rest)
                return
            if body[0] in "{[":
                # A new document where the array should go on: the array
                # was cut off.
                self.array_indent = None
                yield from self.idle(line)
                return
            yield line[:MAX_TEXT_LINE]
            return
        yield from self.item(line, body, indent)

    def item(self, line: str, body: str, indent: int) -> Iterator[Document | str]:
        """The start of an array element (the rest of the line after it)."""
        if body[0] not in _JSON_LINE_STARTS:
            yield line[:MAX_TEXT_LINE]
            return
        if body in ("{", "["):
            # The usual pretty-printed element: nothing to decode yet.
            self.begin(line, indent, item=True)
            return
        result = _decode_at(line, indent)
        if isinstance(result, json.JSONDecodeError):
            if _incomplete(line, result) and body[0] in "{[":
                self.begin(line, indent, item=True)
            else:
                yield line[:MAX_TEXT_LINE]
            return
        value, end = result
        yield Document(value, in_array=True)
        yield from self.after_item(line[end:])

    def after_item(self, rest: str) -> Iterator[Document | str]:
        rest = rest.strip().removeprefix(",").lstrip()
        if not rest:
            return
        if rest[0] == "]":
            self.array_indent = None
            rest = rest[1:].lstrip()
            if rest:
                yield from self.idle(rest)
            return
        yield from self.item(rest, rest, 0)

    # -- a document spread over several lines --------------------------

    def begin(self, line: str, indent: int, *, item: bool) -> None:
        self.pending = [line]
        self.pending_indent = indent
        self.pending_size = len(line)
        self.pending_item = item
        # How every line inside a pretty-printed document starts: the first
        # line's indentation and one more blank (the fast path in scan()
        # takes such lines unchecked). A document that began with more than
        # its opener (a cut NDJSON line, say) is read line by line, checked.
        self.pending_deeper = ()
        if line[indent:].rstrip() in ("{", "["):
            self.pending_deeper = (line[:indent] + " ", line[:indent] + "\t")

    def abandon(self) -> Iterator[str]:
        lines, self.pending = self.pending or [], None
        for text in lines:
            # Lines taken on the fast path in scan() are still raw.
            yield clean_line(text)[:MAX_TEXT_LINE]

    def continued(self, line: str, body: str, indent: int) -> Iterator[Document | str]:
        assert self.pending is not None
        if indent > self.pending_indent and body[0] in _JSON_LINE_STARTS:
            self.pending.append(line)
            self.pending_size += len(line)
            if self.pending_size > self.max_document:
                yield from self.abandon()
            return
        if indent == self.pending_indent and body[0] in "}]":
            self.pending.append(line)
            yield from self.close()
            return
        if indent <= self.pending_indent and body[0] in "{[":
            # Only a new document opens at this indentation: the pending
            # one was cut off.
            yield from self.abandon()
            yield from self.dispatch(line)
            return
        # Somebody else's line printed in the middle of the document.
        yield line[:MAX_TEXT_LINE]

    def close(self) -> Iterator[Document | str]:
        """A closer at the document's indentation: try to decode it."""
        assert self.pending is not None
        text = "\n".join(self.pending)
        result = _decode_at(text, self.pending_indent)
        if isinstance(result, json.JSONDecodeError) and not _incomplete(text, result):
            # Lines taken unchecked may be someone else's or coloured: clean
            # them, set aside those that cannot be JSON, and try once more.
            kept, foreign = self.sorted_lines()
            yield from foreign
            self.pending = kept
            text = "\n".join(kept)
            result = _decode_at(text, self.pending_indent)
        if isinstance(result, json.JSONDecodeError):
            if not _incomplete(text, result):
                yield from self.abandon()
            return
        value, end = result
        item, self.pending = self.pending_item, None
        rest = text[end:]
        if item:
            yield Document(value, in_array=True)
            yield from self.after_item(rest)
        else:
            yield from _documents(value)
            rest = rest.strip()
            if rest:
                yield from self.idle(rest)

    def sorted_lines(self) -> tuple[list[str], list[str]]:
        """The pending lines cleaned, split into JSON-like and foreign ones."""
        assert self.pending is not None
        kept: list[str] = []
        foreign: list[str] = []
        for number, raw in enumerate(self.pending):
            line = clean_line(raw)
            body = line.lstrip()
            if number == 0 or not body or body[0] in _JSON_LINE_STARTS:
                kept.append(line)
            else:
                foreign.append(line[:MAX_TEXT_LINE])
        return kept, foreign

    # -- the entry point per line ---------------------------------------

    def dispatch(self, line: str) -> Iterator[Document | str]:
        body = line.lstrip()
        if not body:
            if self.pending is not None:
                self.pending.append(line)
            else:
                yield line
            return
        indent = len(line) - len(body)
        if self.pending is not None:
            yield from self.continued(line, body, indent)
        elif self.array_indent is not None:
            yield from self.in_array(line, body, indent)
        else:
            yield from self.idle(line)

    def end(self) -> Iterator[str]:
        """The log ended: what is pending was cut off."""
        self.array_indent = None
        yield from self.abandon()


def scan(
    lines: Iterable[str], *, max_document: int = MAX_DOCUMENT
) -> Iterator[Document | str]:
    """Yield the JSON documents and the text lines of a log, in log order.

    ``lines`` are the log's lines with or without their ends (as a text file
    yields them). Text lines come out cleaned by :func:`clean_line` and cut
    to :data:`MAX_TEXT_LINE`. A document that never closes comes out as the
    text lines it was made of, when it is given up. Never raises on any
    content; exceptions from ``lines`` itself propagate.
    """
    scanner = _Scanner(max_document)
    dispatch = scanner.dispatch
    # The scanner's document state mirrored in locals for the hot path
    # inside a pretty-printed document: a line indented deeper than the
    # document's first line is kept as it is, unchecked (line ends are
    # whitespace to the decoder); close() sorts out the rare foreign or
    # coloured line if the document then does not decode. A 100 MB ruff
    # report is millions of such lines.
    pending: list[str] | None = None
    deeper: tuple[str, ...] = ()
    size = 0
    for raw in lines:
        if pending is not None:
            if raw.startswith(deeper):
                pending.append(raw)
                size += len(raw)
                if size > max_document:
                    yield from scanner.abandon()
                    pending = None
                continue
            scanner.pending_size = size
        line = clean_line(raw)
        # The hot path for NDJSON: a complete document on a line of its own.
        if pending is None and scanner.array_indent is None and line[:1] == "{":
            try:
                value, end = _decoder.raw_decode(line)
            except (json.JSONDecodeError, RecursionError):
                pass
            else:
                if end == len(line) or not line[end:].strip():
                    yield Document(value)
                    continue
        yield from dispatch(line)
        pending = scanner.pending
        deeper = scanner.pending_deeper
        size = scanner.pending_size
    yield from scanner.end()
