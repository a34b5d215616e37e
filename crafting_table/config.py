"""Settings, read once from ``CRAFTING_*`` environment variables (and ``.env``).

Outside a container every default points at a local folder relative to the
working directory, so ``crafting-table serve`` runs on a bare machine; the
image overrides the paths. ``.env.example`` lists every variable.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_LAN_CIDRS = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "::1/128",
]

# What a recipe may inherit from the service's environment. Toolchain
# locations only: anything else (and every CRAFTING_* variable) is dropped so
# that the service's own secrets never reach recipe code.
DEFAULT_RECIPE_ENV = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "USER",
    "LOGNAME",
    "TERM",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "GOROOT",
    "JAVA_HOME",
    "JAVA_HOME_21",
    "DOTNET_ROOT",
    "NIX_PATH",
    "NIX_SSL_CERT_FILE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
]

CsvList = Annotated[list[str], NoDecode]

# Names of the prefix that are no setting of the service, yet not a typo:
# each job's own variables (a service started by a recipe, as in this
# project's CI, inherits them). The client's and the MCP bridge's start
# with CRAFTING_TABLE_, the test suite's with CRAFTING_TEST_.
_OTHER_PREFIXES = ("CRAFTING_TABLE_", "CRAFTING_TEST_")
_JOB_VARIABLES = frozenset(
    {
        "CRAFTING_JOB_ID",
        "CRAFTING_JOB_MARK",
        "CRAFTING_PROJECT",
        "CRAFTING_SUBPROJECT",
        "CRAFTING_RECIPE",
        "CRAFTING_REF",
        "CRAFTING_SHA",
        "CRAFTING_REPORTS",
    }
)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) or 1


def default_workspace() -> Path:
    """Where clones and worktrees go unless told: outside any source tree.

    Tools such as ruff, pytest, eslint and tsc read configuration from the
    folders above a worktree; a workspace beside a checkout (this service's
    own, when started from it) would have every job checked with that
    checkout's settings.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/crafting-table/workspace")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "crafting-table" / "workspace"


class Settings(BaseSettings):
    """Every setting of the service; see ``.env.example`` for the meaning."""

    model_config = SettingsConfigDict(
        env_prefix="CRAFTING_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    bind: str = "127.0.0.1:8810"
    data_dir: Path = Path("data")
    workspace_dir: Path = Field(default_factory=default_workspace)
    cache_dir: Path = Path("caches")
    lan_cidrs: CsvList = Field(default_factory=lambda: list(DEFAULT_LAN_CIDRS))
    trusted_proxies: CsvList = Field(default_factory=list)
    max_jobs: int = Field(default_factory=_cores, ge=1, le=1024)
    allow_file_urls: Literal["never", "admin", "always"] = "admin"
    git_hosts: CsvList = Field(default_factory=list)
    public_url: str | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    access_log: bool = True

    # Jobs and their processes.
    max_log_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Webhook deliveries only: GitHub caps a delivery at 25 MB and a push
    # listing thousands of changed files comes near it, far above what an
    # API call needs.
    max_hook_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    kill_grace_secs: float = Field(default=10.0, ge=0)
    shutdown_grace_secs: float = Field(default=20.0, ge=0)
    git_timeout_secs: float = Field(default=600.0, gt=0)
    recipe_env: CsvList = Field(default_factory=lambda: list(DEFAULT_RECIPE_ENV))
    recipe_user: str | None = None
    # With a recipe user, each project's recipes run as uid and gid
    # base + its slot (1, 2, ...), count slots in all; base 0 runs every
    # project as the recipe user itself. 200000 sits above the ids that
    # hosts give their users and system accounts, and its 65536 fit one
    # subordinate-id block.
    recipe_uid_base: int = Field(default=200_000, ge=0, le=2**31 - 1)
    recipe_uid_count: int = Field(default=65_536, ge=1, le=2**24)
    # Per-job limits for subprojects that set none; 0 means no limit.
    default_memory_mb: int = Field(default=4096, ge=0, le=1024 * 1024)
    default_pids: int = Field(default=4096, ge=0, le=1_000_000)
    containment: Literal["auto", "cgroup2", "hybrid", "none"] = "auto"

    # Garbage collection.
    gc_interval_secs: float = Field(default=3600.0, gt=0)
    worktree_max_age_secs: float = Field(default=24 * 3600.0, ge=0)
    clone_quiet_secs: float = Field(default=7 * 24 * 3600.0, ge=0)
    log_retention_days: int = Field(default=0, ge=0)

    # Digest.
    digest_tz: str = "America/Los_Angeles"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_pass: SecretStr | None = None
    smtp_from: str | None = None
    smtp_tls: bool = True
    smtp_ca_file: Path | None = None
    smtp_timeout_secs: float = Field(default=30.0, gt=0, le=600)

    # Patch loop.
    clawdforge_url: str | None = None
    clawdforge_token: SecretStr | None = None
    gitea_url: str | None = None
    gitea_token: SecretStr | None = None
    patcher_max_attempts: int = Field(default=3, ge=1)
    patcher_branch_prefix: str = "crafting-table/auto/"
    patcher_max_diff_lines: int = Field(default=400, ge=1)
    patcher_agent_timeout_secs: float = Field(default=300.0, gt=0)
    patcher_forge_timeout_secs: float = Field(default=30.0, gt=0)
    patcher_answer_wait_secs: float = Field(default=120.0, ge=0)

    # Triggers and commit status.
    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    webhook_retention_days: int = Field(default=30, ge=1, le=3650)

    @field_validator(
        "lan_cidrs", "trusted_proxies", "git_hosts", "recipe_env", mode="before"
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        """Accept ``a,b,c`` as well as a JSON list or a Python list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                try:
                    return json.loads(text)
                except ValueError as exc:
                    raise ValueError(
                        f"{text!r} is not a JSON list ({exc}); write "
                        'a,b,c or ["a", "b", "c"]'
                    ) from exc
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("lan_cidrs", "trusted_proxies")
    @classmethod
    def _check_cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"{cidr!r} is not an address range like 10.0.0.0/8"
                ) from exc
        return value

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8810")
        return value

    @field_validator("digest_tz")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not a time zone; use an IANA name such as "
                "'America/Los_Angeles'"
            ) from exc
        return value

    @field_validator("smtp_host", "smtp_user", "smtp_from")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # These end up in SMTP commands and mail headers, where a line
        # break would start a command or a header of its own.
        if value is not None and any(c in value for c in "\r\n\0"):
            raise ValueError(f"{value!r} must be a single line")
        return value or None

    @property
    def ledger_path(self) -> Path:
        """The SQLite file."""
        return self.data_dir / "ledger.sqlite3"

    @property
    def logs_dir(self) -> Path:
        """Where job logs live, one folder per project."""
        return self.data_dir / "logs"

    @property
    def admin_bearer_path(self) -> Path:
        """Where the first boot writes the admin bearer (mode 600)."""
        return self.data_dir / "admin-bearer.txt"

    def patcher_missing(self) -> list[str]:
        """Names of the required patch loop variables that are unset."""
        wanted = {
            "CRAFTING_CLAWDFORGE_URL": self.clawdforge_url,
            "CRAFTING_CLAWDFORGE_TOKEN": self.clawdforge_token,
            "CRAFTING_GITEA_URL": self.gitea_url,
            "CRAFTING_GITEA_TOKEN": self.gitea_token,
        }
        return [name for name, value in wanted.items() if not value]

    def secrets(self) -> list[str]:
        """Every secret value the service holds, for masking in logs."""
        values = [self.smtp_pass, self.clawdforge_token, self.gitea_token]
        values.append(self.github_token)
        return [v.get_secret_value() for v in values if v and v.get_secret_value()]


def likely_setting(name: str) -> str | None:
    """The setting a misspelt ``CRAFTING_*`` name most likely meant, if any."""
    known = ["CRAFTING_" + field.upper() for field in Settings.model_fields]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    return close[0] if close else None


def unknown_variables(names: Iterable[str]) -> list[str]:
    """The ``CRAFTING_*`` ones among ``names`` that no setting reads, sorted.

    Settings ignore unknown names, so a misspelt one would otherwise leave
    its default in force without a word.
    """
    known = {"CRAFTING_" + name.upper() for name in Settings.model_fields}
    return sorted(
        {
            name
            for name in names
            if name.startswith("CRAFTING_")
            and name not in known
            and name not in _JOB_VARIABLES
            and not name.startswith(_OTHER_PREFIXES)
        }
    )
