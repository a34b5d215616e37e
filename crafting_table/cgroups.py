"""Control groups for recipes: what this host offers, and one group per job.

:func:`detect` looks once, at start, at the hierarchies mounted here and at
the service's own place in them, and returns a :class:`CgroupLayout` in one
of these modes:

``cgroup2``
    a unified hierarchy with the pids and memory controllers. Each job gets
    one group carrying ``pids.max`` and ``memory.max``, emptied at the end
    with ``cgroup.kill``.
``hybrid``
    v1 controllers beside a v2 hierarchy that has none of them (systemd's
    hybrid layout). The job's v2 group gives membership and ``cgroup.kill``;
    its groups in the v1 ``pids`` and ``memory`` hierarchies carry the
    limits and are emptied by killing every pid they list.
``cgroup1``
    the same without any v2 hierarchy: membership comes from the v1 groups.
``none``
    nothing usable or writable; the executor falls back to process groups
    and environment marks.

Where the host offers the cpu controller, a job's group joins it too, with
nothing changed: the scheduler then weighs a job with a thousand busy
processes as one entity against the service, which keeps ``/healthz``
answering during a fork bomb.

Job groups live below the service's own group in each hierarchy, in one
folder per service instance named from its data folder, so that a
restarted service finds and kills what its predecessor left
(:meth:`CgroupLayout.leftovers`). Only root may write a group's
``cgroup.procs``, so a recipe running as its own user cannot leave.

Everything here blocks on the cgroup file system: call it from a worker
thread.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crafting_table.errors import ConfigError, ContainmentError

logger = logging.getLogger(__name__)

Mode = Literal["cgroup2", "hybrid", "cgroup1", "none"]
LIMIT_CONTROLLERS = frozenset({"pids", "memory"})
OPTIONAL_CONTROLLERS = frozenset({"cpu"})
_V1_CONTROLLERS = frozenset(
    {
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "misc",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
    }
)
JOB_PREFIX = "job-"
# Where the service's own processes move when its v2 group must hand its
# controllers down: a group holding processes cannot (the kernel's "no
# internal processes" rule), so they go to a leaf beside the job groups.
SERVICE_LEAF = "crafting-table-service"
# How long a kill or a removal keeps trying before it reports failure.
SETTLE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Mount:
    """A mounted cgroup hierarchy, as ``/proc/self/mountinfo`` shows it."""

    version: int
    path: Path
    root: str
    controllers: frozenset[str]


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Where this service makes job groups in one hierarchy, and their use.

    ``controllers`` are the ones a job group here is subject to (empty for
    a v2 hierarchy used for membership only); ``killable`` tells whether
    its groups have ``cgroup.kill``.
    """

    version: int
    parent: Path
    controllers: frozenset[str]
    killable: bool


def instance_name(data_dir: Path) -> str:
    """The folder name of one service's job groups, stable across restarts."""
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return f"crafting-table-{digest}"


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup hierarchies in a ``mountinfo`` text, first mount of each."""
    mounts: list[Mount] = []
    seen: set[frozenset[str] | None] = set()
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, kind = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(kind) < 3:
            continue
        if kind[0] == "cgroup2":
            key, version, names = None, 2, frozenset[str]()
        elif kind[0] == "cgroup":
            names = frozenset(kind[2].split(",")) & _V1_CONTROLLERS
            if not names:
                continue
            key, version = names, 1
        else:
            continue
        if key in seen:
            continue
        seen.add(key)
        mounts.append(
            Mount(version, Path(_unescape(fields[4])), _unescape(fields[3]), names)
        )
    return mounts


def parse_proc_cgroup(text: str) -> tuple[str | None, dict[str, str]]:
    """From ``/proc/<pid>/cgroup``: the v2 path, and each v1 controller's path."""
    unified: str | None = None
    legacy: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        number, controllers, path = parts
        if number == "0" and not controllers:
            unified = path
            continue
        for name in controllers.split(","):
            if name in _V1_CONTROLLERS:
                legacy[name] = path
    return unified, legacy


def own_folder(mount: Mount, path: str | None) -> Path | None:
    """The folder of cgroup ``path`` under ``mount``; None if it shows another part."""
    if path is None or not path.startswith("/"):
        return None
    root = mount.root.rstrip("/")
    if path != mount.root and not path.startswith(root + "/"):
        return None
    folder = mount.path / path[len(root) :].lstrip("/")
    return folder if folder.is_dir() else None


def _read(path: Path) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: Path, value: str) -> None:
    # One write() per value: the kernel parses each write on its own.
    with open(path, "w") as handle:
        handle.write(value)


def _make(folder: Path) -> None:
    """Create a group; in a hierarchy with cpuset, give it its parent's CPUs."""
    folder.mkdir(exist_ok=True)
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine, theirs = folder / name, folder.parent / name
        # A v1 cpuset group starts empty and refuses tasks until both are set.
        if mine.exists() and not _read(mine).strip():
            _write(mine, _read(theirs).strip())


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """What :func:`detect` found: the mode, and where job groups go."""

    mode: Mode
    hierarchies: tuple[Hierarchy, ...] = ()
    note: str = ""

    @property
    def controllers(self) -> frozenset[str]:
        """Every controller a job group is subject to."""
        found: frozenset[str] = frozenset()
        for hierarchy in self.hierarchies:
            found |= hierarchy.controllers
        return found

    def group(self, name: str) -> JobGroup:
        """The groups named ``name`` (not yet made) in every hierarchy."""
        return JobGroup(self, name)

    def leftovers(self) -> list[JobGroup]:
        """Job groups that exist now, in any hierarchy."""
        names: set[str] = set()
        for hierarchy in self.hierarchies:
            with contextlib.suppress(OSError):
                names.update(
                    entry.name
                    for entry in os.scandir(hierarchy.parent)
                    if entry.is_dir() and entry.name.startswith(JOB_PREFIX)
                )
        return [self.group(name) for name in sorted(names)]

    def release(self) -> None:
        """Remove this service's (empty) folders; what is busy stays."""
        for hierarchy in self.hierarchies:
            with contextlib.suppress(OSError):
                hierarchy.parent.rmdir()


class JobGroup:
    """One job's groups, one per hierarchy of the layout."""

    def __init__(self, layout: CgroupLayout, name: str) -> None:
        self.name = name
        self.pairs = [(h, h.parent / name) for h in layout.hierarchies]
        # /proc/<pid>/cgroup of a process in this job ends with this.
        parent = layout.hierarchies[0].parent.name if layout.hierarchies else ""
        self._suffix = f"/{parent}/{name}"

    @property
    def folders(self) -> list[Path]:
        """The group's folder in each hierarchy."""
        return [folder for _, folder in self.pairs]

    @property
    def knows_its_dead(self) -> bool:
        """True when :meth:`holds` recognises zombies too (a v2 group does)."""
        return any(hierarchy.version == 2 for hierarchy, _ in self.pairs)

    def create(self, *, memory_mb: int | None, pids: int | None) -> None:
        """Make the groups and set the limits (None: no limit).

        Raises :class:`ContainmentError` (with the groups removed again)
        when a group cannot be made or a limit cannot be set.
        """
        try:
            for hierarchy, folder in self.pairs:
                _make(folder)
                if pids and "pids" in hierarchy.controllers:
                    _write(folder / "pids.max", str(pids))
                if memory_mb and "memory" in hierarchy.controllers:
                    _limit_memory(hierarchy.version, folder, memory_mb * 1024 * 1024)
        except OSError as exc:
            self.remove(settle=1.0)
            raise ContainmentError(
                f"cannot make the control group {self.name!r}: {exc}"
            ) from exc

    def add(self, pid: int) -> None:
        """Move process ``pid`` into every group; raise ContainmentError if not."""
        try:
            for _, folder in self.pairs:
                _write(folder / "cgroup.procs", str(pid))
        except OSError as exc:
            raise ContainmentError(
                f"cannot move process {pid} into control group {self.name!r}: {exc}"
            ) from exc

    def members(self) -> set[int]:
        """Every process in any of the groups now."""
        found: set[int] = set()
        for _, folder in self.pairs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in _read(folder / "cgroup.procs").split())
        return found

    def signal(self, signum: int) -> None:
        """Send ``signum`` to every process in the groups."""
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def kill(self) -> set[int]:
        """SIGKILL everything in the groups once, without waiting; the pids seen.

        Uses ``cgroup.kill`` where there is one (processes forked meanwhile
        die too), and kills every listed pid in each hierarchy. The pids are
        read first: ``cgroup.kill`` can empty the groups before a later read.
        """
        pids = self.members()
        for hierarchy, folder in self.pairs:
            if hierarchy.killable:
                with contextlib.suppress(OSError):
                    _write(folder / "cgroup.kill", "1")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def empty(self, settle: float = SETTLE_SECONDS) -> set[int]:
        """Kill until the groups are empty or ``settle`` seconds pass; the pids seen."""
        seen: set[int] = set()
        deadline = time.monotonic() + settle
        while True:
            pids = self.kill()
            seen |= pids
            if not pids:
                return seen
            if time.monotonic() > deadline:
                logger.warning(
                    "control group %s still holds %d processes", self.name, len(pids)
                )
                return seen
            time.sleep(0.01)

    def holds(self, pid: int) -> bool:
        """True when ``pid`` (even a zombie) belongs to this job's groups."""
        try:
            text = _read(Path(f"/proc/{pid}/cgroup"))
        except OSError:
            return False
        return any(line.endswith(self._suffix) for line in text.splitlines())

    def remove(self, settle: float = SETTLE_SECONDS) -> bool:
        """Delete the (emptied) groups; False if one is still there after ``settle``."""
        deadline = time.monotonic() + settle
        done = True
        for folder in self.folders:
            while not _remove_group(folder):
                if time.monotonic() > deadline:
                    logger.warning("cannot remove control group %s", folder)
                    done = False
                    break
                time.sleep(0.02)
        return done


def _limit_memory(version: int, folder: Path, size: int) -> None:
    if version == 2:
        _write(folder / "memory.max", str(size))
        # Without this the job would swap past its limit instead of stopping.
        if (folder / "memory.swap.max").exists():
            _write(folder / "memory.swap.max", "0")
        return
    _write(folder / "memory.limit_in_bytes", str(size))
    # memory and swap together may not exceed memory alone: no swapping.
    if (folder / "memory.memsw.limit_in_bytes").exists():
        _write(folder / "memory.memsw.limit_in_bytes", str(size))


def _remove_group(folder: Path) -> bool:
    """rmdir a group and any group a (root) recipe made inside it."""
    try:
        children = [Path(e.path) for e in os.scandir(folder) if e.is_dir()]
    except FileNotFoundError:
        return True
    except OSError:
        return False
    for child in children:
        if not _remove_group(child):
            return False
    try:
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        raise
    return True


# -- detection ------------------------------------------------------------


def detect(
    instance: str,
    wanted: str = "auto",
    *,
    mountinfo: str | None = None,
    proc_cgroup: str | None = None,
) -> CgroupLayout:
    """The layout to use for this service's jobs, with its folders made.

    ``wanted`` is ``CRAFTING_CONTAINMENT``: ``auto`` takes the best mode
    available (``cgroup2``, then ``hybrid``/``cgroup1``, then ``none``);
    a named mode that is not available raises :class:`ConfigError`.
    ``mountinfo`` and ``proc_cgroup`` stand in for this process's files
    in ``/proc``.
    """
    if wanted == "none":
        return CgroupLayout("none", note="turned off by CRAFTING_CONTAINMENT=none")
    try:
        if mountinfo is None:
            mountinfo = _read(Path("/proc/self/mountinfo"))
        if proc_cgroup is None:
            proc_cgroup = _read(Path("/proc/self/cgroup"))
    except OSError as exc:
        return _unavailable(wanted, f"cannot read /proc: {exc}")
    mounts = parse_mountinfo(mountinfo)
    unified, legacy = parse_proc_cgroup(proc_cgroup)
    problems: list[str] = []
    attempts = [("cgroup2", _unified), ("hybrid", _hybrid)]
    for mode, attempt in attempts:
        if wanted not in ("auto", mode):
            continue
        try:
            layout = attempt(mounts, unified, legacy, instance)
        except OSError as exc:
            problems.append(f"{mode}: {exc}")
            continue
        if isinstance(layout, str):
            problems.append(f"{mode}: {layout}")
            continue
        return layout
    return _unavailable(wanted, "; ".join(problems))


def _unavailable(wanted: str, note: str) -> CgroupLayout:
    if wanted != "auto":
        raise ConfigError(f"CRAFTING_CONTAINMENT={wanted} is not available: {note}")
    return CgroupLayout("none", note=note)


def _unified(
    mounts: list[Mount],
    unified: str | None,
    legacy: dict[str, str],
    instance: str,
) -> CgroupLayout | str:
    mount = next((m for m in mounts if m.version == 2), None)
    own = own_folder(mount, unified) if mount else None
    if own is None:
        return "no cgroup2 hierarchy holds this process"
    if own.name == SERVICE_LEAF:
        own = own.parent
    available = set(_read(own / "cgroup.controllers").split())
    if not available >= LIMIT_CONTROLLERS:
        return f"the pids and memory controllers are not available in {own}"
    enabled = _delegate(own, (LIMIT_CONTROLLERS | OPTIONAL_CONTROLLERS) & available)
    parent = own / instance
    _make(parent)
    for name in sorted(enabled):
        _write(parent / "cgroup.subtree_control", f"+{name}")
    killable = (parent / "cgroup.kill").exists()
    hierarchy = Hierarchy(2, parent, frozenset(enabled), killable=killable)
    return CgroupLayout(
        "cgroup2", (hierarchy,), note="one cgroup2 group per job for limits and kill"
    )


def _delegate(own: Path, wanted: frozenset[str]) -> set[str]:
    """Enable ``wanted`` for the children of ``own``; the ones that could be.

    A group with processes of its own cannot do that, so on EBUSY the
    processes move into :data:`SERVICE_LEAF` first. The limit controllers
    must succeed; an optional one that fails is left out.
    """
    enabled = set(_read(own / "cgroup.subtree_control").split())
    for name in sorted(wanted - enabled, key=lambda n: n not in LIMIT_CONTROLLERS):
        try:
            _enable(own, name)
        except OSError:
            if name in LIMIT_CONTROLLERS:
                raise
            continue
        enabled.add(name)
    return enabled & wanted


def _enable(own: Path, name: str) -> None:
    try:
        _write(own / "cgroup.subtree_control", f"+{name}")
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    leaf = own / SERVICE_LEAF
    leaf.mkdir(exist_ok=True)
    for pid in _read(own / "cgroup.procs").split():
        with contextlib.suppress(ProcessLookupError):
            _write(leaf / "cgroup.procs", pid)
    logger.info("moved the processes of %s into %s to hand down controllers", own, leaf)
    _write(own / "cgroup.subtree_control", f"+{name}")


def _hybrid(
    mounts: list[Mount],
    unified: str | None,
    legacy: dict[str, str],
    instance: str,
) -> CgroupLayout | str:
    by_controller: dict[str, Mount] = {}
    for mount in mounts:
        for name in mount.controllers:
            by_controller.setdefault(name, mount)
    missing = sorted(LIMIT_CONTROLLERS - by_controller.keys())
    if missing:
        return f"no v1 hierarchy for {', '.join(missing)}"

    hierarchies: list[Hierarchy] = []
    done: set[Path] = set()
    for name in sorted(LIMIT_CONTROLLERS) + sorted(OPTIONAL_CONTROLLERS):
        found = by_controller.get(name)
        if found is None or found.path in done:
            continue
        own = own_folder(found, legacy.get(name))
        if own is None:
            if name in LIMIT_CONTROLLERS:
                return f"this process is not in the {name} hierarchy"
            continue
        parent = own / instance
        _make(parent)
        done.add(found.path)
        used = found.controllers & (LIMIT_CONTROLLERS | OPTIONAL_CONTROLLERS)
        hierarchies.append(Hierarchy(1, parent, used, killable=False))

    v2 = next((m for m in mounts if m.version == 2), None)
    own = own_folder(v2, unified) if v2 else None
    if own is None:
        return CgroupLayout(
            "cgroup1",
            tuple(hierarchies),
            note="v1 controllers only; membership from the pids hierarchy",
        )
    if own.name == SERVICE_LEAF:
        own = own.parent
    parent = own / instance
    _make(parent)
    membership = Hierarchy(
        2, parent, frozenset(), killable=(parent / "cgroup.kill").exists()
    )
    return CgroupLayout(
        "hybrid",
        (membership, *hierarchies),
        note="membership and cgroup.kill from cgroup2, limits from v1 controllers",
    )
