"""The local executor: where a recipe starts, what it may not escape."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from crafting_table import procs
from crafting_table.cgroups import JobGroup, detect
from crafting_table.containment import Containment, RecipeUser
from crafting_table.errors import ContainmentError
from crafting_table.executor import JobLimits, LocalExecutor, LocalProcess
from crafting_table.recipe_ids import IdRange, ProjectIdentity, prepare_projects_folder
from tests.confinement import (
    reachable_folder,
    recipe_user,
    require_cgroups,
    require_root,
)

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


@pytest.fixture
def containment() -> Iterator[Containment]:
    """Control groups of this host under a folder of the test's own."""
    require_cgroups()
    layout = detect(f"crafting-table-test-{time.monotonic_ns()}")
    yield Containment(cgroups=layout)
    for group in layout.leftovers():
        group.empty()
        group.remove()
    layout.release()


async def finish(process: LocalProcess) -> tuple[int, str]:
    """Read the recipe's output to the end, then clean up as the Runner does."""
    chunks = []
    with trio.fail_after(30):
        while data := await process.output.receive_some(65536):
            chunks.append(data)
        code = await process.wait()
        await process.kill_leftovers()
        await process.aclose()
    return code, b"".join(chunks).decode()


async def test_the_recipe_shell_is_in_its_groups_before_it_runs(
    containment: Containment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    place = JobGroup.add

    def slow_place(self: JobGroup, pid: int) -> None:
        # A recipe that did not wait would print its cgroup meanwhile.
        time.sleep(0.3)
        place(self, pid)

    monkeypatch.setattr(JobGroup, "add", slow_place)
    executor = LocalExecutor(containment)

    process = await executor.start(
        "cat /proc/$$/cgroup", cwd=tmp_path, env=ENV, mark="first"
    )
    code, output = await finish(process)

    instance = containment.cgroups.hierarchies[0].parent.name
    placed = [line for line in output.splitlines() if f"/{instance}/job-" in line]
    assert code == 0
    assert len(placed) == len(containment.cgroups.hierarchies), output
    assert all(line.endswith(f"/{instance}/job-first") for line in placed)
    assert containment.cgroups.leftovers() == []


async def test_a_recipe_that_cannot_be_placed_never_runs(
    containment: Containment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: JobGroup, pid: int) -> None:
        raise ContainmentError(f"cannot move process {pid}")

    monkeypatch.setattr(JobGroup, "add", refuse)
    executor = LocalExecutor(containment)

    with pytest.raises(ContainmentError, match="cannot move process"):
        await executor.start(
            f"touch {tmp_path / 'ran'}", cwd=tmp_path, env=ENV, mark="refused"
        )

    assert not (tmp_path / "ran").exists()
    assert containment.cgroups.leftovers() == []


async def test_recover_kills_and_removes_what_a_crash_left(
    containment: Containment, tmp_path: Path
) -> None:
    crashed = LocalExecutor(containment)
    process = await crashed.start(
        "echo $$; setsid sleep 300 & exec sleep 300",
        cwd=tmp_path,
        env=ENV,
        mark="crashed",
    )
    with trio.fail_after(10):
        shell = int((await process.output.receive_some(100)).split()[0])
    group = containment.cgroups.group("job-crashed")
    with trio.fail_after(10):
        while len(group.members()) < 2:
            await trio.sleep(0.02)
    members = group.members()

    recovered = await LocalExecutor(containment).recover()
    await process.wait()
    await process.output.aclose()

    assert recovered == 1
    assert shell in members
    assert not any(procs.is_running(pid) for pid in members)
    assert containment.cgroups.leftovers() == []


async def test_without_groups_the_recipe_user_has_a_process_limit(
    tmp_path: Path,
) -> None:
    require_root()
    user = RecipeUser.lookup(recipe_user().pw_name, tmp_path)
    executor = LocalExecutor(Containment(user=user))

    # The recipe enters its folder as its own user: it must be able to.
    with reachable_folder() as folder:
        process = await executor.start(
            "id -u; grep 'Max processes' /proc/$$/limits",
            cwd=folder,
            env=ENV,
            mark="rlimit",
            limits=JobLimits(pids=12),
        )
        code, output = await finish(process)

    uid, limits = output.splitlines()
    assert code == 0, output
    assert int(uid) == user.uid != os.geteuid()
    assert limits.split()[2:4] == ["12", "12"]


async def test_a_job_ending_spares_the_gate_of_its_projects_next_job() -> None:
    # Without groups, the last job of a project to end kills every process
    # of the project's id; a job still checking out has its gate running
    # as that id already, and must count as running.
    require_root()
    with reachable_folder() as folder:
        user = RecipeUser.lookup(recipe_user().pw_name, folder)
        containment = Containment(
            user=user,
            ids=IdRange(300_000, 10),
            projects_dir=prepare_projects_folder(folder),
        )
        executor = LocalExecutor(containment)
        project = ProjectIdentity("demo", 1)
        first = await executor.start(
            "exit 0", cwd=folder, env=ENV, mark="first", project=project
        )
        second = await executor.prepare(
            "echo ran", cwd=folder, env=ENV, mark="second", project=project
        )
        await finish(first)

        code, output = await finish(await second.go({}))

    assert (code, output) == (0, "ran\n")
    assert containment.idle(containment.identity(project))


async def test_the_later_of_two_jobs_ending_together_kills_what_both_left() -> None:
    # The first job leaves a process with no mark, in a session of its own,
    # while the second runs; the second's end takes it, even though the
    # first has not closed yet.
    require_root()
    with reachable_folder() as folder:
        user = RecipeUser.lookup(recipe_user().pw_name, folder)
        containment = Containment(
            user=user,
            ids=IdRange(300_000, 10),
            projects_dir=prepare_projects_folder(folder),
        )
        executor = LocalExecutor(containment)
        project = ProjectIdentity("demo", 1)
        gate = folder / "gate"
        first = await executor.start(
            "env -i setsid sh -c 'echo $$; exec sleep 300 </dev/null >/dev/null 2>&1' "
            "&",
            cwd=folder,
            env=ENV,
            mark="first",
            project=project,
        )
        second = await executor.start(
            f"while [ ! -e {gate} ]; do sleep 0.05; done",
            cwd=folder,
            env=ENV,
            mark="second",
            project=project,
        )
        with trio.fail_after(30):
            daemon = int((await first.output.receive_some(100)).decode())
            await first.wait()
            spared = await first.kill_leftovers()
            gate.touch()
            await second.wait()
            killed = await second.kill_leftovers()
        await first.aclose()
        await second.aclose()

    assert spared == []
    assert killed == [daemon]
    assert not procs.is_running(daemon)


async def test_without_groups_nothing_the_recipe_left_survives(tmp_path: Path) -> None:
    # No mark and another session: only the job's subreaper can find it.
    pid_file = tmp_path / "escapee"
    process = await LocalExecutor(Containment()).start(
        f"env -i setsid sh -c 'echo $$ > {pid_file}; exec sleep 300' & "
        f"while [ ! -s {pid_file} ]; do sleep 0.01; done; exit 3",
        cwd=tmp_path,
        env=ENV,
        mark="swept",
    )

    code, output = await finish(process)

    assert code == 3, output
    assert "killed 1 process(es) the recipe left running" in output
    assert not procs.is_running(int(pid_file.read_text()))


async def test_without_groups_a_stubborn_recipe_is_killed_whole(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "escapee"
    process = await LocalExecutor(Containment()).start(
        "trap '' TERM; "
        f'env -i setsid sh -c \'trap "" TERM; echo $$ > {pid_file}; '
        "exec sleep 300' & exec sleep 300",
        cwd=tmp_path,
        env=ENV,
        mark="stubborn",
    )
    with trio.fail_after(10):
        while not pid_file.exists() or not pid_file.read_text().strip():
            await trio.sleep(0.02)

    # What the Runner does at a deadline: SIGTERM, a grace period, SIGKILL.
    process.terminate()
    with trio.move_on_after(0.5):
        await process.wait()
    process.kill()
    code, _ = await finish(process)

    assert code == -9
    assert not procs.is_running(int(pid_file.read_text()))


async def test_without_groups_the_status_is_the_shells(tmp_path: Path) -> None:
    process = await LocalExecutor(Containment()).start(
        "echo ready; exec sleep 300", cwd=tmp_path, env=ENV, mark="status"
    )
    with trio.fail_after(10):
        assert await process.output.receive_some(100) == b"ready\n"

    process.terminate()
    code, _ = await finish(process)

    assert code == -15
