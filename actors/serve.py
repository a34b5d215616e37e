"""Starting and stopping the whole service.

:func:`run_service` opens the ledger, makes the first admin bearer, starts
the supervisor with every actor and the HTTP front end (a supervised child
too), and reports a :class:`ServiceHandle` once the port listens. Calling
:meth:`ServiceHandle.stop` (the CLI does on SIGTERM or SIGINT) shuts down
in order: the HTTP front end stops accepting, running jobs get the grace
period to finish, the rest are canceled, queued jobs stay queued.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import trio
import trio.lowlevel
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from actors.gc import Gc
from actors.kernel import ActorRef, Inbox
from actors.notifier import Notifier, announce, digest_health
from actors.parser import Parser
from actors.patcher import Patcher, PatcherDeps, clients
from actors.patcher import health as patcher_health
from actors.runner import Runner, RunnerDeps
from actors.scheduler import Scheduler
from actors.statuses import StatusReporter
from actors.supervisor import Supervisor
from crafting_table import procs
from crafting_table.auth import hash_bearer, mint_bearer
from crafting_table.config import Settings
from crafting_table.containment import Containment
from crafting_table.errors import ConfigError, leaves
from crafting_table.executor import LocalExecutor
from crafting_table.folderlock import LOCK_NAME, FolderLock
from crafting_table.ledger import Ledger
from crafting_table.ledger import tokens as token_store
from crafting_table.messages import Drain
from crafting_table.server.app import create_app
from crafting_table.server.context import AppContext
from crafting_table.workspace import Workspace, inherited_configs

logger = logging.getLogger(__name__)

ADMIN_NAME = "admin"
# Hypercorn waits this long for open requests and websockets at shutdown.
HTTP_GRACE = 3.0


@dataclass(slots=True)
class ServiceHandle:
    """A running service: where it listens, its parts, and how to stop it."""

    settings: Settings
    ledger: Ledger
    supervisor: Supervisor
    refs: dict[str, ActorRef]
    url: str = ""
    admin_bearer: str | None = None
    _stop: trio.Event = field(default_factory=trio.Event)
    _listening: trio.Event = field(default_factory=trio.Event)
    _stopped: trio.Event = field(default_factory=trio.Event)

    def stop(self) -> None:
        """Begin an orderly shutdown; :func:`run_service` returns when done."""
        self._stop.set()

    async def aclose(self, timeout: float = 120.0) -> None:
        """Stop in order and wait (at most ``timeout`` s) until it is done."""
        self.stop()
        with trio.move_on_after(timeout):
            await self._stopped.wait()


def absolute(settings: Settings) -> Settings:
    """Settings with every folder made absolute (recipes run elsewhere)."""
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir.resolve(),
            "workspace_dir": settings.workspace_dir.resolve(),
            "cache_dir": settings.cache_dir.resolve(),
        }
    )


def _lock_folders(settings: Settings, lock: FolderLock) -> None:
    """Take the data folder and the workspace, making them if need be.

    Before anything else is made: a refused start removes the folders it
    made for its locks, and leaves nothing else.
    """
    folders = {
        settings.data_dir: "CRAFTING_DATA_DIR",
        settings.workspace_dir: "CRAFTING_WORKSPACE_DIR",
    }
    made = [folder for folder in folders if not folder.exists()]
    for folder in made:
        folder.mkdir(parents=True)
    try:
        for folder, setting in folders.items():
            lock.take(folder, setting)
    except ConfigError:
        lock.release()
        for folder in made:
            (folder / LOCK_NAME).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def check_apart(settings: Settings) -> None:
    """Refuse a data folder and a workspace that are one, or one in the other.

    The workspace's folders are named after projects and deleted with
    them, and its modes let recipes pass through: the ledger and the logs
    must be nowhere inside it, nor it inside them.
    """
    data = settings.data_dir.resolve()
    workspace = settings.workspace_dir.resolve()
    if data == workspace or data in workspace.parents or workspace in data.parents:
        raise ConfigError(
            f"CRAFTING_DATA_DIR ({data}) and CRAFTING_WORKSPACE_DIR ({workspace}) "
            "overlap; give them folders apart, neither inside the other"
        )


def prepare_folders(settings: Settings) -> None:
    """Create the data, log, workspace and cache folders."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)


async def ensure_admin(ledger: Ledger, settings: Settings) -> str | None:
    """Mint the first admin token and write its bearer file (mode 600).

    Only when no admin token exists: a restart never changes the bearer.
    Returns the new bearer, or None when an admin token already existed.
    """
    if await ledger.read(token_store.count_admins) > 0:
        if not settings.admin_bearer_path.exists():
            logger.warning(
                "no %s, but an admin token exists; mint a new one with "
                "'crafting-table token mint' using an admin bearer",
                settings.admin_bearer_path,
            )
        return None
    bearer = mint_bearer()
    await ledger.write(
        token_store.mint, ADMIN_NAME, hash_bearer(bearer), True, [], time.time()
    )
    path = settings.admin_bearer_path
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(bearer + "\n")
    os.replace(temporary, path)
    logger.info("first boot: admin bearer written to %s", path)
    return bearer


async def run_service(
    settings: Settings,
    *,
    wall_clock: Callable[[], datetime] | None = None,
    task_status: trio.TaskStatus[ServiceHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the service until :meth:`ServiceHandle.stop`; see the module docstring.

    ``wall_clock`` (aware datetimes; default: the system clock) is what the
    digest schedule reads to decide which day it is, and what the project
    schedules are fired by.
    """
    settings = absolute(settings)
    check_apart(settings)
    lock = FolderLock()
    try:
        _lock_folders(settings, lock)
        prepare_folders(settings)
        await _run_locked(settings, wall_clock, task_status)
    finally:
        lock.release()


async def _run_locked(
    settings: Settings,
    wall_clock: Callable[[], datetime] | None,
    task_status: trio.TaskStatus[ServiceHandle],
) -> None:
    if not procs.become_subreaper():
        logger.warning(
            "cannot become a child subreaper; escaped recipe processes go to init"
        )
    containment = await trio.to_thread.run_sync(Containment.setup, settings)
    ledger = await Ledger.open(settings.ledger_path)
    handle: ServiceHandle | None = None
    try:
        bearer = await ensure_admin(ledger, settings)
        handle = _build(settings, ledger, wall_clock, containment)
        handle.admin_bearer = bearer
        async with trio.open_nursery() as nursery:
            nursery.start_soon(handle.supervisor.run, name="supervisor")
            await handle._listening.wait()
            logger.info("crafting-table listening on %s", handle.url)
            task_status.started(handle)
            await handle._stop.wait()
            await _shutdown(handle)
            nursery.cancel_scope.cancel()
    finally:
        # Shielded: closing the ledger and removing the (now empty) control
        # group folders are the last clean-up, also on cancellation.
        with trio.CancelScope(shield=True):
            await ledger.aclose()
            await trio.to_thread.run_sync(containment.close)
        if handle is not None:
            handle._stopped.set()


def local_repository_policy(
    settings: Settings, ledger: Ledger
) -> Callable[[str], Awaitable[bool]]:
    """Whether an owner's project may clone a repository on local disk now.

    ``CRAFTING_ALLOW_FILE_URLS=admin`` is checked at every run as well as at
    registration: a project kept from an owner who is no longer an admin, or
    from a time when the setting was ``always``, does not clone.
    """

    async def allow(owner: str) -> bool:
        if settings.allow_file_urls != "admin":
            return settings.allow_file_urls == "always"
        return await ledger.read(token_store.is_active_admin, owner)

    return allow


def _admin_secrets(settings: Settings) -> list[str]:
    """The admin bearer as the bearer file holds it, to mask in job logs."""
    try:
        bearer = settings.admin_bearer_path.read_text().strip()
    except OSError:
        return []
    return [bearer] if bearer else []


def _build(
    settings: Settings,
    ledger: Ledger,
    wall_clock: Callable[[], datetime] | None = None,
    containment: Containment | None = None,
) -> ServiceHandle:
    supervisor = Supervisor()
    workspace = Workspace(settings.workspace_dir, settings.git_timeout_secs)
    workspace.seal()
    inherited = inherited_configs(settings.workspace_dir)
    if inherited:
        logger.warning(
            "jobs will read %s: tools look for configuration above a worktree; "
            "set CRAFTING_WORKSPACE_DIR to a folder outside any source tree",
            ", ".join(map(str, inherited[:3])),
        )
    containment = containment or Containment()
    masked = [*settings.secrets(), *_admin_secrets(settings)]
    names = ("runner", "parser", "gc", "notifier", "scheduler", "statuses", "patcher")
    inboxes = {name: Inbox(name) for name in names}
    refs = {name: inbox.ref() for name, inbox in inboxes.items()}

    # /healthz is synchronous: it reads the live Notifier's snapshot, and
    # each restart replaces the one it reads.
    notifiers: list[Notifier] = []

    def notifier() -> Notifier:
        actor = Notifier(settings, ledger, wall_clock=wall_clock)
        notifiers[:] = [actor]
        return actor

    announce(settings)
    supervisor.add_actor(notifier, inboxes["notifier"])
    supervisor.add_actor(
        lambda: Parser(
            ledger,
            settings.data_dir,
            listeners=[refs["notifier"], refs["statuses"], refs["patcher"]],
        ),
        inboxes["parser"],
    )
    executor = LocalExecutor(containment)
    deps = RunnerDeps(
        settings=settings,
        ledger=ledger,
        workspace=workspace,
        executor=executor,
        parser=refs["parser"],
        secrets=lambda: list(masked),
        allow_file=local_repository_policy(settings, ledger),
        listeners=[refs["statuses"]],
    )
    supervisor.add_actor(lambda: Runner(deps), inboxes["runner"])
    supervisor.add_actor(
        lambda: Gc(settings, ledger, workspace, refs["runner"], executor),
        inboxes["gc"],
    )
    supervisor.add_actor(
        lambda: Scheduler(ledger, refs["runner"], wall_clock=wall_clock),
        inboxes["scheduler"],
    )
    supervisor.add_actor(lambda: StatusReporter(settings, ledger), inboxes["statuses"])

    # Like the Notifier: /healthz reads the live Patcher's counters.
    patchers: list[Patcher] = []
    agent, forge = clients(settings)
    patcher_deps = PatcherDeps(
        settings=settings,
        ledger=ledger,
        workspace=workspace,
        runner=refs["runner"],
        notifier=refs["notifier"],
        agent=agent,
        forge=forge,
        allow_file=deps.allow_file,
    )

    def patcher() -> Patcher:
        actor = Patcher(patcher_deps)
        patchers[:] = [actor]
        return actor

    supervisor.add_actor(patcher, inboxes["patcher"])

    handle = ServiceHandle(
        settings=settings, ledger=ledger, supervisor=supervisor, refs=refs
    )
    ctx = AppContext(
        settings=settings,
        ledger=ledger,
        runner=refs["runner"],
        notifier=refs["notifier"],
        patcher=refs["patcher"],
        scheduler=refs["scheduler"],
        started_at=time.time(),
        supervision=lambda: [_plain(s) for s in supervisor.statistics()],
        extra_health={
            "digest": lambda: digest_health(
                notifiers[0] if notifiers else None, settings
            ),
            "patcher": lambda: patcher_health(
                patchers[0] if patchers else None, settings
            ),
            "containment": containment.health,
        },
    )
    app = create_app(ctx)

    async def http() -> None:
        config = HypercornConfig()
        config.bind = [settings.bind]
        config.graceful_timeout = HTTP_GRACE
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        await _serve_http(app, config, handle)

    supervisor.add_service("http", http)
    return handle


async def _serve_http(
    app: Any, config: HypercornConfig, handle: ServiceHandle
) -> list[str]:
    async with trio.open_nursery() as nursery:
        try:
            binds: list[str] = await nursery.start(
                lambda task_status: hypercorn_serve(
                    app,
                    config,
                    shutdown_trigger=handle._stop.wait,
                    task_status=task_status,
                )
            )
        except Exception as exc:
            # A port that cannot be had will not come free by restarting:
            # say so at once instead of retrying.
            refused = [e for e in leaves(exc) if isinstance(e, OSError)]
            if not refused:
                raise
            raise ConfigError(
                f"cannot start: {refused[0].strerror} ({config.bind[0]}); "
                "free the port or set CRAFTING_BIND"
            ) from exc
        handle.url = binds[0]
        handle._listening.set()
    return binds


async def _shutdown(handle: ServiceHandle) -> None:
    grace = handle.settings.shutdown_grace_secs
    logger.info("shutting down: running jobs get %.0f s to finish", grace)
    try:
        await handle.refs["runner"].ask(
            Drain(grace=grace), timeout=grace + handle.settings.kill_grace_secs + 60
        )
    except Exception:
        logger.exception("runner did not drain cleanly")
    # Let hypercorn finish its graceful close of open connections.
    await trio.lowlevel.checkpoint()


def _plain(stats: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(stats)
