"""Per-project recipe ids: the range, and the folder each project keeps."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from crafting_table.errors import ContainmentError
from crafting_table.recipe_ids import (
    IdRange,
    ProjectIdentity,
    ids_mapped,
    prepare_project_folder,
    prepare_projects_folder,
    project_folders,
)
from tests.confinement import require_root

UID = GID = 200_123


@pytest.mark.parametrize(
    ("map_text", "low", "high", "expected"),
    [
        pytest.param("0 0 4294967295\n", 200_001, 265_536, True, id="whole"),
        pytest.param("0 1000 65536\n", 200_001, 200_010, False, id="rootless"),
        pytest.param("0 1000 65536\n", 60_001, 65_535, True, id="inside"),
        pytest.param("0 1000 65536\n", 60_001, 65_536, False, id="one-past"),
        pytest.param("0 0 1000\n1000 5000 100000\n", 2000, 3000, True, id="second"),
    ],
)
def test_ids_mapped(
    tmp_path: Path, map_text: str, low: int, high: int, expected: bool
) -> None:
    map_file = tmp_path / "uid_map"
    map_file.write_text(map_text)

    assert ids_mapped(map_file, low, high) is expected


def test_no_map_means_every_id_exists(tmp_path: Path) -> None:
    assert ids_mapped(tmp_path / "absent", 1, 2**31)


@pytest.mark.parametrize(
    ("slot", "allowed"),
    [
        pytest.param(1, True, id="first"),
        pytest.param(5, True, id="last"),
        pytest.param(6, False, id="past"),
        pytest.param(0, False, id="zero"),
    ],
)
def test_ids_stay_in_their_range(slot: int, allowed: bool) -> None:
    ids = IdRange(base=1000, count=5)
    identity = ProjectIdentity("demo", slot)

    if allowed:
        assert ids.id_for(identity) == 1000 + slot
    else:
        with pytest.raises(ContainmentError, match=f"slot {slot}"):
            ids.id_for(identity)


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_a_projects_folder_is_made_for_its_id_alone(tmp_path: Path) -> None:
    require_root()
    projects = prepare_projects_folder(tmp_path)

    folder = prepare_project_folder(projects, "demo", UID, GID)

    assert owner_and_mode(projects) == (0, 0, 0o711)
    for path in (folder, folder / "home", folder / "tmp"):
        assert owner_and_mode(path) == (UID, GID, 0o700), path
    assert project_folders(tmp_path) == ["demo"]


def test_what_a_recipe_put_in_place_of_its_folders_is_replaced(tmp_path: Path) -> None:
    require_root()
    projects = prepare_projects_folder(tmp_path)
    folder = prepare_project_folder(projects, "demo", UID, GID)
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o700)
    (folder / "home").rmdir()
    (folder / "home").symlink_to(outside)
    (folder / "tmp").rmdir()
    (folder / "tmp").write_text("not a folder")
    (folder / "pip").mkdir()
    (folder / "pip" / "kept").write_text("cache entry")

    prepare_project_folder(projects, "demo", UID, GID)

    assert owner_and_mode(outside) == (0, 0, 0o700)
    assert owner_and_mode(folder / "home") == (UID, GID, 0o700)
    assert owner_and_mode(folder / "tmp") == (UID, GID, 0o700)
    assert (folder / "pip" / "kept").read_text() == "cache entry"


def test_a_folder_of_another_id_is_emptied_not_inherited(tmp_path: Path) -> None:
    require_root()
    projects = prepare_projects_folder(tmp_path)
    old = prepare_project_folder(projects, "demo", UID, GID)
    (old / "home" / "secret").write_text("the old project's")

    new = prepare_project_folder(projects, "demo", UID + 1, GID + 1)

    assert owner_and_mode(new) == (UID + 1, GID + 1, 0o700)
    assert sorted(p.name for p in new.iterdir()) == ["home", "tmp"]
    assert not (new / "home" / "secret").exists()


def test_only_real_folders_count_as_kept(tmp_path: Path) -> None:
    require_root()
    projects = prepare_projects_folder(tmp_path)
    prepare_project_folder(projects, "demo", UID, GID)
    (projects / "link").symlink_to(tmp_path)
    (projects / "file").write_text("x")

    assert project_folders(tmp_path) == ["demo"]
    assert project_folders(tmp_path / "nowhere") == []
