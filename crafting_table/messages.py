"""Every message the actors exchange, and the reference type that carries them.

Messages are frozen dataclasses, one class per kind. A message that wants
an answer derives from ``Ask[T]``, where ``T`` is the answer's type; the
rest are told (fire and forget). The HTTP front end and the actors see each
other only through :class:`Ref`, so any object with ``tell`` and ``ask``
(a plain channel in a unit test) can stand in for an actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from crafting_table.errors import ApiError
from crafting_table.models import RunNowAnswer

T = TypeVar("T")


class Ask(Generic[T]):
    """Marker base: a message whose sender waits for an answer of type ``T``."""

    __slots__ = ()


class Ref(Protocol):
    """What a sender holds of an actor: its inbox, nothing more."""

    name: str

    async def tell(self, message: object) -> None:
        """Queue ``message``; wait only while the inbox is full."""

    async def ask(self, message: Ask[T], timeout: float = ...) -> T:
        """Queue ``message`` and wait (at most ``timeout`` s) for the answer."""
        ...


# -- any actor --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetStats(Ask[dict[str, Any]]):
    """Ask an actor for its ``statistics()`` snapshot as a plain dict."""


@dataclass(frozen=True, slots=True)
class Tick:
    """Wake a periodic actor now (tests use it instead of waiting)."""


# -- runner -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobQueued:
    """A job row was committed as ``queued``: look at the queue."""

    job_id: str


@dataclass(frozen=True, slots=True)
class CancelJob(Ask[str | None]):
    """Cancel a queued or running job; answers the status it ends in.

    With ``queued_only`` a job that has started is left alone (answer
    None): a superseded push cancels only what has not begun. ``reason``
    becomes a queued job's error.
    """

    job_id: str
    queued_only: bool = False
    reason: str = "canceled while queued"


@dataclass(frozen=True, slots=True)
class WatchLog(Ask[Any]):
    """Ask for the live feed of a job's log (a ``joblog.LogFeed``) or None.

    None means the job is not queued or running: its log file is complete.
    """

    job_id: str


@dataclass(frozen=True, slots=True)
class ProjectDeleted:
    """A project's rows are gone: stop its jobs, remove its logs and clone."""

    project: str


@dataclass(frozen=True, slots=True)
class Drain(Ask[None]):
    """Shutdown: claim nothing more, let running jobs end within ``grace``
    seconds, then cancel the rest. Queued jobs stay queued."""

    grace: float


@dataclass(frozen=True, slots=True)
class JobStarted:
    """The Runner claimed a queued job and is starting it (to its listeners)."""

    job_id: str
    project: str


# -- parser -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParseJob(Ask[Any]):
    """A recipe ended: parse its log, store the findings and the final status.

    Answers the finished job (a ``ledger.jobs.JobRow``), or None when it was
    gone or already finished. ``job`` is the row as the Runner claimed it;
    ``workdir`` (the folder the recipe ran in) still exists while the
    Parser handles this. ``secrets`` are the values the job's log was
    masked for; findings are masked for them too, since a report the
    recipe wrote never passed through the log.
    """

    job: Any
    status: str
    exit_code: int | None
    error: str | None
    log_bytes: int
    workdir: Path | None
    reports_dir: Path | None
    secrets: tuple[str, ...] = ()


# -- notifier and patcher ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobParsed:
    """A job reached its terminal status with its findings stored."""

    job_id: str
    project: str
    status: str


@dataclass(frozen=True, slots=True)
class PatchDrafted:
    """The patch loop drafted a patch (whatever came of it)."""

    attempt_id: int
    project: str


@dataclass(frozen=True, slots=True)
class PatchRequest(Ask[int | ApiError]):
    """Start a patch attempt on a finding of a finished job.

    ``finding_id`` None picks the finding the way the post-job hook does.
    Answers the new attempt's id, or the :class:`ApiError` refusing the
    request (returned, not raised: a refused request is no crash).
    """

    job_id: str
    finding_id: int | None = None


@dataclass(frozen=True, slots=True)
class RunDigest(Ask[RunNowAnswer]):
    """Render the digest of ``day`` now and, unless ``dry_run``, send it.

    ``day`` None means the latest digest whose send time has passed;
    ``project`` None means every project. Answers the date run and one
    outcome per project; a digest already sent is never sent again.
    """

    day: date | None = None
    project: str | None = None
    dry_run: bool = False
