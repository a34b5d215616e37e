"""Keeping recipes away from the service, its secrets and other projects.

One :class:`Containment` is set up at start (:meth:`Containment.setup`) and
used by the local executor for every recipe. It holds two things:

* **The recipe's identity.** With ``CRAFTING_RECIPE_USER`` set, recipes run
  as that user, with its primary group only and a ``HOME`` of its own. The
  data folder (ledger, admin bearer, logs) stays private to the service;
  bare clones stay the service's and become readable to the recipe user
  only while a job of their project runs; a job's worktree and report
  folder are handed to the recipe user for the job and taken back after.
  Unset, recipes run as the service's own user, which is the laptop case
  that ``docs/containment.md`` describes.
* **Limits and membership**, from the control groups that
  :mod:`crafting_table.cgroups` detects. Where there are none, the process
  limit becomes ``RLIMIT_NPROC`` of the recipe user (when there is one),
  and the executor finds stray processes by their environment mark.

Folder walks here never follow a symlink (``os.fwalk`` with
``follow_symlinks=False``, ``lchown``), because recipes write the trees
they walk. The methods block on the file system: call them from a worker
thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crafting_table.cgroups import CgroupLayout, detect, instance_name
from crafting_table.config import Settings
from crafting_table.errors import ConfigError
from crafting_table.jobenv import CACHE_VARIABLES

logger = logging.getLogger(__name__)

# Capabilities a service needs to run recipes as another user: switch to
# it, hand folders over and back, remove what a recipe left where a crash
# kept it from being taken back, and signal its processes.
NEEDED_CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
}
OWNED_MODE = 0o700
CLONE_SHARED_MODE = 0o750
CLONE_PRIVATE_MODE = 0o700


@dataclass(frozen=True, slots=True)
class RecipeUser:
    """The unprivileged user recipes run as."""

    name: str
    uid: int
    gid: int
    home: Path

    @classmethod
    def lookup(cls, name: str, cache_dir: Path) -> RecipeUser:
        """Find ``name``; refuse root and the service's own user.

        ``HOME`` is the user's home folder when it exists and belongs to
        it, else ``<cache_dir>/home``. Raises :class:`ConfigError`.
        """
        try:
            entry = pwd.getpwnam(name)
        except KeyError as exc:
            raise ConfigError(
                f"CRAFTING_RECIPE_USER {name!r} is not a user on this host; create "
                "it (useradd --system) or unset the variable"
            ) from exc
        if entry.pw_uid == 0:
            raise ConfigError(
                f"CRAFTING_RECIPE_USER {name!r} is root; name an unprivileged user"
            )
        if entry.pw_uid == os.geteuid():
            raise ConfigError(
                f"CRAFTING_RECIPE_USER {name!r} is the service's own user, so "
                "recipes could read its data; name a user of their own"
            )
        home = Path(entry.pw_dir)
        try:
            info = os.lstat(home)
            usable = stat.S_ISDIR(info.st_mode) and info.st_uid == entry.pw_uid
        except OSError:
            usable = False
        return cls(
            name, entry.pw_uid, entry.pw_gid, home if usable else cache_dir / "home"
        )


def missing_capabilities(status: str | None = None) -> list[str]:
    """Which of :data:`NEEDED_CAPABILITIES` this process lacks."""
    if status is None:
        with open("/proc/self/status") as handle:
            status = handle.read()
    effective = 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            effective = int(line.split()[1], 16)
    return [
        name for name, bit in NEEDED_CAPABILITIES.items() if not effective >> bit & 1
    ]


def capability_drop() -> str:
    """The command prefix that strips a recipe of the service's capabilities.

    Root switching to the recipe user loses every capability by itself. A
    service that is not root but holds capabilities as ambient ones (the
    image starts it that way, as its own user) passes them on across the
    switch and the exec of the recipe's shell: ``setpriv`` clears the
    inheritable and ambient sets first, so the recipe keeps none. Raises
    :class:`ConfigError` when that is needed and setpriv is missing.
    """
    if os.geteuid() == 0:
        return ""
    if shutil.which("setpriv") is None:
        raise ConfigError(
            "the service holds capabilities that recipes must not inherit, and "
            "setpriv (util-linux) is not installed to drop them; install it"
        )
    return "setpriv --inh-caps=-all --ambient-caps=-all -- "


def give_tree(top: Path, uid: int, gid: int) -> None:
    """Make ``uid:gid`` own ``top`` and all below it, following no symlink.

    The top comes last, so that nothing below changes hands while the new
    owner could already be working in it.
    """
    try:
        info = os.lstat(top)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        walk = os.fwalk(top, topdown=False, follow_symlinks=False)
        for _, dirs, files, fd in walk:
            for name in (*dirs, *files):
                with contextlib.suppress(FileNotFoundError):
                    os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
    os.chown(top, uid, gid, follow_symlinks=False)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _reachable(path: Path, user: RecipeUser) -> Path | None:
    """The first ancestor of ``path`` that ``user`` may not pass, if any."""
    for folder in reversed(path.parents):
        try:
            info = os.stat(folder)
        except OSError:
            return folder
        mode = info.st_mode
        if info.st_uid == user.uid:
            allowed = mode & stat.S_IXUSR
        elif info.st_gid == user.gid:
            allowed = mode & stat.S_IXGRP
        else:
            allowed = mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


class Containment:
    """How this service confines recipes; see the module docstring."""

    def __init__(
        self,
        *,
        user: RecipeUser | None = None,
        cgroups: CgroupLayout | None = None,
        default_memory_mb: int = 0,
        default_pids: int = 0,
        capability_drop: str = "",
    ) -> None:
        self.user = user
        self.capability_drop = capability_drop
        self.cgroups = cgroups or CgroupLayout("none", note="not set up")
        self.default_memory_mb = default_memory_mb or None
        self.default_pids = default_pids or None
        self._readers: dict[Path, int] = {}
        # Grants and releases run on worker threads of concurrent jobs.
        self._lock = threading.Lock()

    @classmethod
    def setup(cls, settings: Settings) -> Containment:
        """Check the host, prepare the folders, detect control groups.

        ``settings`` must hold absolute folders. Raises :class:`ConfigError`
        when ``CRAFTING_RECIPE_USER`` is set but cannot be used (unknown
        user, missing privileges, folders it could reach or not reach), or
        when a ``CRAFTING_CONTAINMENT`` mode is asked for that the host
        does not offer.
        """
        user = None
        if settings.recipe_user:
            missing = missing_capabilities()
            if missing:
                raise ConfigError(
                    f"CRAFTING_RECIPE_USER={settings.recipe_user} needs the service "
                    f"to run as root or with {', '.join(missing)}; it runs as uid "
                    f"{os.geteuid()} without them"
                )
            user = RecipeUser.lookup(settings.recipe_user, settings.cache_dir)
            _check_folders(settings, user)
            _prepare_caches(settings.cache_dir, user)
            drop = capability_drop()
        layout = detect(instance_name(settings.data_dir), settings.containment)
        containment = cls(
            user=user,
            cgroups=layout,
            default_memory_mb=settings.default_memory_mb,
            default_pids=settings.default_pids,
            capability_drop=drop if user else "",
        )
        logger.info(
            "containment: %s, recipes run as %s (%s)",
            layout.mode,
            user.name if user else "the service's user",
            layout.note,
        )
        return containment

    @property
    def mode(self) -> str:
        """The control group mode: cgroup2, hybrid, cgroup1 or none."""
        return self.cgroups.mode

    def limits(
        self, memory_mb: int | None, pids: int | None
    ) -> tuple[int | None, int | None]:
        """A job's memory (MiB) and process limits with the defaults filled in."""
        return memory_mb or self.default_memory_mb, pids or self.default_pids

    def process_rlimit(self, pids: int | None) -> int | None:
        """The ``RLIMIT_NPROC`` to set where no control group limits processes.

        The limit counts every process of the recipe user, so concurrent
        jobs share it; root would ignore it, hence only with a recipe user.
        """
        if self.user is None or "pids" in self.cgroups.controllers:
            return None
        return pids

    def health(self) -> dict[str, Any]:
        """The ``containment`` section of ``/healthz``."""
        controllers = self.cgroups.controllers
        return {
            "mode": self.mode,
            "recipe_user": self.user.name if self.user else None,
            "controllers": sorted(controllers),
            "process_limit": "cgroup"
            if "pids" in controllers
            else ("rlimit" if self.user else "none"),
            "memory_limit": "cgroup" if "memory" in controllers else "none",
            "defaults": {
                "memory_mb": self.default_memory_mb,
                "pids": self.default_pids,
            },
            "note": self.cgroups.note,
        }

    def spawn_options(self) -> dict[str, Any]:
        """Keyword arguments for ``subprocess`` that switch to the recipe user."""
        if self.user is None:
            return {}
        # extra_groups=[] makes the child drop the service's supplementary
        # groups (subprocess keeps them when it is not given).
        return {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}

    def environment(self, env: dict[str, str], owned: Iterable[Path]) -> dict[str, str]:
        """``env`` with the recipe user's ``HOME`` and names, and git's trust.

        A worktree handed to the recipe user has its admin folder still
        owned by the service, which git calls dubious ownership; the
        command-scope ``safe.directory`` entries name exactly those
        worktrees.
        """
        if self.user is None:
            return env
        env = {**env, "HOME": str(self.user.home)}
        env["USER"] = env["LOGNAME"] = self.user.name
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        for path in owned:
            env[f"GIT_CONFIG_KEY_{count}"] = "safe.directory"
            env[f"GIT_CONFIG_VALUE_{count}"] = str(path)
            count += 1
        env["GIT_CONFIG_COUNT"] = str(count)
        return env

    def hand_over(self, owned: Iterable[Path], shared: Iterable[Path]) -> None:
        """Give ``owned`` to the recipe user; let it read ``shared`` for now."""
        if self.user is None:
            return
        for path in owned:
            os.chmod(path, OWNED_MODE)
            give_tree(path, self.user.uid, self.user.gid)
        for path in shared:
            self._share(path)

    def take_back(self, owned: Iterable[Path], shared: Iterable[Path]) -> None:
        """Undo :meth:`hand_over` once the job's processes are gone."""
        if self.user is None:
            return
        for path in shared:
            self._unshare(path)
        for path in owned:
            give_tree(path, os.geteuid(), os.getegid())

    def _share(self, path: Path) -> None:
        assert self.user is not None
        with self._lock:
            count = self._readers.get(path, 0)
            if count == 0:
                # The clone sits in a service-owned folder that no recipe
                # can write, so it cannot have been swapped for a symlink.
                os.chown(path, -1, self.user.gid, follow_symlinks=False)
                os.chmod(path, CLONE_SHARED_MODE)
            self._readers[path] = count + 1

    def _unshare(self, path: Path) -> None:
        with self._lock:
            count = self._readers.get(path, 0) - 1
            if count > 0:
                self._readers[path] = count
                return
            self._readers.pop(path, None)
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, CLONE_PRIVATE_MODE)

    def close(self) -> None:
        """Remove this service's (empty) control group folders at shutdown."""
        self.cgroups.release()


def _check_folders(settings: Settings, user: RecipeUser) -> None:
    """Refuse folder layouts that would let a recipe reach the service's data."""
    data, workspace, cache = (
        settings.data_dir,
        settings.workspace_dir,
        settings.cache_dir,
    )
    for inner, outer in ((data, cache), (data, workspace), (workspace, cache)):
        if _inside(inner, outer) or _inside(outer, inner):
            raise ConfigError(
                f"{inner} and {outer} overlap; with CRAFTING_RECIPE_USER set the "
                "data, workspace and cache folders must be apart"
            )
    for folder in (workspace, cache):
        blocked = _reachable(folder, user)
        if blocked is not None:
            raise ConfigError(
                f"recipe user {user.name!r} cannot reach {folder}: {blocked} does "
                "not let it pass (chmod o+x, or move the folder)"
            )


def _prepare_caches(cache_dir: Path, user: RecipeUser) -> None:
    """Give the cache folder and every tool's sub-folder to the recipe user.

    A sub-folder that some other user made (an earlier run without a recipe
    user) changes hands with everything in it; anything that is not a real
    folder where a folder belongs (a recipe may leave a symlink) is removed.
    """
    folders = [*CACHE_VARIABLES.values(), "maven"]
    if _inside(user.home, cache_dir):
        folders.append(str(user.home.relative_to(cache_dir)))
    _own_folder(cache_dir, user)
    for relative in folders:
        current = cache_dir
        for part in Path(relative).parts:
            current = current / part
            _own_folder(current, user)
    if _inside(user.home, cache_dir):
        os.chmod(user.home, OWNED_MODE)


def _own_folder(path: Path, user: RecipeUser) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o755)
        os.chown(path, user.uid, user.gid, follow_symlinks=False)
        return
    if not stat.S_ISDIR(info.st_mode):
        logger.warning("replacing %s, which is not a folder, with an empty one", path)
        path.unlink()
        os.mkdir(path, 0o755)
        os.chown(path, user.uid, user.gid, follow_symlinks=False)
    elif info.st_uid != user.uid:
        give_tree(path, user.uid, user.gid)
