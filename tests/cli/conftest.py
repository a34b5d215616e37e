"""The ``crafting-table`` client run in-process against a live service.

``cli`` runs :func:`crafting_table.cli.main.main` in a worker thread (it
does its own blocking I/O and its own ``trio.run`` for ``--follow``) and
returns the exit status with what it printed on each stream.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import trio

from actors.serve import ServiceHandle
from crafting_table.cli.main import main

CLIENT_VARIABLES = ("CRAFTING_TABLE_BASE_URL", "CRAFTING_TABLE_TOKEN", "NO_COLOR")


@dataclass(frozen=True)
class Ran:
    """One run of the client."""

    status: int
    out: str
    err: str

    def json(self) -> Any:
        """Standard output read as one JSON document."""
        return json.loads(self.out)


Cli = Callable[..., Awaitable[Ran]]


def invoke(argv: Sequence[str]) -> int:
    """``main(argv)``, with argparse's SystemExit turned into its status."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture(autouse=True)
def _no_client_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own settings must not decide which service a test
    # talks to, nor whether it sees colour.
    for name in CLIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(service: ServiceHandle, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run the client against ``service``; the admin bearer unless told."""
    assert service.admin_bearer is not None

    async def run(
        *argv: str, token: str | None = service.admin_bearer, url: str | None = ""
    ) -> Ran:
        args = list(argv)
        if url is not None:
            args += ["--url", url or service.url]
        if token is not None:
            args += ["--token", token]
        capsys.readouterr()
        status = await trio.to_thread.run_sync(invoke, args)
        captured = capsys.readouterr()
        return Ran(status, captured.out, captured.err)

    return run
