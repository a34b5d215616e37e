"""Reading lines of a job's source files without leaving its worktree.

Used for finding identities and for the context an agent sees. A path is
read only when it resolves inside the worktree, is not under ``.git`` and
passes through no symlink: a repository that links ``notes -> /etc`` must
not make the service read ``/etc``.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_FILE_BYTES = 4 * 1024 * 1024


def safe_path(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it is a regular file inside ``root``, else None."""
    if not relative or relative.startswith("/") or "\0" in relative:
        return None
    parts = Path(relative).parts
    if ".." in parts or ".git" in parts:
        return None
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return None
    try:
        if not current.is_file() or current.stat().st_size > MAX_FILE_BYTES:
            return None
    except OSError:
        return None
    return current


class SourceReader:
    """Reads lines of files under one folder, each file at most once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, list[str] | None] = {}

    def lines(self, relative: str) -> list[str] | None:
        """All lines of a file (without line ends), or None if unreadable."""
        if relative not in self._cache:
            path = safe_path(self.root, relative)
            content = None
            if path is not None:
                try:
                    with open(path, "rb", opener=_no_follow) as handle:
                        content = handle.read().decode("utf-8", "replace").splitlines()
                except OSError:
                    content = None
            self._cache[relative] = content
        return self._cache[relative]

    def line(self, relative: str, number: int) -> str | None:
        """Line ``number`` (1-based) of a file, or None."""
        lines = self.lines(relative)
        if lines is None or number < 1 or number > len(lines):
            return None
        return lines[number - 1]


def _no_follow(path: str, flags: int) -> int:
    # O_NOFOLLOW closes the gap between the symlink check and the open.
    return os.open(path, flags | os.O_NOFOLLOW)
