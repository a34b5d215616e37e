"""How the client lays out tables and fields, and when it uses colour."""

from __future__ import annotations

import io

import pytest

from crafting_table.cli.output import Output, dash, duration, status_cell


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("terminal", "environ", "colour"),
    [
        (True, {}, True),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),
        (False, {}, False),
    ],
    ids=["terminal", "no-color-set", "no-color-empty", "pipe"],
)
def test_colour_only_on_a_terminal_without_no_color(
    terminal: bool, environ: dict[str, str], colour: bool
) -> None:
    stdout = Terminal() if terminal else io.StringIO()

    out = Output(stdout, io.StringIO(), environ)
    out.line(out.status("failed"))

    assert out.colour is colour
    assert stdout.getvalue() == ("\x1b[31mfailed\x1b[0m\n" if colour else "failed\n")


def test_table_aligns_columns_on_the_plain_text() -> None:
    stdout = Terminal()
    out = Output(stdout, io.StringIO(), {})

    out.table(
        ["ID", "STATUS", "NOTE"],
        [["1", status_cell("succeeded"), "a"], ["22", status_cell("failed"), ""]],
    )

    plain = stdout.getvalue().replace("\x1b[0m", "")
    for code in ("\x1b[1m", "\x1b[31m", "\x1b[32m"):
        plain = plain.replace(code, "")
    assert plain.splitlines() == [
        "ID  STATUS     NOTE",
        "1   succeeded  a",
        "22  failed",
    ]


def test_an_empty_table_is_a_note_on_stderr() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    Output(stdout, stderr, {}).table(["ID"], [], empty="no jobs match")

    assert (stdout.getvalue(), stderr.getvalue()) == ("", "no jobs match\n")


def test_fields_align_their_values() -> None:
    stdout = io.StringIO()

    Output(stdout, io.StringIO(), {}).fields([("job", "j1"), ("exit code", "-")])

    assert stdout.getvalue() == "job:       j1\nexit code: -\n"


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_progress_is_drawn_only_on_a_terminal_and_erased_before_output(
    terminal: bool,
) -> None:
    stdout = io.StringIO()
    stderr = Terminal() if terminal else io.StringIO()
    out = Output(stdout, stderr, {})

    out.progress("job j1: running 3s")
    out.line("log line")
    out.note("done")

    expected = "\r\x1b[Kjob j1: running 3s\r\x1b[Kdone\n" if terminal else "done\n"
    assert stderr.getvalue() == expected
    assert stdout.getvalue() == "log line\n"


def test_raw_bytes_go_to_the_binary_buffer() -> None:
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer, encoding="utf-8")
    stdout.write("text first\n")

    Output(stdout, io.StringIO(), {}).raw(b"caf\xc3\xa9 \xff\n")

    assert buffer.getvalue() == b"text first\ncaf\xc3\xa9 \xff\n"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0.04, "0.0s"), (12.34, "12.3s"), (245, "4m05s"), (7380, "2h03m")],
    ids=["unknown", "instant", "seconds", "minutes", "hours"],
)
def test_duration(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "-"), ("", "-"), ([], "-"), (["a", "b"], "a,b"), (True, "yes"), (3, "3")],
    ids=["none", "empty-text", "empty-list", "list", "bool", "number"],
)
def test_dash(value: object, shown: str) -> None:
    assert dash(value) == shown
