"""The recipe environment: built from scratch, caches shared, secrets absent."""

from __future__ import annotations

from pathlib import Path

from crafting_table.jobenv import recipe_env


def test_only_named_variables_pass_and_never_a_crafting_one() -> None:
    source = {
        "PATH": "/bin",
        "HOME": "/home/x",
        "CRAFTING_SMTP_PASS": "hunter2-secret",
        "AWS_SECRET_ACCESS_KEY": "nope",
    }

    env = recipe_env(
        passthrough=["PATH", "HOME", "CRAFTING_SMTP_PASS"],
        cache_dir=Path("/caches"),
        job={"CRAFTING_JOB_ID": "j1"},
        source=source,
    )

    assert env["PATH"] == "/bin"
    assert "CRAFTING_SMTP_PASS" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["CRAFTING_JOB_ID"] == "j1"
    assert env["CI"] == "true"


def test_package_caches_point_into_the_cache_folder() -> None:
    env = recipe_env(passthrough=[], cache_dir=Path("/caches"), job={}, source={})

    assert env["PIP_CACHE_DIR"] == "/caches/pip"
    assert env["npm_config_store_dir"] == "/caches/pnpm"
    assert env["NUGET_PACKAGES"] == "/caches/nuget"
    assert env["COMPOSER_CACHE_DIR"] == "/caches/composer"
    assert env["MAVEN_OPTS"] == "-Dmaven.repo.local=/caches/maven"
    assert env["DOTNET_CLI_TELEMETRY_OPTOUT"] == "1"
    assert env["LANG"] == "C.UTF-8"
