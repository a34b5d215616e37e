"""Every exception the bridge raises on purpose.

One root, one tree::

    BridgeError                 a tool call failed; the message is for the model
    ├── InvalidArguments        the arguments do not fit the tool's input schema
    ├── NotConfigured           CRAFTING_TABLE_TOKEN or the base URL is unusable
    ├── ServiceUnreachable      no answer from the service (refused, timed out)
    ├── NotFound                an object is missing from the service's answer
    └── ApiRefused              the service answered {ok: false, error: {...}}

Each is also an ``mcp`` ``ToolError``, so the SDK turns it into a tool result
with ``isError`` set and this message as its text, never into a crash of the
bridge. httpx errors are translated in :mod:`crafting_table_mcp.api`, and
the SDK's pydantic refusals of arguments in :mod:`crafting_table_mcp.server`,
each with the original chained as ``__cause__``. No message ever carries the bearer.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError


class BridgeError(ToolError):
    """Root of every error the bridge raises on purpose."""


class InvalidArguments(BridgeError):
    """A tool was called with arguments its input schema does not allow."""

    def __init__(self, tool: str, problem: str) -> None:
        # Worded like the SDK's other tool errors, which every other
        # refusal a model sees from this bridge starts with.
        super().__init__(f"Error executing tool {tool}: invalid_arguments: {problem}")
        self.tool = tool
        self.problem = problem


class NotConfigured(BridgeError):
    """A setting the bridge needs is missing or malformed."""


class ServiceUnreachable(BridgeError):
    """The service could not be reached or did not answer in time."""


class NotFound(BridgeError):
    """What a tool looked for is not in the service's answer."""


class ApiRefused(BridgeError):
    """The service refused the request; carries its status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"crafting-table answered {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
