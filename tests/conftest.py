"""Fixtures shared by the suite: real git repositories, a real service.

``service`` starts the whole service in the test's nursery (real ledger
file, real actors, real HTTP on a loopback port chosen by the kernel);
``admin`` is an httpx client holding the first admin bearer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from actors.serve import ServiceHandle, run_service
from crafting_table.config import Settings
from tests.support import Repo


@pytest.fixture
def make_repo(tmp_path: Path) -> Any:
    """A factory of repositories on branch ``main`` with one first commit."""
    count = 0

    def make(files: dict[str, str] | None = None, name: str | None = None) -> Repo:
        nonlocal count
        count += 1
        path = tmp_path / (name or f"repo{count}")
        path.mkdir()
        repo = Repo(path)
        repo.git("init", "-q", "-b", "main")
        repo.write(files or {"README.md": "hello\n"}, "first commit")
        return repo

    return make


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a service confined to the test's folder."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        bind="127.0.0.1:0",
        data_dir=tmp_path / "data",
        workspace_dir=tmp_path / "workspace",
        cache_dir=tmp_path / "caches",
        allow_file_urls="always",
        max_jobs=4,
        kill_grace_secs=1.0,
        shutdown_grace_secs=2.0,
        access_log=False,
    )


@pytest.fixture
async def service(
    settings: Settings, nursery: trio.Nursery
) -> AsyncIterator[ServiceHandle]:
    """The whole service, running until the test ends."""
    handle: ServiceHandle = await nursery.start(run_service, settings)
    yield handle
    # An orderly stop, waited for: cancelling a service with jobs still
    # running would leave their processes to the next test.
    await handle.aclose()


@pytest.fixture
async def admin(service: ServiceHandle) -> AsyncIterator[httpx.AsyncClient]:
    """An API client holding the first admin bearer."""
    assert service.admin_bearer is not None
    async with httpx.AsyncClient(
        base_url=service.url,
        headers={"Authorization": f"Bearer {service.admin_bearer}"},
        timeout=30,
    ) as client:
        yield client
