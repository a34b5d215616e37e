"""Finding JSON documents among terminal lines."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from crafting_table.parsers.jsonstream import MAX_TEXT_LINE, Document, clean_line, scan


def events(text: str, **kwargs: Any) -> list[Any]:
    """Scan ``text`` and show documents as ('doc', value, in_array), text as str."""
    out: list[Any] = []
    for event in scan(text.splitlines(keepends=True), **kwargs):
        if isinstance(event, Document):
            out.append(("doc", event.value, event.in_array))
        else:
            out.append(event)
    return out


PRETTY = json.dumps({"a": [1, {"b": 2}], "c": "x"}, indent=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '{"a": 1}\n{"b": 2}\n',
            [("doc", {"a": 1}, False), ("doc", {"b": 2}, False)],
            id="ndjson",
        ),
        pytest.param(
            '{"a": 1}{"b": 2} trailing\n',
            [("doc", {"a": 1}, False), ("doc", {"b": 2}, False), "trailing"],
            id="two-documents-on-one-line",
        ),
        pytest.param(
            "Checking x\n" + PRETTY + "\nFinished\n",
            ["Checking x", ("doc", json.loads(PRETTY), False), "Finished"],
            id="pretty-between-progress",
        ),
        pytest.param(
            PRETTY + "\n" + PRETTY + "\n",
            [("doc", json.loads(PRETTY), False)] * 2,
            id="two-pretty-documents",
        ),
        pytest.param(
            '[{"a": 1}, {"b": 2}]\n',
            [("doc", {"a": 1}, True), ("doc", {"b": 2}, True)],
            id="one-line-array-flattened",
        ),
        pytest.param(
            json.dumps([{"a": 1}, [2, 3], "s", 4], indent=2) + "\n",
            [
                ("doc", {"a": 1}, True),
                ("doc", [2, 3], True),
                ("doc", "s", True),
                ("doc", 4, True),
            ],
            id="pretty-array-element-by-element",
        ),
        pytest.param("[]\n", [], id="empty-array"),
        pytest.param(
            '{\n  "a": 1,\nnpm warn something\n  "b": 2\n}\n',
            ["npm warn something", ("doc", {"a": 1, "b": 2}, False)],
            id="stderr-line-inside-document",
        ),
        pytest.param(
            '{\n  "a": 1,\n   Compiling x v0.1.0\n  "b": 2\n}\n',
            ["   Compiling x v0.1.0", ("doc", {"a": 1, "b": 2}, False)],
            id="indented-progress-line-inside-document",
        ),
        pytest.param(
            '{\n  \x1b[34;1m"a"\x1b[0m: \x1b[0;32m"x"\x1b[0m\n}\n',
            [("doc", {"a": "x"}, False)],
            id="coloured-json",
        ),
        pytest.param(
            '{\n  "a": [\n\n    1\n  ]\n}\n',
            [("doc", {"a": [1]}, False)],
            id="blank-line-inside-document",
        ),
        pytest.param(
            "[gw0] PASSED tests/x.py::t\n{curly} braces\n",
            ["[gw0] PASSED tests/x.py::t", "{curly} braces"],
            id="bracketed-text-is-text",
        ),
        pytest.param(
            '{\n  "a": 1,\n  "b": [\n',
            ["{", '  "a": 1,', '  "b": ['],
            id="truncated-document-comes-out-as-text",
        ),
        pytest.param(
            '{"reason": "x", "mess\n{"a": 1}\n',
            ['{"reason": "x", "mess', ("doc", {"a": 1}, False)],
            id="line-cut-inside-a-string",
        ),
        pytest.param(
            '{"a": [1,\n   Compiling x\n     Running y\n',
            ["   Compiling x", "     Running y", '{"a": [1,'],
            id="cut-compact-document-does-not-swallow-indented-text",
        ),
        pytest.param(
            '{"a": [1,\n{"b": 2}\n',
            ['{"a": [1,', ("doc", {"b": 2}, False)],
            id="cut-document-then-a-new-one",
        ),
        pytest.param(
            '[\n  1,\n  2\n]\n{"after": true}\n',
            [("doc", 1, True), ("doc", 2, True), ("doc", {"after": True}, False)],
            id="array-then-object",
        ),
        pytest.param(
            '[\n  {\n    "a": 1\n  },\n  {\n    "a": 2\n',
            [("doc", {"a": 1}, True), "  {", '    "a": 2'],
            id="array-cut-after-first-element",
        ),
        pytest.param(
            '{"é": "ünïcode ✓"}\n',
            [("doc", {"é": "ünïcode ✓"}, False)],
            id="non-ascii",
        ),
        pytest.param(
            "\x00\x01\xff garbage \ufffd\n",
            ["\x00\x01\xff garbage \ufffd"],
            id="garbage",
        ),
        pytest.param("[" * 10_000 + "\n", ["[" * 10_000], id="absurd-nesting"),
    ],
)
def test_scan(text: str, expected: list[Any]) -> None:
    assert events(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("plain\n", "plain", id="lf"),
        pytest.param("plain\r\n", "plain", id="crlf"),
        pytest.param("echo x\r\r\n", "echo x", id="source-line-ending-in-cr"),
        pytest.param("10%\r50%\r100%\n", "100%", id="carriage-return-redraw"),
        pytest.param(
            "\x1b[1m\x1b[92m    Checking\x1b[0m a v0.1.0\n",
            "    Checking a v0.1.0",
            id="ansi",
        ),
        pytest.param(
            "\x1b]8;;https://x\x07link\x1b]8;;\x07\n", "link", id="osc-hyperlink"
        ),
    ],
)
def test_clean_line(raw: str, expected: str) -> None:
    assert clean_line(raw) == expected


def test_crlf_and_ansi_around_documents() -> None:
    lines = [
        "\x1b[33mwarning\x1b[0m: x\r\n",
        '{"a": 1}\r\n',
        "{\r\n",
        '  "b": 2\r\n',
        "}\r\n",
    ]
    found = [e.value for e in scan(lines) if isinstance(e, Document)]
    assert found == [{"a": 1}, {"b": 2}]


def test_long_text_lines_are_cut() -> None:
    (line,) = list(scan(["x" * (MAX_TEXT_LINE * 3) + "\n"]))
    assert line == "x" * MAX_TEXT_LINE


def test_oversized_document_is_given_up_as_text() -> None:
    body = [f'  "k{i}": {i},\n' for i in range(1000)]
    out = list(scan(["{\n", *body, '  "end": 0\n', "}\n"], max_document=2000))
    assert not any(isinstance(e, Document) for e in out)
    assert out[0] == "{"


def test_pretty_array_is_streamed_not_held() -> None:
    # An endless array: elements must come out before the end is seen.
    def endless() -> Iterator[str]:
        yield "[\n"
        for i in itertools.count():
            yield f'  {{\n    "n": {i}\n  }},\n'

    first = list(itertools.islice(scan(endless()), 3))
    assert [e.value for e in first if isinstance(e, Document)] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
