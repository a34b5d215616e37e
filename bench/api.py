"""API load: reads against a big ledger, and many watchers of one chatty job.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/api.py --dir /dev/shm/ct-api

In one run, with the service and a minimal hypercorn app each in its own
process, and the load from this process (wrk when installed):

* 100 concurrent clients on ``GET /jobs/{id}`` and on ``GET /jobs?limit=50``
  against a ledger of 10,000 finished jobs, and on the minimal app
  answering a constant;
* 200 websocket watchers of one job whose recipe prints a timestamped line
  every 20 ms: the delay from the recipe writing a line to each watcher
  receiving it, and the service's CPU time; then the same watchers on the
  minimal app, which sends the same lines in the same frames.

The watchers are ``bench/watcher``, a Go program built on the first run
(``go build`` fetches its websocket library through the Go module proxy),
or with ``--client python`` four processes of trio-websocket clients, whose
own CPU use on a small machine shows in the delays.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import trio
from trio_websocket import open_websocket_url

from crafting_table.ledger import connect, migrate
from crafting_table.ledger import jobs as job_store

HERE = Path(__file__).resolve().parent

# A constant over HTTP; over a websocket, the chatty job's ticks (lines
# "tick <unix time>", BURST per frame every PERIOD seconds, 400 in all, from
# 4 s after the first watcher connected), sent to every watcher in the
# service's frame format, merged when a watcher fell behind: the floor that
# hypercorn's trio worker sets for the same fan-out.
MINIMAL_APP = """
import json, os, time
import trio

BURST = int(os.environ["MINIMAL_BURST"])
PERIOD = float(os.environ["MINIMAL_PERIOD"])
HEAD, TAIL = '{"type": "lines", "lines": [', "]}"
ticks = {"frames": [], "changed": trio.Event(), "started": False, "ended": False}
nursery = None


def publish():
    ticks["changed"].set()
    ticks["changed"] = trio.Event()


async def ticker():
    await trio.sleep(4)
    for _ in range(400 // BURST):
        lines = ["tick " + repr(time.time())] * BURST
        ticks["frames"].append(json.dumps({"type": "lines", "lines": lines}))
        publish()
        await trio.sleep(PERIOD)
    ticks["ended"] = True
    publish()


async def follow(scope, receive, send):
    await receive()
    offered = "crafting-table" in scope.get("subprotocols", [])
    chosen = "crafting-table" if offered else None
    await send({"type": "websocket.accept", "subprotocol": chosen})
    if not ticks["started"]:
        ticks["started"] = True
        nursery.start_soon(ticker)
    frames = ticks["frames"]
    sent = len(frames)
    while True:
        while sent == len(frames) and not ticks["ended"]:
            await ticks["changed"].wait()
        if sent == len(frames):
            break
        batch, sent = frames[sent:], len(frames)
        text = batch[0]
        if len(batch) > 1:
            text = HEAD + ", ".join(f[len(HEAD):-len(TAIL)] for f in batch) + TAIL
        await send({"type": "websocket.send", "text": text})
    await send({"type": "websocket.send", "text": '{"type": "end"}'})
    await send({"type": "websocket.close", "code": 1000})


async def app(scope, receive, send):
    global nursery
    if scope["type"] == "lifespan":
        async with trio.open_nursery() as nursery:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    nursery.cancel_scope.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
    elif scope["type"] == "websocket":
        await follow(scope, receive, send)
    else:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok": true}'})
"""

# Waits for the watchers to connect, then prints a burst of BURST lines
# "tick <unix time>" every PERIOD seconds, 400 lines in all: how build
# tools write (a burst per step), at 20 lines a second and more.
CHATTY = (
    "python3 -c 'import sys, time\n"
    "time.sleep(4)\n"
    "for i in range(400 // {burst}):\n"
    "    now = repr(time.time())\n"
    '    sys.stdout.write("".join("tick " + now + chr(10) for _ in range({burst})))\n'
    "    sys.stdout.flush()\n"
    "    time.sleep({period})'"
)


def seed(data: Path, jobs: int, command: str) -> list[str]:
    """A ledger with one project and ``jobs`` finished jobs; their ids."""
    data.mkdir(parents=True, exist_ok=True)
    conn = connect(data / "ledger.sqlite3")
    migrate(conn)
    spec = {
        "name": "bench",
        "git_url": "/nonexistent",
        "subprojects": [{"path": ".", "test": command}],
    }
    now = time.time()
    conn.execute(
        "INSERT INTO projects VALUES ('bench', 'admin', ?, ?, ?)",
        (json.dumps(spec), now, now),
    )
    ids = []
    (data / "logs" / "bench").mkdir(parents=True, exist_ok=True)
    conn.execute("BEGIN")
    for index in range(jobs):
        job_id = job_store.new_job_id(now - jobs + index)
        ids.append(job_id)
        log = f"logs/bench/{job_id}.log"
        (data / log).write_text("".join(f"line {n}\n" for n in range(300)))
        conn.execute(
            "INSERT INTO jobs (id, project_name, owner, subproject, recipe, status,"
            " exit_code, recipe_snapshot_json, created_at, started_at, finished_at,"
            " log_path, log_bytes) VALUES (?, 'bench', 'admin', '.', 'test',"
            " 'succeeded', 0, '{}', ?, ?, ?, ?, 2690)",
            (job_id, now, now, now, log),
        )
    conn.execute("COMMIT")
    conn.close()
    return ids


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(argv, env=env, stdout=handle, stderr=handle)
    handle.close()
    return process


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        with trio.fail_after(60):
            while True:
                try:
                    await client.get(url)
                    return
                except httpx.TransportError:
                    await trio.sleep(0.1)


async def load(
    base: str, paths: list[str], headers: dict[str, str], clients: int, seconds: float
) -> tuple[float, list[float], int]:
    """Requests per second, latencies, and errors for ``clients`` loops."""
    latencies: list[float] = []
    errors = 0
    deadline = trio.current_time() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as http:

        async def client() -> None:
            nonlocal errors
            while trio.current_time() < deadline:
                started = time.perf_counter()
                answer = await http.get(random.choice(paths))
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(client)
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


def wrk(
    base: str, paths: list[str], headers: dict[str, str], clients: int, seconds: float
) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 (ms), and non-2xx count, measured by wrk."""
    script = Path(f"/tmp/crafting-table-bench-{os.getpid()}.lua")
    listed = ",".join(json.dumps(path) for path in paths)
    script.write_text(
        f"paths = {{{listed}}}\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(#paths)])\n"
        "end\n"
    )
    argv = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds:g}s", "--latency"]
    argv += ["-s", str(script)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*argv, base], capture_output=True, text=True, check=True
    ).stdout
    script.unlink()

    def millis(label: str) -> float:
        value = output.split(label, 1)[1].split()[0]
        for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
            if value.endswith(unit):
                return float(value[: -len(unit)]) * factor
        return float(value)

    rate = float(output.split("Requests/sec:")[1].split()[0])
    errors = 0
    if "Non-2xx or 3xx responses:" in output:
        errors = int(output.split("Non-2xx or 3xx responses:")[1].split()[0])
    return rate, millis(" 50% "), millis(" 99% "), errors


def build_watcher(root: Path) -> list[str]:
    """Build the Go watcher (bench/watcher) into ``root``; its command."""
    binary = root / "watcher"
    subprocess.run(
        ["go", "build", "-o", str(binary), "."], cwd=HERE / "watcher", check=True
    )
    return [str(binary)]


def cpu_seconds(pid: int) -> float:
    """CPU time (user plus system, s) of process ``pid`` and its children.

    Hypercorn serves from a child process; the service starts recipes as
    children, whose time counts too (the recipe here sleeps and prints).
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def watch(url: str, bearer: str, count: int) -> list[float]:
    """Line delays (s) seen by ``count`` watchers of one job, in this process.

    Lines written before a watcher connected came from the backlog, not
    live: they are not counted.
    """
    delays: list[float] = []
    headers = [(b"Authorization", f"Bearer {bearer}".encode())]

    async def one() -> None:
        async with open_websocket_url(url, extra_headers=headers) as ws:
            joined = time.time()
            while True:
                message = json.loads(await ws.get_message())
                now = time.time()
                if message["type"] == "end":
                    return
                for line in message["lines"]:
                    if line.startswith("tick "):
                        written = float(line.split()[1])
                        if written >= joined:
                            delays.append(now - written)

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(one)
    return delays


async def chatty_job(base: str, bearer: str) -> str:
    """Enqueue the chatty job; the websocket URL of its log."""
    headers = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        answer = await http.post("/projects/bench/jobs", json={"recipe": "test"})
        job_id = answer.json()["job_id"]
    return base.replace("http://", "ws://") + f"/jobs/{job_id}/log/ws"


async def watchers(
    url: str, bearer: str, count: int, procs: int, launcher: list[str]
) -> list[float]:
    """Line delays (s) seen by ``count`` watchers of the websocket at ``url``.

    The watchers are spread over ``procs`` processes, each ``launcher`` with
    the websocket URL and its count as arguments and the bearer on stdin:
    one Python process decoding thousands of frames a second would measure
    its own queue.
    """
    delays: list[float] = []

    async def child(share: int) -> None:
        argv = [*launcher, url, str(share)]
        done = await trio.run_process(argv, stdin=bearer.encode(), capture_stdout=True)
        delays.extend(json.loads(done.stdout))

    async with trio.open_nursery() as nursery:
        for index in range(procs):
            share = count // procs + (1 if index < count % procs else 0)
            nursery.start_soon(child, share)
    return delays


async def main(
    root: Path,
    jobs: int,
    clients: int,
    seconds: float,
    count: int,
    watcher_procs: int,
    burst: int,
    period: float,
    client: str,
) -> None:
    """Run every measurement and print the report."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    ids = seed(root / "data", jobs, CHATTY.format(burst=burst, period=period))
    if client == "go":
        launcher = build_watcher(root)
    else:
        launcher = [sys.executable, __file__, "--watch"]
    repo = root / "repo"
    repo.mkdir()
    env_git = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "README").write_text("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=repo, check=True, env=env_git)
    conn = sqlite3.connect(root / "data" / "ledger.sqlite3")
    spec = json.loads(conn.execute("SELECT spec_json FROM projects").fetchone()[0])
    spec["git_url"] = str(repo)
    conn.execute("UPDATE projects SET spec_json = ?", (json.dumps(spec),))
    conn.commit()
    conn.close()

    env = {
        **os.environ,
        "CRAFTING_BIND": "127.0.0.1:18810",
        "CRAFTING_DATA_DIR": str(root / "data"),
        "CRAFTING_WORKSPACE_DIR": str(root / "workspace"),
        "CRAFTING_CACHE_DIR": str(root / "caches"),
        "CRAFTING_ALLOW_FILE_URLS": "always",
        "CRAFTING_ACCESS_LOG": "false",
        "CRAFTING_LOG_LEVEL": "WARNING",
    }
    (root / "minimal.py").write_text(MINIMAL_APP)
    service = start(
        [sys.executable, "-m", "crafting_table.cli.main", "serve"], env, root / "s.log"
    )
    minimal = start(
        [
            sys.executable,
            "-m",
            "hypercorn",
            "--worker-class",
            "trio",
            "-b",
            "127.0.0.1:18811",
            "--access-logfile",
            "-",
            "minimal:app",
        ],
        {
            **os.environ,
            "PYTHONPATH": str(root),
            "MINIMAL_BURST": str(burst),
            "MINIMAL_PERIOD": str(period),
        },
        root / "m.log",
    )
    try:
        await wait_up("http://127.0.0.1:18810/healthz")
        await wait_up("http://127.0.0.1:18811/")
        bearer = (root / "data" / "admin-bearer.txt").read_text().strip()
        auth = {"Authorization": f"Bearer {bearer}"}
        base = "http://127.0.0.1:18810"
        cases = {
            "minimal hypercorn app": ("http://127.0.0.1:18811", ["/"], {}),
            "GET /jobs/{id}": (base, [f"/jobs/{i}" for i in ids[-2000:]], auth),
            "GET /jobs?limit=50": (base, ["/jobs?limit=50"], auth),
        }
        runs = {}
        for name, (target, paths, headers) in cases.items():
            if shutil.which("wrk"):
                runs[name] = await trio.to_thread.run_sync(
                    wrk, target, paths, headers, clients, seconds
                )
            else:
                rate, latencies, errors = await load(
                    target, paths, headers, clients, seconds
                )
                runs[name] = (rate, pct(latencies, 0.5), pct(latencies, 0.99), errors)
        url = await chatty_job(base, bearer)
        before = cpu_seconds(service.pid)
        delays = await watchers(url, bearer, count, watcher_procs, launcher)
        cpu = {"service": cpu_seconds(service.pid) - before}
        before = cpu_seconds(minimal.pid)
        floor = await watchers(
            "ws://127.0.0.1:18811/", bearer, count, watcher_procs, launcher
        )
        cpu["minimal hypercorn app"] = cpu_seconds(minimal.pid) - before
    finally:
        for process in (service, minimal):
            process.send_signal(signal.SIGTERM)
            process.wait(60)

    print(f"ledger {jobs} jobs; {clients} concurrent clients for {seconds:g} s each")
    tool = "wrk" if shutil.which("wrk") else "httpx (install wrk for a faster client)"
    print(f"load generator: {tool}")
    for name, (rate, p50, p99, errors) in runs.items():
        print(
            f"{name:<24} {rate:8.0f} req/s   p50 {p50:6.1f} ms"
            f"   p99 {p99:6.1f} ms   errors {errors}"
        )
    print(
        f"recipe writes {burst} line(s) every {period * 1000:g} ms; "
        f"{count} {client} watchers in {watcher_procs} process(es)"
    )
    for name, found in (("service", delays), ("minimal hypercorn app", floor)):
        print(
            f"{name:<24} {len(found):6d} line deliveries: delay p50 "
            f"{pct(found, 0.5):6.1f} ms   p99 {pct(found, 0.99):6.1f} ms   "
            f"max {max(found) * 1000:6.1f} ms   "
            f"CPU {cpu[name]:5.2f} s ({cpu[name] / len(found) * 1e6:.0f} us/line)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/crafting-table-api"))
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument(
        "--client",
        choices=["go", "python"],
        help="websocket watchers: go (bench/watcher, the default when Go is "
        "installed) or python (trio-websocket)",
    )
    parser.add_argument(
        "--watcher-procs", type=int, help="processes of watchers (go 1, python 4)"
    )
    parser.add_argument("--burst", type=int, default=1, help="lines per write")
    parser.add_argument(
        "--period", type=float, default=0.02, help="seconds between writes"
    )
    # Internal: one process of Python watchers (URL, COUNT), started by a run.
    parser.add_argument("--watch", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        bearer = sys.stdin.read().strip()
        url, count = args.watch
        print(json.dumps(trio.run(watch, url, bearer, int(count))))
    else:
        client = args.client or ("go" if shutil.which("go") else "python")
        if client == "go" and shutil.which("go") is None:
            parser.error("--client go needs the Go toolchain on PATH")
        procs = args.watcher_procs or (1 if client == "go" else 4)
        trio.run(
            main,
            args.dir,
            args.jobs,
            args.clients,
            args.seconds,
            args.watchers,
            procs,
            args.burst,
            args.period,
            client,
        )
