"""Finding and killing every process a recipe started, on Linux.

A recipe's processes share its process group until one calls ``setsid``
or double-forks away. To find those as well each recipe's environment
carries a random mark (``CRAFTING_JOB_MARK``), inherited by everything it
starts; :func:`find_marked` scans ``/proc`` for it. The service makes
itself a child subreaper, so an escaped process whose parent exits becomes
the service's child rather than init's, and :func:`kill_marked` reaps
exactly those adopted pids (never ``waitpid(-1)``, which would steal the
exit status of trio's own children).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

MARK_VARIABLE = "CRAFTING_JOB_MARK"
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process adopt orphaned descendants; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; everything
    # after the last ')' is space-separated, starting with field 3 (state).
    return data[data.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def parent_of(pid: int) -> int | None:
    """The parent pid, or None if the process is gone."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields and len(fields) > 1 else None


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")  # type: ignore[index]


def _pids() -> Iterable[int]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    return (int(name) for name in names if name.isdigit())


def _find(entry: str, matches: Callable[[bytes], bool]) -> list[int]:
    """Live processes but this one whose ``/proc/<pid>/<entry>`` matches."""
    own = os.getpid()
    found = []
    for pid in _pids():
        if pid == own:
            continue
        try:
            with open(f"/proc/{pid}/{entry}", "rb") as handle:
                content = handle.read()
        except OSError:
            continue
        if matches(content) and is_running(pid):
            found.append(pid)
    return found


def find_marked(mark: str) -> list[int]:
    """Every live process whose environment carries ``mark``."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    return _find("environ", lambda environ: needle in environ.split(b"\0"))


def find_uid(uid: int) -> list[int]:
    """Every live process whose real uid is ``uid``.

    The real uid, not the effective one: an unprivileged process cannot
    change it, whatever it executes.
    """

    def real_uid_matches(status: bytes) -> bool:
        for line in status.split(b"\n"):
            if line.startswith(b"Uid:"):
                return int(line.split()[1]) == uid
        return False

    return _find("status", real_uid_matches)


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        logger.warning("not allowed to signal process group %d", pgid)
        return False
    return True


def kill_group(pgid: int, *, spare: int) -> list[int]:
    """SIGKILL every member of process group ``pgid`` except ``spare``.

    For a group led by a process that must outlive the others (the job's
    sweeper, which then kills what left the group). Returns the pids
    signalled.
    """
    killed = []
    for pid in _pids():
        fields = _stat_fields(pid)
        if pid == spare or not fields or len(fields) < 3 or int(fields[2]) != pgid:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def kill_marked(
    mark: str, *, skip: Iterable[int] = (), settle: float = 2.0
) -> list[int]:
    """SIGKILL every process carrying ``mark``; reap the ones we adopted.

    ``skip`` lists pids that someone else waits for (the recipe's own shell,
    which trio reaps). Blocks up to ``settle`` seconds while killed
    processes die; returns the pids that were killed. Call it from a
    worker thread.
    """
    return _kill_found(lambda: find_marked(mark), skip, settle)


def kill_uid(
    uid: int,
    *,
    skip: Iterable[int] = (),
    settle: float = 2.0,
    still: Callable[[], bool] = lambda: True,
) -> list[int]:
    """SIGKILL every process whose real uid is ``uid``; as :func:`kill_marked`.

    ``still`` is asked before each scan; once it is False, nothing more is
    killed.
    """
    return _kill_found(lambda: find_uid(uid) if still() else [], skip, settle)


def _kill_found(
    find: Callable[[], list[int]], skip: Iterable[int], settle: float
) -> list[int]:
    skipped = set(skip)
    killed: list[int] = []
    deadline = time.monotonic() + settle
    while True:
        found = [pid for pid in find() if pid not in killed]
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        _reap(pid for pid in killed if pid not in skipped)
        alive = [pid for pid in killed if pid not in skipped and is_running(pid)]
        # New processes can appear while we kill (a fork bomb); loop until
        # a scan finds nothing new and nothing is left alive.
        if (not found and not alive) or time.monotonic() > deadline:
            return killed
        time.sleep(0.01)


def _reap(pids: Iterable[int]) -> None:
    own = os.getpid()
    for pid in pids:
        if parent_of(pid) != own:
            continue
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def reap_adopted(select: Callable[[int], bool], skip: Iterable[int] = ()) -> int:
    """Reap the dead children of this process that ``select`` picks.

    For processes that died in a job's control group after their parent
    did, so that they were handed to this subreaper: ``select`` decides
    which of its zombie children are such, so that a child some other code
    waits for (trio's) is never reaped here. Returns how many were reaped.
    """
    own = os.getpid()
    skipped = set(skip)
    reaped = 0
    for pid in _pids():
        fields = _stat_fields(pid)
        if pid in skipped or not fields or len(fields) < 2:
            continue
        if fields[0] != "Z" or int(fields[1]) != own or not select(pid):
            continue
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            reaped += done == pid
    return reaped


def kill_recorded_group(pgid: int, recorded_start: int | None) -> bool:
    """SIGKILL the group led by ``pgid`` if its leader is the one recorded.

    A pid can be reused after a restart; comparing the leader's start time
    with the one recorded when the job started keeps an unrelated process
    group safe. Returns True when a signal was sent.
    """
    if recorded_start is None or start_time(pgid) != recorded_start:
        return False
    return signal_group(pgid, signal.SIGKILL)
