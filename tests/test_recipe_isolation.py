"""Recipes confined end to end: their own user, their control groups, limits.

Every test here runs the real service with ``CRAFTING_RECIPE_USER`` set to
an unprivileged user, as the image does; they need root (see
``tests/confinement.py``).
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table import procs
from crafting_table.cgroups import detect, instance_name
from crafting_table.config import Settings
from crafting_table.ledger import identities
from tests.actors.test_gc import collect
from tests.confinement import (
    RECIPE_USER,
    host_mode,
    reachable_folder,
    recipe_user,
    require_cgroups,
    require_root,
)
from tests.support import Repo, enqueue, register, run_job, runner_idle, wait_job
from tests.test_restart import Server, client


@pytest.fixture
def reachable() -> Iterator[Path]:
    """A folder for a workspace and caches that the recipe user can reach."""
    with reachable_folder() as folder:
        yield folder


@pytest.fixture
def settings(settings: Settings, reachable: Path) -> Settings:
    """The suite's settings with recipes running as the recipe user."""
    require_root()
    settings.workspace_dir = reachable / "workspace"
    settings.cache_dir = reachable / "caches"
    settings.recipe_user = recipe_user().pw_name
    return settings


async def project_uid(service: ServiceHandle, project: str) -> int:
    """The uid the project's recipes run as: the base plus its slot."""
    slot = await service.ledger.read(identities.slot, project)
    assert slot is not None
    return service.settings.recipe_uid_base + slot


def job_groups(settings: Settings) -> list[str]:
    """Names of the job control groups of the service using ``settings``."""
    layout = detect(instance_name(settings.data_dir))
    return [group.name for group in layout.leftovers()]


# -- identity and folders ----------------------------------------------------


async def test_recipe_runs_as_its_projects_id_in_folders_it_was_given(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle
) -> None:
    repo: Repo = make_repo()
    await register(
        admin,
        repo,
        test=(
            'echo "uid=$(id -u) groups=$(id -G) owner=$(stat -c %u .)"; '
            'echo "home-owner=$(stat -c %u "$HOME") user=$USER"; '
            'echo "tmp-owner=$(stat -c %u "$TMPDIR") umask=$(umask)"; '
            "git status --porcelain >/dev/null && echo git-works; "
            'touch "$CRAFTING_REPORTS/report" && echo reports-writable; '
            'mkdir -p "$PIP_CACHE_DIR" && touch "$PIP_CACHE_DIR/entry" && '
            "echo cache-writable"
        ),
    )

    body = await run_job(admin, "demo", recipe="test")

    tail = body["log_tail"]
    uid = await project_uid(service, "demo")
    own = service.settings.cache_dir / "projects" / "demo"
    assert body["job"]["status"] == "succeeded", tail
    assert uid != recipe_user().pw_uid
    assert f"uid={uid} groups={uid} owner={uid}" in tail
    assert f"home-owner={uid} user={RECIPE_USER}" in tail
    assert f"tmp-owner={uid} umask=0077" in tail
    assert {"git-works", "reports-writable", "cache-writable"} <= set(tail)
    assert (own / "pip" / "entry").stat().st_uid == uid
    folder = service.settings.workspace_dir / "demo"
    with trio.fail_after(10):
        while sorted(p.name for p in folder.iterdir()) != [".cache"]:
            await trio.sleep(0.05)
    assert stat.S_IMODE((folder / ".cache").stat().st_mode) == 0o700
    assert stat.S_IMODE(service.settings.data_dir.stat().st_mode) == 0o700


def probe_script(service: ServiceHandle, marker: Path) -> tuple[str, set[str]]:
    """A recipe trying to reach what it must not, and the names of its tries.

    It prints ``reached <name>`` or ``denied <name>`` for each; the last try,
    writing into its own worktree, must succeed.
    """
    data = service.settings.data_dir
    workspace = service.settings.workspace_dir
    own, other = workspace / "demo" / ".cache", workspace / "other" / ".cache"
    pid = os.getpid()
    q = shlex.quote
    attempts = {
        "ledger": f"cat {q(str(data / 'ledger.sqlite3'))}",
        "bearer": f"cat {q(str(data / 'admin-bearer.txt'))}",
        "logs": f"ls {q(str(data / 'logs'))}",
        "environ": f"cat /proc/{pid}/environ",
        "signal": f"kill -0 {pid}",
        "other-clone": f"cat {q(str(other / 'config'))}",
        "other-git": f"git --git-dir={q(str(other))} log",
        "ssh-command": f"git config --file {q(str(own / 'config'))} "
        f"core.sshCommand {q('touch ' + str(marker))}",
        "hook": f"mkdir -p {q(str(own / 'hooks'))}",
        "alternates": f"echo /tmp > {q(str(own / 'objects/info/alternates'))}",
        "worktree-config": "echo x > "
        f'{q(str(own / "worktrees"))}/"$CRAFTING_JOB_ID"/config.worktree',
        "own-worktree": "touch made-here",
    }
    lines = [
        "attempt() {",
        '    if sh -c "$2" >/dev/null 2>&1; then echo "reached $1"; '
        'else echo "denied $1"; fi',
        "}",
    ]
    lines += [f"attempt {name} {q(command)}" for name, command in attempts.items()]
    return "\n".join(lines) + "\n", set(attempts) - {"own-worktree"}


async def test_recipe_cannot_reach_the_service_or_another_project(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle, tmp_path: Path
) -> None:
    other: Repo = make_repo({"secret.txt": "other project's code\n"}, name="other")
    await register(admin, other, "other", test="true")
    first = await run_job(admin, "other", recipe="test")
    assert first["job"]["status"] == "succeeded"
    marker = tmp_path / "pwned"
    script, forbidden = probe_script(service, marker)
    repo: Repo = make_repo({"probe.sh": script})
    await register(admin, repo, test="sh probe.sh")

    body = await run_job(admin, "demo", recipe="test")
    again = await run_job(admin, "demo", recipe="test")

    tail = body["log_tail"]
    reached = {line.split()[1] for line in tail if line.startswith("reached ")}
    denied = {line.split()[1] for line in tail if line.startswith("denied ")}
    assert reached == {"own-worktree"}, tail
    assert denied == forbidden, tail
    assert again["job"]["status"] == "succeeded"
    assert not marker.exists()
    cache = service.settings.workspace_dir / "demo" / ".cache"
    assert "sshCommand" not in (cache / "config").read_text()
    assert not (cache / "hooks").exists()


# Holds its job running, after leaving something private in each of its
# folders, until the test makes the release file.
HOLDER = """\
set -e
mkdir -p "$PIP_CACHE_DIR"
echo alpha-cache > "$PIP_CACHE_DIR/secret"
echo alpha-home > "$HOME/secret"
echo alpha-tree > secret.txt
echo alpha-tmp > "/tmp/crafting-test-$CRAFTING_JOB_ID"
echo "ready uid=$(id -u) pid=$$"
waited=0
while [ ! -e {release} ]; do
    waited=$((waited + 1))
    [ "$waited" -lt 1200 ] || exit 3
    sleep 0.05
done
echo released
"""

# Tries everything of project alpha's running job (whose paths the test
# writes into the targets file), then holds like HOLDER. The last two
# tries, in its own folders, must succeed.
PROBER = """\
. {targets}
attempt() {{
    if sh -c "$2" >/dev/null 2>&1; then echo "reached $1"; else echo "denied $1"; fi
}}
attempt worktree 'cat "$A_TREE/secret.txt"'
attempt worktree-list 'ls "$A_TREE"'
attempt worktree-write 'touch "$A_TREE/planted"'
attempt clone 'cat "$A_CLONE/HEAD"'
attempt clone-git 'git --git-dir="$A_CLONE" cat-file -t HEAD'
attempt cache 'cat "$A_OWN/pip/secret"'
attempt cache-write 'echo poison > "$A_OWN/pip/poison"'
attempt home 'cat "$A_OWN/home/secret"'
attempt tmp 'cat "$A_TMP"'
attempt projects-list 'ls "$PROJECTS"'
attempt signal 'kill -0 "$A_PID"'
attempt kill 'kill -TERM "$A_PID"'
attempt environ 'cat "/proc/$A_PID/environ"'
attempt own-home 'echo mine > "$HOME/mine" && cat "$HOME/mine"'
attempt own-worktree 'touch made-here'
echo "ready uid=$(id -u)"
waited=0
while [ ! -e {release} ]; do
    waited=$((waited + 1))
    [ "$waited" -lt 1200 ] || exit 3
    sleep 0.05
done
"""
OWN_TRIES = {"own-home", "own-worktree"}


async def ready_line(admin: httpx.AsyncClient, job_id: str) -> str:
    """The job's ``ready ...`` line, waiting for it while the job runs."""
    with trio.fail_after(60):
        while True:
            body = (await admin.get(f"/jobs/{job_id}")).json()
            ready = [t for t in body["log_tail"] if t.startswith("ready ")]
            if ready:
                return str(ready[0])
            assert body["job"]["status"] in ("queued", "running"), body
            await trio.sleep(0.05)


async def test_a_project_cannot_reach_another_projects_running_job(
    admin: httpx.AsyncClient,
    make_repo: Any,
    service: ServiceHandle,
    reachable: Path,
) -> None:
    handoff = reachable / "handoff"
    handoff.mkdir(mode=0o755)
    release, targets = handoff / "release", handoff / "targets.sh"
    q = shlex.quote
    alpha: Repo = make_repo({"hold.sh": HOLDER.format(release=q(str(release)))})
    beta: Repo = make_repo(
        {"probe.sh": PROBER.format(release=q(str(release)), targets=q(str(targets)))}
    )
    await register(admin, alpha, "alpha", test="sh hold.sh")
    await register(admin, beta, "beta", test="sh probe.sh")
    settings = service.settings
    own = settings.cache_dir / "projects" / "alpha"
    paths: dict[str, Path] = {}
    try:
        alpha_id = await enqueue(admin, "alpha", recipe="test")
        alpha_ready = await ready_line(admin, alpha_id)
        pid = int(alpha_ready.rsplit("pid=", 1)[1])
        paths = {
            "A_TREE": settings.workspace_dir / "alpha" / alpha_id,
            "A_CLONE": settings.workspace_dir / "alpha" / ".cache",
            "A_OWN": own,
            "A_TMP": Path(f"/tmp/crafting-test-{alpha_id}"),
            "PROJECTS": settings.cache_dir / "projects",
        }
        lines = [f"export {name}={q(str(path))}" for name, path in paths.items()]
        targets.write_text("\n".join([*lines, f"export A_PID={pid}"]) + "\n")

        beta_id = await enqueue(admin, "beta", recipe="test")
        beta_ready = await ready_line(admin, beta_id)
        statuses = [
            (await admin.get(f"/jobs/{job_id}")).json()["job"]["status"]
            for job_id in (alpha_id, beta_id)
        ]
        # What beta was denied is there, and alpha's clone open to alpha.
        present = [
            paths["A_TREE"] / "secret.txt",
            own / "pip" / "secret",
            own / "home" / "secret",
            paths["A_TMP"],
        ]
        missing = [path for path in present if not path.exists()]
        clone_mode = stat.S_IMODE(paths["A_CLONE"].stat().st_mode)
        alive = procs.is_running(pid)
        release.touch()
        alpha_body = await wait_job(admin, alpha_id)
        beta_body = await wait_job(admin, beta_id)
    finally:
        release.touch()
        if "A_TMP" in paths:
            paths["A_TMP"].unlink(missing_ok=True)

    tail = beta_body["log_tail"]
    reached = {line.split()[1] for line in tail if line.startswith("reached ")}
    denied = {line.split()[1] for line in tail if line.startswith("denied ")}
    alpha_uid = await project_uid(service, "alpha")
    beta_uid = await project_uid(service, "beta")
    assert statuses == ["running", "running"]
    assert missing == []
    assert clone_mode == 0o750
    assert alive
    assert reached == OWN_TRIES, tail
    assert len(denied) == 13, tail
    assert alpha_body["job"]["status"] == "succeeded", alpha_body["log_tail"]
    assert "released" in alpha_body["log_tail"]
    assert beta_body["job"]["status"] == "succeeded", tail
    assert alpha_ready.startswith(f"ready uid={alpha_uid} ")
    assert beta_ready == f"ready uid={beta_uid}"
    assert alpha_uid != beta_uid
    assert (own / "pip" / "secret").stat().st_uid == alpha_uid
    assert not (own / "pip" / "poison").exists()


# -- processes and limits ----------------------------------------------------

# Double-forks into a new session and execs sleep with an empty environment:
# neither the process group nor the environment mark can find it.
DAEMON = textwrap.dedent(
    """
    import os
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            print("daemon", os.getpid(), flush=True)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execve("/bin/sleep", ["sleep", "300"], {})
        os._exit(0)
    os.wait()
    """
)


async def test_a_daemon_without_the_mark_is_found_through_the_cgroup(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle
) -> None:
    require_cgroups()
    repo: Repo = make_repo({"daemon.py": DAEMON})
    await register(admin, repo, test="python3 daemon.py; sleep 0.5")

    body = await run_job(admin, "demo", recipe="test")

    tail = body["log_tail"]
    found = [line for line in tail if line.startswith("daemon ")]
    assert body["job"]["status"] == "succeeded", tail
    assert len(found) == 1, tail
    assert not procs.is_running(int(found[0].split()[1]))
    assert any("killed 1 process(es) the recipe left running" in t for t in tail), tail
    await runner_idle(service)
    assert job_groups(service.settings) == []


async def test_without_groups_a_daemon_is_found_by_its_projects_id(
    settings: Settings, nursery: trio.Nursery, make_repo: Any, reachable: Path
) -> None:
    # The first job leaves the daemon while a second job of the same
    # project still runs: the id is not the first job's alone, so the
    # daemon lives until the second, the project's last, ends.
    settings.containment = "none"
    service: ServiceHandle = await nursery.start(run_service, settings)
    gate = reachable / "gate"
    repo: Repo = make_repo({"daemon.py": DAEMON})
    async with httpx.AsyncClient(
        base_url=service.url,
        headers={"Authorization": f"Bearer {service.admin_bearer}"},
        timeout=30,
    ) as admin:
        await register(
            admin,
            repo,
            test="python3 daemon.py; sleep 0.5",
            lint=f"while [ ! -e {gate} ]; do sleep 0.05; done",
        )
        holder = await enqueue(admin, "demo", recipe="lint")
        body = await run_job(admin, "demo", recipe="test")
        tail = body["log_tail"]
        [daemon] = [int(t.split()[1]) for t in tail if t.startswith("daemon ")]
        alive_while_held = procs.is_running(daemon)
        gate.touch()
        held = await wait_job(admin, holder)
        await runner_idle(service)
    service.stop()

    assert body["job"]["status"] == "succeeded", tail
    assert alive_while_held
    assert held["job"]["status"] == "succeeded", held["log_tail"]
    assert not procs.is_running(daemon)
    assert any("killed 1 process(es)" in t for t in held["log_tail"]), held


async def test_a_fork_bomb_ends_at_its_deadline_and_harms_no_one(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle
) -> None:
    require_cgroups()
    bomb: Repo = make_repo(name="bomb")
    calm: Repo = make_repo(name="calm")
    await register(
        admin, bomb, "bomb", test="b() { b | b & }; b; sleep 60", timeout_secs=10
    )
    await register(admin, calm, "calm", test="sleep 1; echo calm-done")
    bomb_id = await enqueue(admin, "bomb", recipe="test")
    await trio.sleep(2)
    calm_id = await enqueue(admin, "calm", recipe="test")

    slowest = 0.0
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as probe:
        with trio.fail_after(60):
            while True:
                started = trio.current_time()
                health = await probe.get("/healthz")
                slowest = max(slowest, trio.current_time() - started)
                assert health.status_code == 200
                job = (await admin.get(f"/jobs/{bomb_id}")).json()["job"]
                if job["status"] not in ("queued", "running"):
                    break
                await trio.sleep(0.2)
    calm_body = await wait_job(admin, calm_id)
    await runner_idle(service)

    grace = service.settings.kill_grace_secs
    assert job["status"] == "timed_out"
    assert job["duration_secs"] < 10 + grace + 5
    assert slowest < 1.0
    assert calm_body["job"]["status"] == "succeeded"
    assert "calm-done" in calm_body["log_tail"]
    assert job_groups(service.settings) == []


async def test_a_restart_kills_what_a_killed_service_left_in_its_groups(
    make_repo: Any, tmp_path: Path, reachable: Path
) -> None:
    require_cgroups()
    repo: Repo = make_repo({"daemon.py": DAEMON})
    server = Server(tmp_path)
    data = (tmp_path / "data").resolve()
    user = {
        "CRAFTING_RECIPE_USER": recipe_user().pw_name,
        "CRAFTING_WORKSPACE_DIR": str(reachable / "workspace"),
        "CRAFTING_CACHE_DIR": str(reachable / "caches"),
    }
    server.start(**user)
    daemon = None
    try:
        async with client(server) as api:
            answer = await api.post(
                "/projects",
                json={
                    "name": "demo",
                    "git_url": repo.url,
                    "subprojects": [{"test": "python3 daemon.py; exec sleep 300"}],
                },
            )
            assert answer.status_code == 201, answer.text
            job_id = await enqueue(api, "demo", recipe="test")
            with trio.fail_after(30):
                while not (
                    found := [
                        line
                        for line in (await api.get(f"/jobs/{job_id}")).json()[
                            "log_tail"
                        ]
                        if line.startswith("daemon ")
                    ]
                ):
                    await trio.sleep(0.05)
        daemon = int(found[0].split()[1])
        groups = [g.name for g in detect(instance_name(data)).leftovers()]

        server.kill()
        alive_after_kill = procs.is_running(daemon)
        server.start(**user)
        async with client(server) as api:
            orphan = await wait_job(api, job_id)
        with trio.fail_after(10):
            while procs.is_running(daemon):
                await trio.sleep(0.05)
        left = [g.name for g in detect(instance_name(data)).leftovers()]
    finally:
        stopped = server.stop()
        # A failed run must not leave the daemon or its groups behind.
        layout = detect(instance_name(data))
        for group in layout.leftovers():
            group.empty()
            group.remove()
        layout.release()

    assert stopped == 0

    assert len(groups) == 1
    assert alive_after_kill
    assert orphan["job"]["status"] == "failed"
    assert left == []


MEMORY_EATER = "python3 -c \"x = b'a' * (256 << 20); print('allocated')\""

# Starts 40 sleeps (or as many as it may), then says how many it could.
FORKER = textwrap.dedent(
    """
    import subprocess
    started = failed = 0
    children = []
    for _ in range(40):
        try:
            children.append(subprocess.Popen(["sleep", "5"]))
            started += 1
        except OSError:
            failed += 1
    print(f"started={started} failed={failed}", flush=True)
    for child in children:
        child.kill()
        child.wait()
    """
)


async def test_a_recipe_past_its_memory_limit_is_killed(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    require_cgroups()
    repo: Repo = make_repo()
    await register(admin, repo, test=MEMORY_EATER, limits={"memory_mb": 64})

    body = await run_job(admin, "demo", recipe="test")

    assert body["job"]["status"] == "failed", body["log_tail"]
    assert body["job"]["exit_code"] == 128 + 9
    assert "allocated" not in body["log_tail"]


@pytest.mark.parametrize(
    "containment",
    [
        pytest.param("auto", id="cgroup"),
        pytest.param("none", id="rlimit"),
    ],
)
async def test_a_recipe_cannot_fork_past_its_process_limit(
    settings: Settings,
    nursery: trio.Nursery,
    make_repo: Any,
    containment: Literal["auto", "none"],
) -> None:
    if containment == "auto":
        require_cgroups()
    settings.containment = containment
    service: ServiceHandle = await nursery.start(run_service, settings)
    repo: Repo = make_repo({"forker.py": FORKER})
    async with httpx.AsyncClient(
        base_url=service.url,
        headers={"Authorization": f"Bearer {service.admin_bearer}"},
        timeout=30,
    ) as admin:
        health = (await admin.get("/healthz")).json()["containment"]
        await register(admin, repo, test="python3 forker.py", limits={"pids": 16})
        body = await run_job(admin, "demo", recipe="test")
    service.stop()

    expected = "rlimit" if containment == "none" else "cgroup"
    assert health["process_limit"] == expected
    counts = [t for t in body["log_tail"] if t.startswith("started=")]
    assert len(counts) == 1, body["log_tail"]
    started, failed = (int(v) for v in re.findall(r"\d+", counts[0]))
    assert failed > 0
    assert started < 16


# -- the service's side ------------------------------------------------------


async def test_a_deleted_projects_caches_and_home_go(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle
) -> None:
    projects = service.settings.cache_dir / "projects"
    for name in ("demo", "keep"):
        repo: Repo = make_repo(name=f"{name}-repo")
        await register(
            admin, repo, name, test='mkdir -p "$PIP_CACHE_DIR"; echo x > "$HOME/x"'
        )
        assert (await run_job(admin, name, recipe="test"))["job"]["status"] == (
            "succeeded"
        )
    kept_before = sorted(p.name for p in projects.iterdir())
    # As a project deleted while the service was down leaves it.
    ghost = projects / "ghost"
    (ghost / "home").mkdir(parents=True)
    # A process of each project's id that outlived its jobs (a stop whose
    # wait ran out): the deleted project's goes with its folder.
    lingering = {}
    for name in ("demo", "keep"):
        uid = await project_uid(service, name)
        lingering[name] = await trio.lowlevel.open_process(
            ["sleep", "300"], user=uid, group=uid, extra_groups=[], cwd="/"
        )

    answer = await admin.delete("/projects/demo")
    assert answer.status_code == 200, answer.text
    with trio.fail_after(30):
        while (projects / "demo").exists():
            await trio.sleep(0.05)
    await collect(service)
    demo_gone = lingering["demo"].poll() is not None
    keep_alive = lingering["keep"].poll() is None
    for process in lingering.values():
        process.kill()
        await process.wait()

    assert kept_before == ["demo", "keep"]
    assert not ghost.exists()
    assert (projects / "keep" / "home" / "x").exists()
    assert demo_gone
    assert keep_alive


async def test_healthz_shows_the_containment(service: ServiceHandle) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        section = (await client.get("/healthz")).json()["containment"]

    assert section["recipe_user"] == RECIPE_USER
    assert section["mode"] == host_mode()
    assert section["defaults"] == {
        "memory_mb": service.settings.default_memory_mb,
        "pids": service.settings.default_pids,
    }
