"""Per-project recipe identities: the id range, and each project's folder.

With ``CRAFTING_RECIPE_USER`` set and ``CRAFTING_RECIPE_UID_BASE`` above 0,
the recipes of a project run as uid and gid ``base + slot``, where the slot
(1, 2, ...) is the project's row in the ledger
(:mod:`crafting_table.ledger.identities`). Two projects therefore never
share an id: neither can read the other's files, signal its processes or
trace them, and ``RLIMIT_NPROC`` counts one project's processes only. The
ids need no passwd entry (the service switches to them by number), but no
user or group of the host may hold one, or a recipe would own that user's
files.

Each project keeps, between jobs, a folder under the cache folder that
only its id may enter::

    <cache>/projects/            service, 711: pass, not list
    <cache>/projects/<project>/  the project's id, 700
        home/                    HOME
        tmp/                     TMPDIR
        pip/ npm/ cargo/ ...     the package caches (see jobenv)

The service makes these folders while the project's recipes may be running
and may have put a symlink anywhere inside the project's folder, so every
step here is relative to an open folder and follows no symlink.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from crafting_table.errors import ConfigError, ContainmentError

logger = logging.getLogger(__name__)

PROJECTS = "projects"
PROJECTS_MODE = 0o711
FOLDER_MODE = 0o700
# Made in every project's folder before each job: a missing TMPDIR makes
# mktemp fail, a missing HOME makes some tools give up.
INNER_FOLDERS = ("home", "tmp")
_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class ProjectIdentity:
    """The project a recipe belongs to and its slot from the ledger."""

    name: str
    slot: int


@dataclass(frozen=True, slots=True)
class IdRange:
    """Ids ``base + 1`` to ``base + count``, one per project slot."""

    base: int
    count: int

    def id_for(self, identity: ProjectIdentity) -> int:
        """The uid (and gid) of ``identity``'s recipes.

        Raises :class:`ContainmentError` for a slot past the range: the
        recipe must not run as an id that may belong to someone else.
        """
        if not 1 <= identity.slot <= self.count:
            raise ContainmentError(
                f"project {identity.name!r} has identity slot {identity.slot}, past "
                f"the {self.count} ids of CRAFTING_RECIPE_UID_COUNT; raise it"
            )
        return self.base + identity.slot

    def check(self, reserved: dict[int, str]) -> None:
        """Refuse a range that is not free and usable on this host.

        ``reserved`` names ids that must stay outside (the service's, the
        recipe user's). Every id must be mapped in this process's user
        namespace, and no user or group of the host may hold one. Raises
        :class:`ConfigError`.
        """
        low, high = self.base + 1, self.base + self.count
        for number, holder in reserved.items():
            if low <= number <= high:
                raise ConfigError(self._taken(f"{holder} ({number})"))
        for kind in ("uid", "gid"):
            if not ids_mapped(Path(f"/proc/self/{kind}_map"), low, high):
                raise ConfigError(
                    f"{kind}s {low}-{high} are not all mapped in the service's user "
                    "namespace, so recipes could not switch to them; set "
                    "CRAFTING_RECIPE_UID_BASE and CRAFTING_RECIPE_UID_COUNT to ids "
                    "it maps"
                )
        for user in pwd.getpwall():
            if low <= user.pw_uid <= high:
                raise ConfigError(self._taken(f"user {user.pw_name!r}"))
        for group in grp.getgrall():
            if low <= group.gr_gid <= high:
                raise ConfigError(self._taken(f"group {group.gr_name!r}"))

    def _taken(self, holder: str) -> str:
        return (
            f"the recipe ids {self.base + 1}-{self.base + self.count} include "
            f"{holder}, whose files recipes would own; move CRAFTING_RECIPE_UID_BASE"
        )


def ids_mapped(map_file: Path, low: int, high: int) -> bool:
    """Whether ``low``-``high`` lies inside one line of a uid or gid map.

    A missing map file means a kernel without user namespaces, where every
    id exists.
    """
    try:
        text = map_file.read_text()
    except FileNotFoundError:
        return True
    for line in text.splitlines():
        inner, _, length = (int(field) for field in line.split())
        if inner <= low and high < inner + length:
            return True
    return False


def prepare_projects_folder(cache_dir: Path) -> Path:
    """Make ``<cache>/projects``, the service's, passable but not listable."""
    folder = cache_dir / PROJECTS
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, PROJECTS_MODE)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{str(folder)!r} is not a folder; remove it")
    if info.st_uid != os.geteuid():
        os.chown(folder, os.geteuid(), os.getegid(), follow_symlinks=False)
    os.chmod(folder, PROJECTS_MODE, follow_symlinks=False)
    return folder


def prepare_project_folder(projects: Path, name: str, uid: int, gid: int) -> Path:
    """Make the project's folder and its ``home`` and ``tmp``, owned by uid:gid.

    A folder owned by another id (a deleted project of the same name, an
    older layout) is deleted first: what it holds was not this project's.
    Blocks. Raises :class:`ContainmentError` when the folders cannot be
    made.
    """
    try:
        top = os.open(projects, _OPEN_FOLDER)
        try:
            folder = _own_folder(top, name, uid, gid, foreign="remove")
            try:
                for inner in INNER_FOLDERS:
                    os.close(_own_folder(folder, inner, uid, gid, foreign="take"))
            finally:
                os.close(folder)
        finally:
            os.close(top)
    except OSError as exc:
        raise ContainmentError(
            f"cannot prepare the folder of project {name!r} in {str(projects)!r}: "
            f"{exc.strerror}"
        ) from exc
    return projects / name


def _own_folder(parent: int, name: str, uid: int, gid: int, *, foreign: str) -> int:
    """Open the folder ``name`` in ``parent``, made and owned by uid:gid.

    What is not a folder (a symlink or file the recipe left) is replaced.
    A folder of another owner is removed and made again, or taken over
    (``foreign``: ``remove`` or ``take``).
    """
    for _ in range(3):
        made = True
        try:
            os.mkdir(name, FOLDER_MODE, dir_fd=parent)
        except FileExistsError:
            made = False
        try:
            fd = os.open(name, _OPEN_FOLDER, dir_fd=parent)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            os.unlink(name, dir_fd=parent)
            continue
        info = os.fstat(fd)
        if not made and info.st_uid != uid and foreign == "remove":
            os.close(fd)
            _remove_folder(parent, name)
            continue
        if (info.st_uid, info.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
        if stat.S_IMODE(info.st_mode) != FOLDER_MODE:
            os.fchmod(fd, FOLDER_MODE)
        return fd
    # A recipe of the project keeps replacing the folder as it is made.
    raise OSError(errno.EAGAIN, f"{name} changed while it was made")


def _remove_folder(parent: int, name: str) -> None:
    logger.warning("removing %s of another owner from the project folders", name)
    # rmtree with a dir_fd works relative to it and follows no symlink.
    shutil.rmtree(name, dir_fd=parent)


def project_folders(cache_dir: Path) -> list[str]:
    """The projects that have a folder under ``<cache>/projects``."""
    folder = cache_dir / PROJECTS
    try:
        return sorted(
            entry.name
            for entry in os.scandir(folder)
            if entry.is_dir(follow_symlinks=False)
        )
    except FileNotFoundError:
        return []
