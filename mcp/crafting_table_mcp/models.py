"""The typed inputs of the tools that send a project.

They give an MCP client a schema with a description for every field; the
values are checked by the service, whose 422 names the field, so these
models stay loose where the service is strict. Unknown fields are passed
through: a field the service learns later works without a new bridge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Recipe = Literal["build", "test", "lint", "audit"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "timed_out", "canceled"]
Kind = Literal["lint", "cve", "test_fail", "recipe_fail"]
Severity = Literal["error", "warning", "info"]
PatchStatus = Literal[
    "drafting",
    "apply_failed",
    "verifying",
    "verify_failed",
    "pushing",
    "pr_opened",
    "failed",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Limits(_Open):
    """Resource limits of each job of a subproject."""

    memory_mb: int | None = Field(default=None, description="Memory limit in MiB.")
    pids: int | None = Field(default=None, description="Most processes at once.")


class Subproject(_Open):
    """One folder of the repository and the shell command of each recipe."""

    path: str = Field(
        default=".", description="Folder inside the repository, e.g. 'clients/python'."
    )
    language: str | None = Field(
        default=None,
        description=(
            "Selects the findings parsers: rust, python, go, typescript, "
            "javascript, shell, ruby, php, c, cpp, swift, java, kotlin, csharp, "
            "or generic (SARIF, JUnit and Checkstyle reports and the exit code "
            "only). Left out: the one the recipe commands point to."
        ),
    )
    build: str | None = Field(default=None, description="Shell command of 'build'.")
    test: str | None = Field(default=None, description="Shell command of 'test'.")
    lint: str | None = Field(default=None, description="Shell command of 'lint'.")
    audit: str | None = Field(default=None, description="Shell command of 'audit'.")
    timeout_secs: int | None = Field(
        default=None, description="Deadline of each job in seconds (default 1800)."
    )
    limits: Limits | None = None


class Notify(_Open):
    """Who hears about the project's jobs, and whether patches are drafted."""

    email: list[str] | None = Field(default=None, description="Digest recipients.")
    on: list[str] | None = Field(
        default=None,
        description=(
            "Digest events: audit_pass, audit_fail, test_fail, lint_warn, "
            "cve_found, patch_drafted, nightly_summary."
        ),
    )
    auto_patch: bool | None = Field(
        default=None, description="Draft a patch after each job with findings."
    )


class _Settings(_Open):
    default_branch: str | None = Field(
        default=None, description="Branch a job runs when it names no ref or sha."
    )
    languages: list[str] | None = Field(default=None, description="For display.")
    notify: Notify | None = None
    webhook_secret: str | None = Field(
        default=None, description="Secret of push webhooks (write-only)."
    )
    on_push: list[Recipe] | None = Field(
        default=None, description="Recipes to run on a push, e.g. ['lint', 'test']."
    )
    max_concurrent_jobs: int | None = Field(
        default=None, description="Most jobs of this project at once."
    )


_GIT_URL = "Clone URL (https://, ssh:// or git@host:path)."


class ProjectSpec(_Settings):
    """A project to register: a git repository and its subprojects' recipes."""

    name: str = Field(
        description="1-63 lowercase letters, digits, '-' or '_'; the project's id."
    )
    git_url: str = Field(description=_GIT_URL)
    subprojects: list[Subproject] = Field(
        description="At least one subproject defining at least one recipe."
    )


class ProjectChanges(_Settings):
    """Fields to change on a project; a field left out keeps its value."""

    git_url: str | None = Field(default=None, description=_GIT_URL)
    subprojects: list[Subproject] | None = Field(
        default=None, description="Replaces the whole list when given."
    )
