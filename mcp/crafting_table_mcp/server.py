"""The MCP server: the tools of :mod:`crafting_table_mcp.tools` over stdio.

``crafting-table-mcp`` (or ``python -m crafting_table_mcp``) reads
``CRAFTING_TABLE_BASE_URL`` and ``CRAFTING_TABLE_TOKEN``, then speaks MCP
on its standard input and output until the client closes them. Logs go to
standard error, at ``CRAFTING_TABLE_MCP_LOG_LEVEL`` (default WARNING).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, cast, get_args

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import ValidationError

from crafting_table_mcp import __version__
from crafting_table_mcp.api import Config, open_api
from crafting_table_mcp.arguments import describe
from crafting_table_mcp.errors import InvalidArguments
from crafting_table_mcp.tools import Tools

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

INSTRUCTIONS = """\
Tools for crafting-table, a build, test, lint and audit service: register a
git repository as a project with per-subproject recipes (build, test, lint,
audit), run a recipe as a job, read its log page by page, read the findings
its output produced (lint warnings, CVEs, failing tests), and trigger
automatic patch attempts. A typical run: enqueue_job, wait_job, then
list_findings, or read_log when the job failed without findings; retry_job
runs an ended job again. A failed call returns the service's error code and
message.
"""

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, open_world_hint=False
)
REPLACE = ToolAnnotations(
    read_only_hint=False,
    destructive_hint=True,
    idempotent_hint=True,
    open_world_hint=False,
)
# (tool name, annotations); each name is a coroutine method of Tools.
TOOLS: tuple[tuple[str, ToolAnnotations], ...] = (
    ("list_projects", READ),
    ("get_project", READ),
    ("register_project", WRITE),
    ("update_project", REPLACE),
    ("delete_project", REPLACE),
    ("enqueue_job", WRITE),
    ("list_jobs", READ),
    ("get_job", READ),
    ("wait_job", READ),
    ("read_log", READ),
    ("cancel_job", REPLACE),
    ("retry_job", WRITE),
    ("list_findings", READ),
    ("get_finding", READ),
    # A patch attempt may push a branch and open a pull request on the forge.
    ("trigger_patch", WRITE.model_copy(update={"open_world_hint": True})),
    ("list_patches", READ),
    ("get_patch", READ),
)


class BridgeServer(MCPServer):
    """The SDK's server, with refused arguments worded for the model."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call tool ``name`` as the SDK does.

        Raises:
            InvalidArguments: ``arguments`` do not fit the tool's schema.
            ToolError: as :meth:`MCPServer.call_tool`, for anything else.
        """
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            # The SDK raises a ToolError caused by a ValidationError only
            # when it checks the arguments; a tool's own are BridgeErrors.
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                raise
            schema = next(
                (t.input_schema for t in await self.list_tools() if t.name == name),
                {},
            )
            raise InvalidArguments(name, describe(cause, schema)) from cause


def build_server(config: Config, log_level: LogLevel = "WARNING") -> MCPServer:
    """An MCP server whose tools call the service ``config`` names.

    The HTTP connection pool opens when the server starts and closes when
    it stops; ``config`` is not checked here, so that a client can list the
    tools and read, from any call, why the settings are unusable.
    """
    tools = Tools()

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        async with open_api(config) as api:
            tools.attach(api)
            try:
                yield None
            finally:
                tools.attach(None)

    server = BridgeServer(
        "crafting-table",
        title="crafting-table",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=log_level,
    )
    for name, hints in TOOLS:
        method = getattr(tools, name)
        server.add_tool(
            method,
            name=name,
            # The docstrings are wrapped for the source; a client shows
            # the description as one paragraph.
            description=" ".join((method.__doc__ or "").split()),
            annotations=hints,
            structured_output=True,
        )
    return server


def build_parser() -> argparse.ArgumentParser:
    """The command line: nothing but --help and --version; settings are env."""
    parser = argparse.ArgumentParser(
        prog="crafting-table-mcp",
        description=(
            "An MCP server on standard input and output that calls a "
            "crafting-table service. Settings: CRAFTING_TABLE_BASE_URL (default "
            "http://127.0.0.1:8810), CRAFTING_TABLE_TOKEN (a bearer of the "
            "service), CRAFTING_TABLE_MCP_LOG_LEVEL (default WARNING)."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"crafting-table-mcp {__version__}"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``crafting-table-mcp``: serve MCP on stdio until EOF."""
    build_parser().parse_args(argv)
    level = os.environ.get("CRAFTING_TABLE_MCP_LOG_LEVEL", "WARNING").upper()
    if level not in get_args(LogLevel):
        print(
            f"crafting-table-mcp: CRAFTING_TABLE_MCP_LOG_LEVEL {level!r} is not one "
            f"of {', '.join(get_args(LogLevel))}",
            file=sys.stderr,
        )
        return 2
    server = build_server(Config.from_env(os.environ), cast(LogLevel, level))
    anyio.run(server.run_stdio_async, backend="trio")
    return 0
