"""The environment a recipe runs with.

Built from scratch rather than inherited: only the variables named in
``CRAFTING_RECIPE_ENV`` (toolchain locations) pass from the service, never a
``CRAFTING_*`` one, so the admin bearer, the SMTP password and the forge and
agent tokens cannot reach recipe code. Package caches point into the cache
folder so that jobs share downloads; with per-project recipe ids the
executor points them into the project's own folder instead (see
:mod:`crafting_table.recipe_ids`), so that only a project's jobs share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# Tool -> variable and sub-folder of the cache folder.
CACHE_VARIABLES = {
    "PIP_CACHE_DIR": "pip",
    "UV_CACHE_DIR": "uv",
    "npm_config_cache": "npm",
    "YARN_CACHE_FOLDER": "yarn",
    # pnpm reads its store from npm-style configuration.
    "npm_config_store_dir": "pnpm",
    "BUN_INSTALL_CACHE_DIR": "bun",
    "GOMODCACHE": "go/mod",
    "GOCACHE": "go/build",
    "CARGO_HOME": "cargo",
    "GRADLE_USER_HOME": "gradle",
    "NUGET_PACKAGES": "nuget",
    "COMPOSER_CACHE_DIR": "composer",
    "XDG_CACHE_HOME": "xdg",
}

# Quiet, offline-friendly defaults for tools that would otherwise phone home
# or print banners into every log; a recipe may still set them otherwise.
QUIET_DEFAULTS = {
    "DOTNET_CLI_TELEMETRY_OPTOUT": "1",
    "DOTNET_NOLOGO": "1",
    "NEXT_TELEMETRY_DISABLED": "1",
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def cache_variables(cache_dir: Path) -> dict[str, str]:
    """The variables that point every tool's package cache into ``cache_dir``."""
    env = {
        variable: str(cache_dir / folder)
        for variable, folder in CACHE_VARIABLES.items()
    }
    env["MAVEN_OPTS"] = f"-Dmaven.repo.local={cache_dir / 'maven'}"
    return env


def recipe_env(
    *,
    passthrough: list[str],
    cache_dir: Path,
    job: Mapping[str, str],
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The full environment of one recipe.

    ``job`` holds the job's own variables (``CRAFTING_JOB_ID`` and the
    like), which are the only ``CRAFTING_*`` names a recipe sees.
    """
    origin = os.environ if source is None else source
    env = {
        name: origin[name]
        for name in passthrough
        if name in origin and not name.startswith("CRAFTING_")
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env["CI"] = "true"
    env.update(QUIET_DEFAULTS)
    env.update(cache_variables(cache_dir))
    # CARGO_HOME moves the registry cache but cargo's own binaries (and the
    # rustup proxies) stay where PATH finds them; keep rustup's home fixed.
    if "RUSTUP_HOME" not in env and "HOME" in env:
        env["RUSTUP_HOME"] = str(Path(env["HOME"]) / ".rustup")
    env.update(job)
    return env
