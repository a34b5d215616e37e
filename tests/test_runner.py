"""The Runner end to end: real repositories, real processes, the real API."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table import procs
from crafting_table.config import Settings
from tests.support import Repo, enqueue, register, run_job, runner_idle, wait_job

# A recipe helper: ignores SIGTERM, starts two grandchildren and one process
# that leaves the group with setsid after a double fork, writes every pid
# to the file named in argv[1], then sleeps.
SPAWNER = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids = [os.getpid()]
    for _ in range(2):
        child = subprocess.Popen(
            [sys.executable, "-c",
             "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
             " time.sleep(300)"])
        pids.append(child.pid)
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            os.close(write)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(300)
            os._exit(0)
        os._exit(0)
    os.close(write)
    pids.append(int(os.read(read, 32)))
    with open(sys.argv[1], "w") as out:
        out.write(" ".join(map(str, pids)))
    print("spawned", flush=True)
    time.sleep(300)
    """
)


def peak_kib() -> int:
    """The process's resident-memory high-water mark (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def survivors(pid_file: Path) -> list[int]:
    """The pids listed in ``pid_file`` that still run."""
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 4
    return [pid for pid in pids if procs.is_running(pid)]


async def wait_for_file_to_exist(path: Path, timeout: float = 20) -> None:
    """Wait until a recipe has made ``path``."""
    with trio.fail_after(timeout):
        while not path.exists():
            await trio.sleep(0.05)


async def wait_for_file(path: Path, timeout: float = 20) -> None:
    """Wait until a recipe has written ``path``."""
    with trio.fail_after(timeout):
        while not path.exists() or not path.read_text().strip():
            await trio.sleep(0.05)


async def test_timeout_kills_the_whole_tree(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo({"spawn.py": SPAWNER})
    pid_file = tmp_path / "pids"
    await register(admin, repo, test=f"python3 spawn.py {pid_file}", timeout_secs=3)

    body = await run_job(admin, "demo", recipe="test", timeout=40)

    assert body["job"]["status"] == "timed_out"
    assert body["job"]["exit_code"] is not None
    assert any("deadline of 3 s reached" in line for line in body["log_tail"])
    assert survivors(pid_file) == []


async def test_a_shell_that_ignores_sigterm_gets_sigkill_and_the_log_says_so(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(
        admin, repo, test="trap '' TERM; echo up; sleep 30; sleep 30", timeout_secs=1
    )

    body = await run_job(admin, "demo", recipe="test", timeout=40)

    tail = body["log_tail"]
    assert body["job"]["status"] == "timed_out", tail
    stop = tail.index(
        "[crafting-table] deadline of 1 s reached; stopping the recipe (SIGTERM)"
    )
    assert tail[stop + 1] == "[crafting-table] still running 1 s after SIGTERM: SIGKILL"


async def test_cancel_kills_a_running_recipe(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    repo: Repo = make_repo({"spawn.py": SPAWNER})
    pid_file = tmp_path / "pids"
    await register(admin, repo, test=f"python3 spawn.py {pid_file}")
    job_id = await enqueue(admin, "demo", recipe="test")
    await wait_for_file(pid_file)

    answer = await admin.post(f"/jobs/{job_id}/cancel")

    assert answer.status_code == 200, answer.text
    assert answer.json()["job"]["status"] == "canceled"
    assert answer.json()["job"]["error"] == "canceled while running"
    assert survivors(pid_file) == []
    again = await admin.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409


async def test_what_a_canceled_recipe_says_while_it_stops_is_kept(
    admin: httpx.AsyncClient, make_repo: Any, tmp_path: Path
) -> None:
    # The recipe answers SIGTERM by writing, then winds down in its grace
    # period: those lines are part of its story, as after a deadline.
    ready = tmp_path / "ready"
    repo: Repo = make_repo()
    await register(
        admin,
        repo,
        test=(
            "trap 'echo got TERM; sleep 0.2; echo wound down; exit 3' TERM; "
            f"touch {ready}; while true; do sleep 0.05; done"
        ),
    )
    job_id = await enqueue(admin, "demo", recipe="test")
    await wait_for_file_to_exist(ready)

    answer = await admin.post(f"/jobs/{job_id}/cancel")

    assert answer.json()["job"]["status"] == "canceled", answer.text
    log = (await admin.get(f"/jobs/{job_id}/log")).text.splitlines()
    stop = log.index(
        "[crafting-table] canceled while running; stopping the recipe (SIGTERM)"
    )
    after = log[stop + 1 :]
    assert after.index("got TERM") < after.index("wound down"), log
    assert answer.json()["job"]["exit_code"] == 3


async def test_cancel_a_queued_job(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="sleep 30")
    # Project-level limit of one job: the second waits in the queue.
    await admin.put(
        "/projects/demo",
        json={
            "name": "demo",
            "git_url": repo.url,
            "max_concurrent_jobs": 1,
            "subprojects": [{"path": ".", "test": "sleep 30"}],
        },
    )
    first = await enqueue(admin, "demo", recipe="test")
    second = await enqueue(admin, "demo", recipe="test")

    answer = await admin.post(f"/jobs/{second}/cancel")

    assert answer.json()["job"]["status"] == "canceled"
    assert (await admin.post(f"/jobs/{first}/cancel")).json()["job"][
        "status"
    ] == "canceled"


async def test_exit_status_of_a_killed_shell_follows_the_shell_convention(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="kill -9 $$")

    body = await run_job(admin, "demo", recipe="test")

    assert body["job"]["status"] == "failed"
    assert body["job"]["exit_code"] == 128 + 9


async def test_log_cap_keeps_memory_flat(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    # 1 GiB without a single newline; the log keeps 64 MiB (the default cap).
    await register(admin, repo, test="head -c 1073741824 /dev/zero | tr '\\0' x")
    # The peak of this job alone: reset the process's high-water mark first.
    Path("/proc/self/clear_refs").write_text("5")
    before = peak_kib()

    body = await run_job(admin, "demo", recipe="test", timeout=240)

    grown_mib = (peak_kib() - before) / 1024
    assert body["job"]["status"] == "succeeded"
    cap = service.settings.max_log_bytes
    assert cap <= body["job"]["log_bytes"] < cap + 4096
    assert any("log truncated" in line for line in body["log_tail"]), body["log_tail"]
    assert any("bytes of output dropped" in line for line in body["log_tail"])
    assert grown_mib < 64, f"the service grew by {grown_mib:.0f} MiB"


async def test_branch_and_exact_sha(admin: httpx.AsyncClient, make_repo: Any) -> None:
    repo: Repo = make_repo({"which.txt": "main-1\n"})
    first = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write({"which.txt": "feature\n"})
    repo.git("checkout", "-q", "main")
    repo.write({"which.txt": "main-2\n"})
    await register(admin, repo, test="cat which.txt")

    on_branch = await run_job(admin, "demo", recipe="test", ref="feature")
    on_sha = await run_job(admin, "demo", recipe="test", sha=first)
    on_default = await run_job(admin, "demo", recipe="test")

    assert "feature" in on_branch["log_tail"]
    assert on_sha["job"]["sha"] == first
    assert "main-1" in on_sha["log_tail"]
    assert "main-2" in on_default["log_tail"]


async def test_a_new_commit_is_seen_by_the_next_job(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"v.txt": "one\n"})
    await register(admin, repo, test="cat v.txt")
    first = await run_job(admin, "demo", recipe="test")

    sha = repo.write({"v.txt": "two\n"})
    second = await run_job(admin, "demo", recipe="test")

    assert "one" in first["log_tail"]
    assert "two" in second["log_tail"]
    assert second["job"]["sha"] == sha


async def test_concurrent_jobs_on_one_project(
    admin: httpx.AsyncClient, make_repo: Any, service: ServiceHandle
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="sleep 1; echo done-$CRAFTING_JOB_ID")
    ids = [await enqueue(admin, "demo", recipe="test") for _ in range(4)]

    started = trio.current_time()
    bodies = [await wait_job(admin, job_id) for job_id in ids]
    elapsed = trio.current_time() - started

    assert [b["job"]["status"] for b in bodies] == ["succeeded"] * 4, [
        b["job"]["error"] for b in bodies
    ]
    for job_id, body in zip(ids, bodies, strict=True):
        assert f"done-{job_id}" in body["log_tail"]
    # Four one-second jobs on four slots overlap; in series they take 4 s.
    assert elapsed < 3.5
    # Worktrees and report folders go right after each job's terminal status.
    folder = service.settings.workspace_dir / "demo"
    with trio.fail_after(10):
        while sorted(p.name for p in folder.iterdir()) != [".cache"]:
            await trio.sleep(0.05)


async def test_recipe_environment_is_clean(
    admin: httpx.AsyncClient, make_repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test='env | sort; test -d "$CRAFTING_REPORTS"')

    body = await run_job(admin, "demo", recipe="test")

    names = {line.split("=", 1)[0] for line in body["log_tail"] if "=" in line}
    assert body["job"]["status"] == "succeeded"
    assert "CI" in names
    assert {"CRAFTING_JOB_ID", "CRAFTING_REPORTS", "CRAFTING_SHA"} <= names
    assert not {n for n in names if n.startswith("CRAFTING_") and "PASS" in n}
    assert "CRAFTING_SMTP_PASS" not in names


# The footer: status, exit code and run time, then the time of each step.
FOOTER = re.compile(
    r"\[crafting-table\] (?P<status>\w+) exit (?P<code>\d+) after (?P<secs>\d+\.\d\d) s"
    r"; fetch \d+\.\d{3} s, checkout \d+\.\d{3} s, start \d+\.\d{3} s,"
    r" clean-up \d+\.\d{3} s"
)


@pytest.mark.parametrize(
    ("command", "status", "code"),
    [
        pytest.param("sleep 0.3; echo out", "succeeded", 0, id="succeeded"),
        pytest.param("sleep 0.3; echo out; exit 3", "failed", 3, id="failed"),
    ],
)
async def test_log_header_and_footer(
    admin: httpx.AsyncClient,
    make_repo: Any,
    command: str,
    status: str,
    code: int,
) -> None:
    repo: Repo = make_repo()
    sha = repo.git("rev-parse", "HEAD")
    await register(admin, repo, test=command)

    body = await run_job(admin, "demo", recipe="test")

    job_id = body["job"]["id"]
    log = (await admin.get(f"/jobs/{job_id}/log")).text.splitlines()
    assert log[:5] == [
        f"[crafting-table] job {job_id} project demo subproject . recipe test",
        f"[crafting-table] fetching {repo.url}",
        f"[crafting-table] commit {sha} (main)",
        f"[crafting-table] $ {command}",
        "out",
    ]
    assert len(log) == 6, log
    footer = FOOTER.fullmatch(log[-1])
    assert footer is not None, log[-1]
    assert (footer["status"], int(footer["code"])) == (status, code)
    assert (body["job"]["status"], body["job"]["exit_code"]) == (status, code)
    # The run time is the recipe's: at least its sleep, far less than a minute.
    assert 0.3 <= float(footer["secs"]) < 60


async def test_log_header_of_a_job_on_an_exact_sha(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    first = repo.git("rev-parse", "HEAD")
    repo.write({"later.txt": "x\n"})
    await register(admin, repo, lint="true")

    body = await run_job(admin, "demo", recipe="lint", sha=first)

    log = (await admin.get(f"/jobs/{body['job']['id']}/log")).text.splitlines()
    # No ref was asked for: the commit line names the sha alone.
    assert log[2] == f"[crafting-table] commit {first}"
    assert log[3] == "[crafting-table] $ true"
    assert log[-1].startswith("[crafting-table] succeeded exit 0 after ")


async def test_footer_counts_the_dropped_output(
    settings: Settings, nursery: trio.Nursery, make_repo: Any
) -> None:
    small = settings.model_copy(update={"max_log_bytes": 4096})
    service: ServiceHandle = await nursery.start(run_service, small)
    repo: Repo = make_repo()
    bearer = f"Bearer {service.admin_bearer}"
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": bearer}, timeout=30
    ) as admin:
        await register(admin, repo, test="head -c 10000 /dev/zero | tr '\\0' x")

        body = await run_job(admin, "demo", recipe="test")

        log = (await admin.get(f"/jobs/{body['job']['id']}/log")).text
    await service.aclose()

    # The count is a clause of its own, between the run time and the steps.
    footer = log.splitlines()[-1]
    assert re.fullmatch(
        r"\[crafting-table\] succeeded exit 0 after \d+\.\d\d s,"
        r" \d+ bytes of output dropped; fetch .*",
        footer,
    ), footer


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"ref": "--upload-pack=touch /tmp/pwned"}, "ref", id="option-ref"),
        pytest.param({"ref": "-x"}, "ref", id="dash-ref"),
        pytest.param({"sha": "--output=x"}, "sha", id="option-sha"),
        pytest.param({"sha": "main"}, "'main' is not a commit id", id="branch-as-sha"),
    ],
)
async def test_refused_refs(
    admin: httpx.AsyncClient, make_repo: Any, body: dict[str, str], fragment: str
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo ran")

    answer = await admin.post("/projects/demo/jobs", json={"recipe": "test", **body})

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert fragment in error["message"]
    assert (await admin.get("/jobs")).json()["jobs"] == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param(
            "--upload-pack=touch /tmp/pwned",
            "starts with '-' and would be read as an option",
            id="option-url",
        ),
        pytest.param(
            "ext::sh -c touch% /tmp/pwned",
            "uses the 'ext::' transport, a remote helper that is not allowed",
            id="ext-transport",
        ),
        pytest.param(
            "fd::17",
            "uses the 'fd::' transport, a remote helper that is not allowed",
            id="fd-transport",
        ),
        pytest.param(
            "https://good.example@evil.example/org/x.git",
            "puts a host-like name before '@'",
            id="userinfo-trick",
        ),
        pytest.param(
            "https://host/x.git\n--upload-pack=x",
            "contains whitespace or a control character",
            id="newline",
        ),
    ],
)
async def test_refused_urls(admin: httpx.AsyncClient, url: str, reason: str) -> None:
    answer = await admin.post(
        "/projects",
        json={"name": "bad", "git_url": url, "subprojects": [{"test": "echo ran"}]},
    )

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    problem = error["details"]["problems"][0]
    assert problem["field"] == "git_url"
    assert reason in problem["problem"]
    assert reason in error["message"]
    assert (await admin.get("/projects")).json()["projects"] == []


async def test_unknown_branch_is_a_clear_failure(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, test="echo ran")

    body = await run_job(admin, "demo", recipe="test", ref="nope")

    assert body["job"]["status"] == "failed"
    assert "'nope' does not exist" in body["job"]["error"]
    assert "ran" not in body["log_tail"]


async def test_missing_subproject_folder_fails_the_job_and_leaves_no_worktree(
    service: ServiceHandle, admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, path="not/here", test="echo ran")

    body = await run_job(admin, "demo", recipe="test", subproject="not/here")
    await runner_idle(service)

    assert body["job"]["status"] == "failed"
    assert "does not exist" in body["job"]["error"]
    workspace = service.settings.workspace_dir / "demo"
    assert not (workspace / body["job"]["id"]).exists()
    assert sorted(p.name for p in workspace.iterdir()) == [".cache"]
