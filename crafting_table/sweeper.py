"""The first process of a recipe that no control group holds.

Run as ``python -I -S -c <this file's source> COMMAND FOLDER`` with the
recipe's environment, in a session of its own, its stdin a pipe from the
service. It is the job's child subreaper: any process of the recipe whose
parent exits is handed to it, whatever session, group or environment the
process gave itself (``setsid``, a double fork, ``env -i``). Once the
recipe's shell has ended it kills every such process, and only then exits,
with the shell's status.

Its protocol is the gate's: lines ``NAME=VALUE`` add to the environment,
``go`` runs the recipe; anything else, or the pipe closing first, and it
exits 125 without running it. It ignores SIGTERM, which the service sends
to the whole process group, so that it outlives the recipe; the service
never sends it SIGKILL while the recipe runs (see ``procs.kill_group``).

This module is standard library only and is never imported by the
service: its source is the program.
"""

import ctypes
import os
import re
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
# A recipe that forks faster than it can be killed (a fork bomb) must not
# keep the job from ending.
SWEEP_SECONDS = 10.0
REFUSED = 125
NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def read_late_environment(env: dict[str, str]) -> bool:
    """Add the service's NAME=VALUE lines to ``env``; False unless "go" came."""
    data = b""
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            return False
        data += chunk
        while b"\n" in data:
            line, data = data.split(b"\n", 1)
            text = line.decode("utf-8", "surrogateescape")
            if text == "go":
                return True
            name, equals, value = text.partition("=")
            if not equals or not NAME.fullmatch(name):
                return False
            env[name] = value


def children() -> list[int]:
    """Pids of this process's children, zombies included."""
    own = os.getpid()
    try:
        with open(f"/proc/{own}/task/{own}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        pass
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        if int(stat[stat.rfind(b")") + 2 :].split()[1]) == own:
            found.append(int(name))
    return found


def sweep() -> int:
    """Kill and reap every remaining child until none is left; return how many."""
    killed: set[int] = set()
    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return len(killed)
        for pid in children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.add(pid)
        time.sleep(0.002)
    return len(killed)


def main(command: str, folder: str) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    env = dict(os.environ)
    if not read_late_environment(env):
        return REFUSED
    try:
        os.chdir(folder)
    except OSError as error:
        os.write(2, f"[crafting-table] cannot enter {folder}: {error}\n".encode())
        return REFUSED

    # Ignored before the fork, so that no SIGTERM can fall between the two;
    # the recipe's shell gets the default back before it starts.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    shell = os.fork()
    if shell == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            # The recipe is a shell command by definition.
            os.execve("/bin/sh", ["/bin/sh", "-c", command], env)  # noqa: S606
        finally:
            os._exit(127)
    os.close(0)
    while True:
        try:
            _, status = os.waitpid(shell, 0)
            break
        except InterruptedError:
            continue

    killed = sweep()
    if killed:
        os.write(
            1,
            f"[crafting-table] killed {killed} process(es) the recipe left "
            "running\n".encode(),
        )
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        # Die the same way, so that the service sees the signal; a core
        # file of this process would only mislead.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if number != signal.SIGKILL:
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        return 128 + number
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
