"""Paths as tools print them, turned into paths relative to the subproject.

Tools print paths three ways: relative to where they ran (ruff with a
relative argument, tsc, shellcheck), absolute (eslint, go vet, clippy's
``src_path``), or as ``file://`` URIs (SARIF). Findings carry a path relative
to the recipe's folder when the path points inside it; a path outside
(a dependency in the cargo registry, ``/usr/lib/python3``) is kept as the
tool gave it and flagged, so the Patcher never tries to edit it.

Pure string work: the file system is never consulted, so symbolic links are
not resolved.
"""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

__all__ = ["relative_to_workdir"]


def relative_to_workdir(path: str, workdir: PurePosixPath | str) -> tuple[str, bool]:
    """Return ``(file, outside)`` for a path a tool printed.

    An absolute path under ``workdir`` becomes relative to it; a relative
    path is normalised (``./src/a.py`` becomes ``src/a.py``). A path that
    leaves ``workdir`` (absolute elsewhere, or relative with ``..`` going
    above it) is returned as given with ``outside`` set. ``file://`` URIs
    are decoded first. Never raises.
    """
    given = path
    if path.startswith("file:"):
        parts = urlsplit(path)
        path = unquote(parts.path)
    root = posixpath.normpath(str(workdir)) if str(workdir) else "/"
    if path.startswith("/"):
        normal = posixpath.normpath(path)
        if normal == root:
            return ".", False
        prefix = root if root.endswith("/") else root + "/"
        if normal.startswith(prefix):
            return normal[len(prefix) :], False
        return given, True
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        return given, True
    return normal, False
