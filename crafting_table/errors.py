"""Every exception crafting-table raises on purpose.

One root, one tree. Errors from sqlite3, subprocess, git and pydantic are
translated into these at the seam where they happen, with the original
chained as ``__cause__``. Each class carries the HTTP status and the stable
machine-readable ``code`` that the API answers with, so the front end maps
any of them to ``{ok: false, error: {code, message}}`` in one place::

    CraftingError                      500 internal
    ├── ConfigError                    500 config_invalid
    ├── LedgerError                    500 ledger_failed
    ├── GitError                       502 git_failed
    │   └── UnsafeGitInput             422 unsafe_git_input
    ├── ContainmentError               500 containment_failed
    ├── ActorError                     500 actor_failed
    │   ├── AskTimeout                 503 actor_busy
    │   └── RestartIntensityExceeded   500 restart_intensity
    ├── AgentError                     502 agent_failed
    ├── ForgeError                     502 forge_failed
    ├── PatchRejected                  422 patch_rejected
    │   ├── ApplyFailed                422 apply_failed
    │   └── VerifyFailed               422 verify_failed
    ├── MailError                      502 mail_failed
    ├── ClientError                    the command-line client; exits non-zero
    │   ├── UsageError                 exit 2: a missing token, an unreadable file
    │   ├── ServiceRefused             exit 1: the API answered with an error
    │   └── ServiceUnreachable         exit 3: no answer from the service
    └── ApiError                       4xx/503, one subclass per answer
        ├── BadRequest                 400 bad_request
        ├── Unauthorized               401 unauthorized
        ├── Forbidden                  403 forbidden
        ├── NotFound                   404 not_found
        ├── Conflict                   409 conflict
        ├── PayloadTooLarge            413 payload_too_large
        ├── RangeNotSatisfiable        416 range_not_satisfiable
        ├── Unprocessable              422 validation_failed
        └── NotConfigured              503 not_configured

Messages are one sentence: what was wrong, the bad value shown with ``!r``,
and for API users what to do instead.
"""

from __future__ import annotations

from typing import Any, ClassVar


def leaves(error: BaseException) -> list[BaseException]:
    """The errors inside ``error``, looking through (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


class CraftingError(Exception):
    """Root of every error crafting-table raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(CraftingError):
    """A setting is missing, malformed or contradicts another one."""

    code = "config_invalid"


class LedgerError(CraftingError):
    """The SQLite ledger refused or failed an operation."""

    code = "ledger_failed"


class GitError(CraftingError):
    """A git command failed; the message carries its redacted stderr."""

    status = 502
    code = "git_failed"


class UnsafeGitInput(GitError):
    """A ref, URL or path that could be read as an option or a bad transport."""

    status = 422
    code = "unsafe_git_input"


class ContainmentError(CraftingError):
    """A recipe could not be confined (a control group, an owner, a limit)."""

    code = "containment_failed"


class ActorError(CraftingError):
    """An actor could not take or answer a message."""

    code = "actor_failed"


class AskTimeout(ActorError):
    """An actor did not answer an ask within its deadline."""

    status = 503
    code = "actor_busy"


class RestartIntensityExceeded(ActorError):
    """An actor crashed too often in the window; the service gives up."""

    code = "restart_intensity"


class AgentError(CraftingError):
    """The agent host failed, timed out or answered something unusable."""

    status = 502
    code = "agent_failed"


class ForgeError(CraftingError):
    """The forge (Gitea or GitHub) API refused or failed a call."""

    status = 502
    code = "forge_failed"


class PatchRejected(CraftingError):
    """A drafted patch was turned down; the message says why."""

    status = 422
    code = "patch_rejected"


class ApplyFailed(PatchRejected):
    """A diff does not apply, or touches what a patch may not touch."""

    code = "apply_failed"


class VerifyFailed(PatchRejected):
    """A patch applied but its verification (the recipe, the policy) failed."""

    code = "verify_failed"


class MailError(CraftingError):
    """The SMTP server refused or could not be reached."""

    status = 502
    code = "mail_failed"


class ClientError(CraftingError):
    """The ``crafting-table`` client could not do what it was asked.

    ``exit_status`` is what the command exits with; the message is printed
    on standard error as one line.
    """

    exit_status: ClassVar[int] = 1


class UsageError(ClientError):
    """The command cannot run as given: no token, a bad file, no confirmation."""

    exit_status = 2


class ServiceRefused(ClientError):
    """The API answered ``{ok: false, error: {code, message}}`` (or not JSON)."""

    exit_status = 1

    def __init__(self, http_status: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.http_status = http_status
        self.error_code = error_code
        self.api_message = message


class ServiceUnreachable(ClientError):
    """The connection to the service failed or it did not answer in time.

    Its own exit status (not 1) lets a script tell a service that is down
    from one that refused the request.
    """

    exit_status = 3


class ApiError(CraftingError):
    """A request the API refuses; status and code go to the client as is."""

    status = 400
    code = "bad_request"


class BadRequest(ApiError):
    """The request could not be read (bad JSON, bad header, bad parameter)."""


class Unauthorized(ApiError):
    """No bearer, or one that is unknown or revoked."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """The caller is known but may not do this (address or role)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """Missing, or owned by someone else: the two are indistinguishable."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The object exists already or is in a state that forbids the change."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The request body is over the configured limit."""

    status = 413
    code = "payload_too_large"


class RangeNotSatisfiable(ApiError):
    """A log offset past the end of the log, or a Range it cannot serve."""

    status = 416
    code = "range_not_satisfiable"


class Unprocessable(ApiError):
    """The request is well-formed JSON but a field is invalid."""

    status = 422
    code = "validation_failed"


class NotConfigured(ApiError):
    """A feature is off because settings it needs are missing."""

    status = 503
    code = "not_configured"
