"""Keeping recipes away from the service, its secrets and other projects.

One :class:`Containment` is set up at start (:meth:`Containment.setup`) and
used by the local executor for every recipe. It holds two things:

* **The recipe's identity.** With ``CRAFTING_RECIPE_USER`` set, each
  project's recipes run as an id of their own, ``CRAFTING_RECIPE_UID_BASE``
  plus the project's slot, with that id as their only group, a ``HOME``,
  ``TMPDIR`` and package caches of their own (:mod:`crafting_table.recipe_ids`)
  and a umask that keeps what they write in shared places (``/tmp``) to
  themselves. The data folder (ledger, admin bearer, logs) stays private
  to the service; bare clones stay the service's and become readable to
  the project's id only while a job of that project runs; a job's worktree
  and report folder are handed to the project's id for the job and taken
  back after. So one project's recipe can neither read another's files
  nor signal or trace its processes, even while both run.

  The named user stays the switch that turns this on, and its name is the
  one recipes see in ``USER`` and ``LOGNAME``. Recipes run as the named
  user itself only where the ids are turned off
  (``CRAFTING_RECIPE_UID_BASE=0``, for a user namespace that maps too few
  ids: then all projects share it and its caches, and a recipe can reach
  another project's running job) or for a recipe that belongs to no project
  (none in the service; the executor allows it). Unset, recipes run as the
  service's own user, which is the laptop case that
  ``docs/containment.md`` describes.
* **Limits and membership**, from the control groups that
  :mod:`crafting_table.cgroups` detects. Where there are none, the process
  limit becomes ``RLIMIT_NPROC`` of the recipe's uid (with a recipe
  user: per project with per-project ids), and the executor finds stray
  processes by their environment mark.

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
from crafting_table.jobenv import CACHE_VARIABLES, cache_variables
from crafting_table.recipe_ids import (
    IdRange,
    ProjectIdentity,
    prepare_project_folder,
    prepare_projects_folder,
)

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
# Files a recipe makes outside its own folders (in /tmp, /dev/shm) are its
# id's alone: tools that ignore TMPDIR would otherwise leave them readable
# to every other project's recipes.
RECIPE_UMASK = 0o077


@dataclass(frozen=True, slots=True)
class RecipeUser:
    """An unprivileged identity that recipes run as.

    ``folder`` is the project's own folder (which holds ``home``, ``tmp``
    and the package caches) for a per-project id, None for the named user.
    """

    name: str
    uid: int
    gid: int
    home: Path
    folder: Path | None = None

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
        ids: IdRange | None = None,
        projects_dir: Path | None = None,
        cgroups: CgroupLayout | None = None,
        default_memory_mb: int = 0,
        default_pids: int = 0,
        capability_drop: str = "",
    ) -> None:
        self.user = user
        # Both or neither: the ids and the folder their projects keep.
        self.ids = ids if user is not None and projects_dir is not None else None
        self.projects_dir = projects_dir
        self.capability_drop = capability_drop
        self.cgroups = cgroups or CgroupLayout("none", note="not set up")
        self.default_memory_mb = default_memory_mb or None
        self.default_pids = default_pids or None
        self._readers: dict[Path, int] = {}
        # Jobs with processes now under each project's own id.
        self._jobs_by_uid: dict[int, int] = {}
        # Grants and releases run on worker threads of concurrent jobs.
        self._lock = threading.Lock()

    @classmethod
    def setup(cls, settings: Settings) -> Containment:
        """Check the host, prepare the folders, detect control groups.

        ``settings`` must hold absolute folders. Raises :class:`ConfigError`
        when ``CRAFTING_RECIPE_USER`` is set but cannot be used (unknown
        user, missing privileges, folders it could reach or not reach, an
        id range that is taken or not mapped), or when a
        ``CRAFTING_CONTAINMENT`` mode is asked for that the host does not
        offer.
        """
        user = ids = projects_dir = None
        if settings.recipe_user:
            missing = missing_capabilities()
            if missing:
                raise ConfigError(
                    f"CRAFTING_RECIPE_USER={settings.recipe_user} needs the service "
                    f"to run as root or with {', '.join(missing)}; it runs as uid "
                    f"{os.geteuid()} without them"
                )
            user = RecipeUser.lookup(settings.recipe_user, settings.cache_dir)
            if settings.recipe_uid_base:
                ids = IdRange(settings.recipe_uid_base, settings.recipe_uid_count)
                ids.check(_reserved_ids(user))
                # Any project's id reaches what the first one reaches.
                first = ProjectIdentity("", 1)
                _check_folders(settings, _project_user(user, ids, first, Path()))
                projects_dir = prepare_projects_folder(settings.cache_dir)
            else:
                _check_folders(settings, user)
                _prepare_caches(settings.cache_dir, user)
            drop = capability_drop()
        layout = detect(instance_name(settings.data_dir), settings.containment)
        containment = cls(
            user=user,
            ids=ids,
            projects_dir=projects_dir,
            cgroups=layout,
            default_memory_mb=settings.default_memory_mb,
            default_pids=settings.default_pids,
            capability_drop=drop if user else "",
        )
        logger.info(
            "containment: %s, recipes run as %s (%s)",
            layout.mode,
            _describe(user, ids),
            layout.note,
        )
        return containment

    @property
    def mode(self) -> str:
        """The control group mode: cgroup2, hybrid, cgroup1 or none."""
        return self.cgroups.mode

    def identity(self, project: ProjectIdentity | None) -> RecipeUser | None:
        """Who runs the recipes of ``project``.

        None (the service's own user) without a recipe user; the project's
        own id with per-project ids on and a project given; the named user
        otherwise. Raises :class:`ContainmentError` for a slot past the
        range.
        """
        if self.user is None or self.ids is None or project is None:
            return self.user
        assert self.projects_dir is not None
        return _project_user(self.user, self.ids, project, self.projects_dir)

    def prepare(self, user: RecipeUser | None) -> None:
        """Make ``user``'s project folder with its ``home`` and ``tmp``.

        Nothing to do for the named user or none. Blocks. Raises
        :class:`ContainmentError` when the folders cannot be made.
        """
        if user is None or user.folder is None:
            return
        prepare_project_folder(user.folder.parent, user.folder.name, user.uid, user.gid)

    def folder_uid(self, folder: Path) -> int | None:
        """The project id that owns ``folder``, if it is one of the range.

        None for a missing folder, a symlink, or an owner outside the range
        (never, then, the service or a host user). Blocks.
        """
        if self.ids is None:
            return None
        try:
            info = folder.lstat()
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(info.st_mode):
            return None
        first = self.ids.base + 1
        return info.st_uid if first <= info.st_uid < first + self.ids.count else None

    def project_folder(self, project: str) -> Path | None:
        """The folder ``project`` keeps between jobs, if ids are per project."""
        return None if self.projects_dir is None else self.projects_dir / project

    def limits(
        self, memory_mb: int | None, pids: int | None
    ) -> tuple[int | None, int | None]:
        """A job's memory (MiB) and process limits with the defaults filled in."""
        return memory_mb or self.default_memory_mb, pids or self.default_pids

    def process_rlimit(self, pids: int | None) -> int | None:
        """The ``RLIMIT_NPROC`` to set where no control group limits processes.

        The kernel counts every process of the recipe's uid against it.
        With per-project ids that is every process of the project: its
        concurrent jobs share the limit, and no other project's jobs count
        (with the named user for all, every running recipe counts). Root
        would ignore it, hence only with a recipe user.
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
            "recipe_ids": {"base": self.ids.base, "count": self.ids.count}
            if self.ids
            else None,
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

    def spawn_options(self, user: RecipeUser | None) -> dict[str, Any]:
        """Keyword arguments for ``subprocess`` that switch to ``user``."""
        # TODO: recipes share the host's network and process list, so a
        # server one project's tests start on loopback answers another
        # project's recipe, and command lines show across projects in
        # /proc; a network namespace per job and /proc mounted with
        # hidepid would close both.
        if user is None:
            return {}
        # extra_groups=[] makes the child drop the service's supplementary
        # groups (subprocess keeps them when it is not given).
        return {
            "user": user.uid,
            "group": user.gid,
            "extra_groups": [],
            "umask": RECIPE_UMASK,
        }

    def environment(
        self, env: dict[str, str], owned: Iterable[Path], user: RecipeUser | None
    ) -> dict[str, str]:
        """``env`` with ``user``'s folders and names, and git's trust.

        A per-project id gets its own ``HOME``, ``TMPDIR`` and package
        caches, and ``PATH`` entries inside the shared cache folder (the
        image puts cargo's ``bin`` there) point into its own instead. A
        worktree handed to the recipe has its admin folder still owned by
        the service, which git calls dubious ownership; the command-scope
        ``safe.directory`` entries name exactly those worktrees.
        """
        if user is None:
            return env
        env = {**env, "HOME": str(user.home)}
        env["USER"] = env["LOGNAME"] = user.name
        if user.folder is not None:
            env.update(cache_variables(user.folder))
            env["TMPDIR"] = str(user.folder / "tmp")
            shared = user.folder.parent.parent
            env["PATH"] = ":".join(
                _moved(entry, shared, user.folder)
                for entry in env.get("PATH", "").split(":")
            )
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        for path in owned:
            env[f"GIT_CONFIG_KEY_{count}"] = "safe.directory"
            env[f"GIT_CONFIG_VALUE_{count}"] = str(path)
            count += 1
        env["GIT_CONFIG_COUNT"] = str(count)
        return env

    def hand_over(
        self, owned: Iterable[Path], shared: Iterable[Path], user: RecipeUser | None
    ) -> None:
        """Give ``owned`` to ``user``; let its group read ``shared`` for now."""
        if user is None:
            return
        for path in owned:
            os.chmod(path, OWNED_MODE)
            give_tree(path, user.uid, user.gid)
        for path in shared:
            self._share(path, user.gid)

    def enter(self, user: RecipeUser | None) -> None:
        """Count a job that is about to start its first process as ``user``.

        Counted from the first process on, not from :meth:`hand_over`: a
        job still checking out already has its gate running as the id,
        and another job's end must not take it for a leftover. Each call
        needs one :meth:`leave` once the job's processes are gone.
        """
        if user is None or user.folder is None:
            return
        with self._lock:
            self._jobs_by_uid[user.uid] = self._jobs_by_uid.get(user.uid, 0) + 1

    def leave(self, user: RecipeUser | None) -> None:
        """Undo one :meth:`enter`, once nothing of that job runs."""
        if user is None or user.folder is None:
            return
        with self._lock:
            left = self._jobs_by_uid.get(user.uid, 0) - 1
            if left > 0:
                self._jobs_by_uid[user.uid] = left
            else:
                self._jobs_by_uid.pop(user.uid, None)

    def idle(self, user: RecipeUser | None) -> bool:
        """True while no job has processes as ``user``, a project's id.

        Every process of that id left running is then a leftover, whatever
        session or environment it gave itself, and may go. Jobs count from
        :meth:`enter` to :meth:`leave`. Never for the named user, whom every
        project may share.
        """
        if user is None or user.folder is None:
            return False
        with self._lock:
            return user.uid not in self._jobs_by_uid

    def take_back(
        self, owned: Iterable[Path], shared: Iterable[Path], user: RecipeUser | None
    ) -> None:
        """Undo :meth:`hand_over` once the job's processes are gone."""
        if user is None:
            return
        for path in shared:
            self._unshare(path)
        for path in owned:
            give_tree(path, os.geteuid(), os.getegid())

    def _share(self, path: Path, gid: int) -> None:
        with self._lock:
            count = self._readers.get(path, 0)
            if count == 0:
                # The clone sits in a service-owned folder that no recipe
                # can write, so it cannot have been swapped for a symlink.
                # Only jobs of the clone's own project share it, so all of
                # its readers have this one group.
                os.chown(path, -1, gid, follow_symlinks=False)
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


# TODO: the image's single-user Nix store (/nix) belongs to the named user,
# so a project's own id can use what the store holds but cannot add to it:
# nix-shell or nix-build that must fetch fail. A multi-user Nix (its daemon
# builds for every caller) would serve all projects without letting one of
# them change what another gets from the store.
def _project_user(
    named: RecipeUser, ids: IdRange, project: ProjectIdentity, projects_dir: Path
) -> RecipeUser:
    number = ids.id_for(project)
    folder = projects_dir / project.name
    return RecipeUser(named.name, number, number, folder / "home", folder)


def _reserved_ids(user: RecipeUser) -> dict[int, str]:
    """Ids the per-project range must leave out."""
    return {
        0: "root",
        os.geteuid(): "the service's uid",
        os.getegid(): "the service's gid",
        user.uid: f"recipe user {user.name!r}",
        user.gid: f"the group of recipe user {user.name!r}",
    }


def _describe(user: RecipeUser | None, ids: IdRange | None) -> str:
    if user is None:
        return "the service's user"
    if ids is None:
        return f"{user.name} for every project"
    return f"ids {ids.base + 1}-{ids.base + ids.count}, one per project"


def _moved(entry: str, shared: Path, own: Path) -> str:
    """A ``PATH`` entry inside the shared cache folder, moved into ``own``."""
    path = Path(entry)
    if entry and _inside(path, shared) and path != shared:
        return str(own / path.relative_to(shared))
    return entry


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
                f"recipes (uid {user.uid}) cannot reach {folder}: {blocked} does "
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
