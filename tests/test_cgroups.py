"""Control groups: reading the host's layout, and a job's groups on this host."""

from __future__ import annotations

import errno
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crafting_table import procs
from crafting_table.cgroups import (
    SERVICE_LEAF,
    CgroupLayout,
    Mount,
    detect,
    own_folder,
    parse_mountinfo,
    parse_proc_cgroup,
)
from crafting_table.errors import ConfigError
from tests.confinement import host_mode, require_cgroups

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = """\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""
# A container without its own cgroup namespace: the mount shows a subtree,
# mounted twice, and the cpu hierarchy is shared with cpuacct.
CONTAINER = """\
601 600 0:40 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
602 600 0:41 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct
603 600 0:40 /docker/abc /mnt/again ro,nosuid - cgroup cgroup rw,memory
604 600 0:42 / /mnt/with\\040space rw - cgroup2 cgroup2 rw
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            HYBRID,
            [
                (1, "/sys/fs/cgroup/cpu", "/", {"cpu"}),
                (1, "/sys/fs/cgroup/memory", "/", {"memory"}),
                (1, "/sys/fs/cgroup/pids", "/", {"pids"}),
                (2, "/sys/fs/cgroup/unified", "/", set()),
            ],
            id="hybrid",
        ),
        pytest.param(UNIFIED, [(2, "/sys/fs/cgroup", "/", set())], id="unified"),
        pytest.param(
            CONTAINER,
            [
                (1, "/sys/fs/cgroup/memory", "/docker/abc", {"memory"}),
                (1, "/sys/fs/cgroup/cpu,cpuacct", "/docker/abc", {"cpu", "cpuacct"}),
                (2, "/mnt/with space", "/", set()),
            ],
            id="container",
        ),
        pytest.param("", [], id="empty"),
    ],
)
def test_parse_mountinfo(
    text: str, expected: list[tuple[int, str, str, set[str]]]
) -> None:
    mounts = parse_mountinfo(text)

    assert [(m.version, str(m.path), m.root, set(m.controllers)) for m in mounts] == (
        expected
    )


@pytest.mark.parametrize(
    ("text", "unified", "legacy"),
    [
        pytest.param(
            "9:name=systemd:/\n8:pids:/\n4:memory:/a/b\n1:cpu,cpuacct:/c\n0::/\n",
            "/",
            {"pids": "/", "memory": "/a/b", "cpu": "/c", "cpuacct": "/c"},
            id="hybrid",
        ),
        pytest.param(
            "0::/system.slice/ct.service\n",
            "/system.slice/ct.service",
            {},
            id="unified",
        ),
        pytest.param("4:memory:/x\n", None, {"memory": "/x"}, id="legacy-only"),
    ],
)
def test_parse_proc_cgroup(
    text: str, unified: str | None, legacy: dict[str, str]
) -> None:
    assert parse_proc_cgroup(text) == (unified, legacy)


@pytest.mark.parametrize(
    ("root", "path", "expected"),
    [
        pytest.param("/", "/a/b", "a/b", id="below-root"),
        pytest.param("/", "/", "", id="root"),
        pytest.param("/docker/abc", "/docker/abc", "", id="container-root"),
        pytest.param("/docker/abc", "/docker/abc/a", "a", id="container-child"),
        pytest.param("/docker/abc", "/docker/abcd", None, id="sibling-prefix"),
        pytest.param("/docker/abc", "/other", None, id="elsewhere"),
        pytest.param("/", None, None, id="not-in-hierarchy"),
    ],
)
def test_own_folder(
    tmp_path: Path, root: str, path: str | None, expected: str | None
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    mount = Mount(1, tmp_path, root, frozenset({"pids"}))

    found = own_folder(mount, path)

    assert found == (None if expected is None else tmp_path / expected)


def test_turned_off_on_request() -> None:
    assert detect("crafting-table-unused", "none").mode == "none"


def test_a_mode_the_host_lacks_is_a_configuration_error() -> None:
    lacking = "hybrid" if host_mode() == "cgroup2" else "cgroup2"

    with pytest.raises(ConfigError, match=f"CRAFTING_CONTAINMENT={lacking}"):
        detect("crafting-table-unused", lacking).release()


@pytest.fixture
def layout() -> Iterator[CgroupLayout]:
    """This host's layout under a test's own folder, removed afterwards."""
    require_cgroups()
    found = detect(f"crafting-table-test-{time.monotonic_ns()}")
    yield found
    for group in found.leftovers():
        group.empty()
        group.remove()
    found.release()
    assert not any(h.parent.exists() for h in found.hierarchies)


def test_a_group_carries_the_limits(layout: CgroupLayout) -> None:
    group = layout.group("job-limits")

    group.create(memory_mb=64, pids=20)

    values = {}
    for hierarchy, folder in group.pairs:
        for name in ("pids.max", "memory.max", "memory.limit_in_bytes"):
            if name.split(".")[0] in hierarchy.controllers and (folder / name).exists():
                values[name.split(".")[0]] = (folder / name).read_text().strip()
    assert values == {"pids": "20", "memory": str(64 * 1024 * 1024)}
    assert [g.name for g in layout.leftovers()] == ["job-limits"]
    assert group.remove()
    assert not any(folder.exists() for folder in group.folders)


def test_a_group_holds_what_its_members_start_and_kills_all(
    layout: CgroupLayout,
) -> None:
    group = layout.group("job-members")
    group.create(memory_mb=None, pids=None)
    parent = subprocess.Popen(
        ["sh", "-c", "read -r go; sleep 300 & sleep 300 & wait"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    assert parent.stdin is not None
    try:
        group.add(parent.pid)
        parent.stdin.write(b"go\n")
        parent.stdin.close()
        deadline = time.monotonic() + 10
        while len(group.members()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        members = group.members()

        killed = group.empty()
        parent.wait(10)
        # The sleeps die as orphans; a service in this process made it
        # their subreaper.
        procs.reap_adopted(lambda pid: pid in members)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()

    assert len(members) == 3
    assert parent.pid in members
    assert killed == members
    assert group.members() == set()
    assert not any(procs.is_running(pid) for pid in members)
    assert group.remove()


class FakeUnified:
    """A cgroup2 folder tree in plain files, with the kernel's rules that matter.

    Enabling a controller for the children of a group that holds processes
    fails with EBUSY; writing a pid to ``cgroup.procs`` moves it.
    """

    def __init__(self, root: Path, controllers: str, pids: list[int]) -> None:
        self.root = root
        self.own = root / "system.slice" / "ct.service"
        self.own.mkdir(parents=True)
        (self.own / "cgroup.controllers").write_text(controllers + "\n")
        (self.own / "cgroup.subtree_control").write_text("\n")
        (self.own / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))

    def write(self, path: Path, value: str) -> None:
        if path.name == "cgroup.subtree_control":
            if path.parent == self.own and self.pids(self.own):
                raise OSError(errno.EBUSY, "Device or resource busy")
            names = set(path.read_text().split()) if path.exists() else set()
            path.write_text(" ".join(sorted(names | {value.lstrip("+")})))
        elif path.name == "cgroup.procs":
            for folder in self.root.rglob("cgroup.procs"):
                kept = [p for p in self.pids(folder.parent) if p != int(value)]
                folder.write_text("".join(f"{p}\n" for p in kept))
            path.write_text("".join(f"{p}\n" for p in [*self.pids(path.parent), value]))
        else:
            path.write_text(value)

    def pids(self, folder: Path) -> list[int]:
        procs_file = folder / "cgroup.procs"
        return (
            [int(p) for p in procs_file.read_text().split()]
            if procs_file.exists()
            else []
        )


@pytest.mark.parametrize(
    ("controllers", "mode", "enabled"),
    [
        pytest.param(
            "cpu io memory pids", "cgroup2", {"cpu", "memory", "pids"}, id="all"
        ),
        pytest.param("memory pids", "cgroup2", {"memory", "pids"}, id="no-cpu"),
        pytest.param("cpu io", "none", None, id="no-limits"),
    ],
)
def test_unified_hands_controllers_down_past_the_services_own_processes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    controllers: str,
    mode: str,
    enabled: set[str] | None,
) -> None:
    fake = FakeUnified(tmp_path, controllers, [101, 202])
    monkeypatch.setattr("crafting_table.cgroups._write", fake.write)

    layout = detect(
        "crafting-table-x",
        mountinfo=f"26 25 0:24 / {tmp_path} rw - cgroup2 cgroup2 rw\n",
        proc_cgroup="0::/system.slice/ct.service\n",
    )

    assert layout.mode == mode
    if enabled is None:
        assert fake.pids(fake.own) == [101, 202]
        return
    (hierarchy,) = layout.hierarchies
    assert hierarchy.parent == fake.own / "crafting-table-x"
    assert hierarchy.controllers == enabled
    assert fake.pids(fake.own / SERVICE_LEAF) == [101, 202]
    assert fake.pids(fake.own) == []
    assert set((hierarchy.parent / "cgroup.subtree_control").read_text().split()) == (
        enabled
    )


def test_a_restarted_service_in_the_leaf_uses_the_same_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeUnified(tmp_path, "memory pids", [101])
    monkeypatch.setattr("crafting_table.cgroups._write", fake.write)
    mountinfo = f"26 25 0:24 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    first = detect("ct", mountinfo=mountinfo, proc_cgroup="0::/system.slice/ct.service")

    again = detect(
        "ct",
        mountinfo=mountinfo,
        proc_cgroup=f"0::/system.slice/ct.service/{SERVICE_LEAF}\n",
    )

    assert again.hierarchies == first.hierarchies
