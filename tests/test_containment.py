"""The containment set-up: the recipe user, the folders it gets, the privileges."""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from crafting_table.config import Settings
from crafting_table.containment import (
    Containment,
    RecipeUser,
    give_tree,
    missing_capabilities,
)
from crafting_table.errors import ConfigError, ContainmentError
from crafting_table.jobenv import recipe_env
from crafting_table.recipe_ids import ProjectIdentity
from tests.confinement import (
    RECIPE_USER,
    reachable_folder,
    recipe_user,
    require_root,
)


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A folder for a workspace and caches that the recipe user can reach."""
    with reachable_folder() as folder:
        yield folder


def the_recipe_user(cache_dir: Path) -> RecipeUser:
    """The test recipe user, as the service would look it up."""
    require_root()
    return RecipeUser.lookup(recipe_user().pw_name, cache_dir)


def contained_settings(folder: Path, **changes: object) -> Settings:
    """Settings with a recipe user and no control groups, folders made."""
    values: dict[str, object] = {
        "data_dir": folder / "data",
        "workspace_dir": folder / "workspace",
        "cache_dir": folder / "caches",
        "recipe_user": recipe_user().pw_name,
        "containment": "none",
        **changes,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]
    for folder in (settings.data_dir, settings.workspace_dir, settings.cache_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return settings


@pytest.mark.parametrize(
    ("effective", "missing"),
    [
        pytest.param("000001ffffffffff", [], id="root"),
        pytest.param(
            "0000000000000000",
            [
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FOWNER",
                "CAP_KILL",
                "CAP_SETGID",
                "CAP_SETUID",
            ],
            id="none",
        ),
        pytest.param(
            "00000000000000c0",
            ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL"],
            id="setid-only",
        ),
    ],
)
def test_missing_capabilities(effective: str, missing: list[str]) -> None:
    status = f"Name:\tpython3\nCapPrm:\tffffffffff\nCapEff:\t{effective}\n"

    assert missing_capabilities(status) == missing


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("root", "is root", id="root"),
        pytest.param("no-such-user-here", "not a user", id="unknown"),
    ],
)
def test_unusable_recipe_users(tmp_path: Path, name: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        RecipeUser.lookup(name, tmp_path)


def test_home_is_the_users_own_folder_or_one_in_the_cache(tmp_path: Path) -> None:
    user = the_recipe_user(tmp_path)

    entry = recipe_user()
    own = Path(entry.pw_dir)
    usable = own.is_dir() and own.stat().st_uid == entry.pw_uid
    assert user.home == (own if usable else tmp_path / "home")
    assert (user.uid, user.gid) == (entry.pw_uid, entry.pw_gid)


def test_give_tree_follows_no_symlink(tmp_path: Path) -> None:
    user = the_recipe_user(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("y")
    (tree / "to-file").symlink_to(outside / "precious")
    (tree / "to-folder").symlink_to(outside)

    give_tree(tree, user.uid, user.gid)

    for path in (tree, tree / "sub", tree / "sub" / "file", tree / "to-file"):
        assert os.lstat(path).st_uid == user.uid, path
    assert os.lstat(tree / "to-folder").st_uid == user.uid
    assert (outside / "precious").stat().st_uid == 0
    assert outside.stat().st_uid == 0


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param({"cache_dir": "data/caches"}, id="cache-in-data"),
        pytest.param({"data_dir": "caches/data"}, id="data-in-cache"),
        pytest.param({"data_dir": "workspace/data"}, id="data-in-workspace"),
        pytest.param({"workspace_dir": "caches/ws"}, id="workspace-in-cache"),
    ],
)
def test_overlapping_folders_are_refused(
    reachable: Path, layout: dict[str, str]
) -> None:
    require_root()
    settings = contained_settings(
        reachable, **{key: reachable / value for key, value in layout.items()}
    )

    with pytest.raises(ConfigError, match="overlap"):
        Containment.setup(settings)


def test_a_workspace_the_recipe_user_cannot_reach_is_refused(reachable: Path) -> None:
    require_root()
    closed = reachable / "closed"
    settings = contained_settings(reachable, workspace_dir=closed / "workspace")
    os.chmod(closed, 0o700)

    with pytest.raises(ConfigError, match=f"{closed} does not let it pass"):
        Containment.setup(settings)


def test_without_project_ids_the_caches_are_the_recipe_users(
    reachable: Path,
) -> None:
    require_root()
    settings = contained_settings(reachable, recipe_uid_base=0)
    precious = reachable / "precious"
    precious.mkdir()
    (settings.cache_dir / "npm").symlink_to(precious)
    (settings.cache_dir / "pip").mkdir()
    (settings.cache_dir / "pip" / "old-entry").write_text("z")

    containment = Containment.setup(settings)

    assert containment.user is not None
    uid = containment.user.uid
    for relative in (".", "pip", "pip/old-entry", "go/mod", "npm", "maven"):
        assert os.lstat(settings.cache_dir / relative).st_uid == uid, relative
    assert not (settings.cache_dir / "npm").is_symlink()
    assert precious.stat().st_uid == 0
    assert containment.health()["process_limit"] == "rlimit"
    assert containment.health()["recipe_ids"] is None
    assert containment.identity(ProjectIdentity("demo", 1)) == containment.user


def test_with_project_ids_each_project_gets_its_own(reachable: Path) -> None:
    require_root()
    settings = contained_settings(reachable, recipe_uid_base=300_000)
    (settings.cache_dir / "pip").mkdir()

    containment = Containment.setup(settings)
    first = containment.identity(ProjectIdentity("alpha", 1))
    second = containment.identity(ProjectIdentity("beta", 7))

    projects = settings.cache_dir / "projects"
    assert first is not None
    assert second is not None
    assert (first.uid, first.gid) == (300_001, 300_001)
    assert (second.uid, second.gid) == (300_007, 300_007)
    assert first.folder == projects / "alpha"
    assert first.home == projects / "alpha" / "home"
    assert first.name == second.name == recipe_user().pw_name
    assert stat.S_IMODE(projects.stat().st_mode) == 0o711
    assert projects.stat().st_uid == os.geteuid()
    # The shared layout's folders are left as they were, and unused.
    assert (settings.cache_dir / "pip").stat().st_uid == os.geteuid()
    assert containment.health()["recipe_ids"] == {"base": 300_000, "count": 65536}
    assert containment.project_folder("alpha") == projects / "alpha"


def test_a_slot_past_the_range_is_refused(reachable: Path) -> None:
    require_root()
    settings = contained_settings(reachable, recipe_uid_count=10)
    containment = Containment.setup(settings)

    with pytest.raises(ContainmentError, match="slot 11, past the 10 ids"):
        containment.identity(ProjectIdentity("late", 11))


@pytest.mark.parametrize(
    ("holder", "reason"),
    [
        pytest.param(RECIPE_USER, "recipe user", id="recipe-user"),
        pytest.param("nobody", "user 'nobody'", id="another-user"),
    ],
)
def test_a_range_holding_a_known_id_is_refused(
    reachable: Path, holder: str, reason: str
) -> None:
    require_root()
    recipe_user()
    uid = pwd.getpwnam(holder).pw_uid
    settings = contained_settings(
        reachable, recipe_uid_base=uid - 1, recipe_uid_count=1
    )

    with pytest.raises(ConfigError, match=f"include {reason}"):
        Containment.setup(settings)


def test_the_environment_names_the_user_and_trusts_its_worktrees(
    tmp_path: Path,
) -> None:
    user = the_recipe_user(tmp_path)
    containment = Containment(user=user)
    trees = [tmp_path / "w1", tmp_path / "w2"]

    env = containment.environment(
        {"HOME": "/root", "GIT_CONFIG_COUNT": "1", "PATH": "/bin"}, trees, user
    )

    assert env["HOME"] == str(user.home)
    assert env["USER"] == env["LOGNAME"] == user.name
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert [env[f"GIT_CONFIG_VALUE_{i}"] for i in (1, 2)] == [str(t) for t in trees]
    assert {env[f"GIT_CONFIG_KEY_{i}"] for i in (1, 2)} == {"safe.directory"}
    assert "TMPDIR" not in env
    assert Containment().environment({"HOME": "/root"}, trees, None) == {
        "HOME": "/root"
    }


def test_a_projects_environment_points_into_its_own_folder(tmp_path: Path) -> None:
    cache = tmp_path / "caches"
    own = cache / "projects" / "alpha"
    user = RecipeUser("recipe", 200_001, 200_001, own / "home", own)
    base = recipe_env(passthrough=[], cache_dir=cache, job={})
    base["PATH"] = f"/usr/bin:{cache / 'cargo' / 'bin'}:/bin"

    env = Containment(user=user).environment(base, [], user)

    assert env["HOME"] == str(own / "home")
    assert env["TMPDIR"] == str(own / "tmp")
    assert env["PIP_CACHE_DIR"] == str(own / "pip")
    assert env["GOMODCACHE"] == str(own / "go" / "mod")
    assert env["MAVEN_OPTS"] == f"-Dmaven.repo.local={own / 'maven'}"
    assert env["PATH"] == f"/usr/bin:{own / 'cargo' / 'bin'}:/bin"
    assert not [v for v in env.values() if str(cache / "pip") in v]


def test_folders_change_hands_for_the_job_and_come_back(tmp_path: Path) -> None:
    user = the_recipe_user(tmp_path)
    containment = Containment(user=user)
    tree = tmp_path / "worktree"
    (tree / "src").mkdir(parents=True)
    clone = tmp_path / "clone"
    clone.mkdir(mode=0o700)

    containment.hand_over([tree], [clone], user)
    containment.hand_over([], [clone], user)
    handed = (tree / "src").stat().st_uid, stat.S_IMODE(tree.stat().st_mode)
    shared = stat.S_IMODE(clone.stat().st_mode), clone.stat().st_gid
    containment.take_back([tree], [clone], user)
    still_shared = stat.S_IMODE(clone.stat().st_mode)
    containment.take_back([], [clone], user)

    assert handed == (user.uid, 0o700)
    assert shared == (0o750, user.gid)
    assert still_shared == 0o750
    assert stat.S_IMODE(clone.stat().st_mode) == 0o700
    assert (tree / "src").stat().st_uid == os.geteuid()


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        pytest.param((None, None), (2048, 300), id="defaults"),
        pytest.param((512, 50), (512, 50), id="asked"),
        pytest.param((512, None), (512, 300), id="mixed"),
    ],
)
def test_limits_fill_in_the_defaults(
    asked: tuple[int | None, int | None], expected: tuple[int, int]
) -> None:
    containment = Containment(default_memory_mb=2048, default_pids=300)

    assert containment.limits(*asked) == expected


def test_a_zero_default_means_no_limit() -> None:
    assert Containment(default_memory_mb=0, default_pids=0).limits(None, None) == (
        None,
        None,
    )
