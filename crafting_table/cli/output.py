"""What the client prints, and where.

Standard output carries the answer: aligned tables and fields for a
person, or with ``--json`` the API's JSON as it came. Standard error
carries everything else: errors, notes, and the progress line of a job
being followed, which is drawn only when standard error is a terminal.
Colour is used only when standard output is a terminal and ``NO_COLOR``
is unset or empty (https://no-color.org).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

# SGR codes of the few styles we use.
_STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}
STATUS_STYLES = {
    "succeeded": "green",
    "pr_opened": "green",
    "failed": "red",
    "apply_failed": "red",
    "verify_failed": "red",
    "timed_out": "yellow",
    "canceled": "yellow",
    "running": "cyan",
    "verifying": "cyan",
    "drafting": "cyan",
    "pushing": "cyan",
    "queued": "dim",
    "error": "red",
    "warning": "yellow",
    "new": "bold",
    "fixed": "green",
}
# A cell of a table: plain text, or (text, style) to paint when colour is on.
Cell = str | tuple[str, str]


class Output:
    """The two streams and the settings that decide how things look."""

    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        environ: Mapping[str, str],
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.colour = _isatty(stdout) and not environ.get("NO_COLOR")
        self.progress_enabled = _isatty(stderr)
        self._progress_shown = False

    # -- standard output ----------------------------------------------------

    def line(self, text: str = "") -> None:
        """One line on standard output."""
        self.clear_progress()
        self.stdout.write(text + "\n")

    def json(self, data: Any, *, compact: bool = False) -> None:
        """``data`` as JSON on standard output (one line when ``compact``)."""
        indent = None if compact else 2
        self.line(json.dumps(data, indent=indent, ensure_ascii=False))

    def raw(self, data: bytes) -> None:
        """Bytes as they are (a log) on standard output."""
        self.clear_progress()
        buffer = getattr(self.stdout, "buffer", None)
        if buffer is not None:
            self.stdout.flush()
            buffer.write(data)
            buffer.flush()
        else:
            self.stdout.write(data.decode("utf-8", "replace"))

    def paint(self, text: str, style: str | None) -> str:
        """``text`` in ``style`` when colour is on."""
        if not self.colour or not style or style not in _STYLES:
            return text
        return f"\033[{_STYLES[style]}m{text}\033[0m"

    def status(self, status: str) -> str:
        """A job, patch or finding status, coloured by what it means."""
        return self.paint(status, STATUS_STYLES.get(status))

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[Cell]],
        *,
        empty: str = "nothing to show",
    ) -> None:
        """Aligned columns under a header; the last column is never padded.

        On a terminal the last column is cut to the terminal's width, so a
        long message does not wrap under the others. Without rows, nothing
        goes to standard output and ``empty`` is noted on standard error.
        """
        if not rows:
            self.note(empty)
            return
        texts = [[_text(cell) for cell in row] for row in rows]
        widths = [len(h) for h in headers]
        for plain_row in texts:
            for index, text in enumerate(plain_row):
                widths[index] = max(widths[index], len(text))
        room = None
        if _isatty(self.stdout):
            room = shutil.get_terminal_size().columns - sum(w + 2 for w in widths[:-1])
        self.line(self._row([self.paint(h, "bold") for h in headers], headers, widths))
        for row, plain in zip(rows, texts, strict=True):
            cells = list(row)
            if room is not None and room > 10 and len(plain[-1]) > room:
                plain[-1] = plain[-1][: room - 1] + "…"
                cells[-1] = _restyle(cells[-1], plain[-1])
            painted = [self.paint(_text(c), _style(c)) for c in cells]
            self.line(self._row(painted, plain, widths))

    def fields(self, pairs: Sequence[tuple[str, Cell]]) -> None:
        """``name: value`` lines with the values aligned."""
        width = max((len(name) for name, _ in pairs), default=0) + 1
        for name, value in pairs:
            label = self.paint(f"{name + ':':<{width}}", "bold")
            self.line(f"{label} {self.paint(_text(value), _style(value))}".rstrip())

    @staticmethod
    def _row(cells: Sequence[str], plain: Sequence[str], widths: Sequence[int]) -> str:
        parts = [
            cell + " " * (width - len(text))
            for cell, text, width in zip(cells[:-1], plain[:-1], widths, strict=False)
        ]
        return "  ".join([*parts, cells[-1]]).rstrip()

    # -- standard error -----------------------------------------------------

    def note(self, text: str) -> None:
        """One line on standard error: what happened, beside the answer."""
        self.clear_progress()
        self.stdout.flush()
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def progress(self, text: str) -> None:
        """Draw (or redraw) the progress line, on a terminal only."""
        if not self.progress_enabled:
            return
        # A line longer than the terminal would wrap, and \r only goes back
        # to the start of the last row of it.
        width = shutil.get_terminal_size().columns - 1
        self.stdout.flush()
        self.stderr.write("\r\033[K" + text[:width])
        self.stderr.flush()
        self._progress_shown = True

    def clear_progress(self) -> None:
        """Erase the progress line, if one is drawn."""
        if self._progress_shown:
            self.stderr.write("\r\033[K")
            self.stderr.flush()
            self._progress_shown = False


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell[0]


def _style(cell: Cell) -> str | None:
    return None if isinstance(cell, str) else cell[1]


def _restyle(cell: Cell, text: str) -> Cell:
    return text if isinstance(cell, str) else (text, cell[1])


def status_cell(status: str) -> Cell:
    """A status as a table cell, coloured by what it means."""
    return (status, STATUS_STYLES.get(status, ""))


def when(iso: str | None) -> str:
    """An API timestamp as local time to the second, or ``-``."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """``12.3s``, ``4m05s`` or ``2h03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def dash(value: object) -> str:
    """``value`` as text, ``-`` for None or empty."""
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
