"""One service per data folder and per workspace: :class:`FolderLock`.

Two services on one ledger would each fail the other's running jobs as
orphans at start, and two on one workspace delete each other's clones
when a project of the same name goes. Each folder therefore holds a lock
file that the running service keeps an exclusive ``flock`` on. The kernel
drops the lock with the process, so a service killed with SIGKILL leaves
nothing that stops the next start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from crafting_table.errors import ConfigError

LOCK_NAME = ".crafting-table.lock"


class FolderLock:
    """Exclusive use of some folders by this service, until :meth:`release`."""

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}

    def take(self, folder: Path, setting: str) -> None:
        """Lock ``folder``; ConfigError naming ``setting`` when another holds it."""
        if folder in self._fds:
            return
        path = folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise ConfigError(
                f"{folder} is in use by another crafting-table service"
                + (f" (pid {holder})" if holder.isdigit() else "")
                + f"; stop it, or give this one a folder of its own with {setting}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fds[folder] = fd

    def release(self) -> None:
        """Let the folders go; closing the files drops the locks."""
        while self._fds:
            os.close(self._fds.popitem()[1])
