"""smoke.sh: one GREEN or RED line per toolchain, and an exit status to match.

The real toolchains of this machine run the subset that CI has; fake ones
on a PATH built for the test show the red paths: absent, failing, hanging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.linters import linter
from tests.toolchains import require

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "smoke.sh"
BANNER = "=== ALL TOOLCHAINS GREEN ==="

# What the driver itself needs from PATH, for runs on a PATH made by a test.
DRIVER_TOOLS = ("sh", "mktemp", "mkdir", "rm", "cat", "awk", "tr", "timeout")

# Every row of the image's toolchain matrix, by the names of its checks.
MATRIX = {
    "Python": (
        "python",
        "uv",
        "pipx",
        "pip-audit",
        "ruff",
        "mypy",
        "pytest",
        "semgrep",
    ),
    "Node": ("node", "npm", "pnpm", "tsx", "eslint", "typescript"),
    "Bun": ("bun",),
    "Go": ("go", "govulncheck", "staticcheck"),
    "Rust": ("rust", "cargo", "clippy", "rustfmt"),
    "Ruby": ("ruby", "bundler", "bundler-audit", "rubocop"),
    "PHP": ("php", "composer", "phpstan", "phpunit"),
    "JDK": ("java", "java21"),
    "Maven": ("maven",),
    "Gradle": ("gradle",),
    ".NET": ("dotnet",),
    "Swift": ("swift",),
    "Kotlin": ("kotlin",),
    "C/C++": ("c", "cpp", "lld", "cmake", "ninja", "valgrind"),
    "Bash": ("bash", "shellcheck", "bats", "shfmt"),
    "Nix": ("nix",),
    "Generic": ("git", "jq", "yq", "ripgrep", "fd", "gh", "curl", "wget"),
}


def smoke(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run smoke.sh with ``args``; the whole run has a deadline."""
    return subprocess.run(
        [str(SMOKE), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def bare_path(tmp_path: Path, *extra: str) -> dict[str, str]:
    """An environment whose PATH holds only the driver's tools and ``extra``."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name in (*DRIVER_TOOLS, *extra):
        found = shutil.which(name)
        assert found is not None, f"this machine lacks {name}"
        (folder / name).symlink_to(found)
    return {**os.environ, "PATH": str(folder), "TMPDIR": str(tmp_path)}


def fake_tool(tmp_path: Path, name: str, body: str) -> None:
    """Put a shell script called ``name`` into the test's PATH folder."""
    tool = tmp_path / "bin" / name
    tool.write_text(f"#!/bin/sh\n{body}\n")
    tool.chmod(0o755)


def test_shellcheck_finds_nothing() -> None:
    done = subprocess.run(
        [linter("shellcheck"), "--shell=sh", str(SMOKE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_list_names_every_toolchain_of_the_matrix() -> None:
    done = smoke("--list")

    names = done.stdout.split()
    assert done.returncode == 0
    assert sorted(names) == sorted(n for row in MATRIX.values() for n in row)


@pytest.mark.slow
def test_machine_toolchains_run_green() -> None:
    require("python3", "node", "go", "rustc", "javac", "java", "cc", "c++", "bash")
    wanted = ["python", "node", "go", "rust", "java", "c", "cpp", "bash"]

    done = smoke("--only", ",".join(wanted))

    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines == [f"GREEN {name}" for name in wanted] + [BANNER]


@pytest.mark.slow
def test_maven_compiles_and_runs_with_a_kept_cache(tmp_path: Path) -> None:
    require("mvn", "javac", "java")
    env = {**os.environ, "SMOKE_CACHE_DIR": str(tmp_path / "cache")}

    first = smoke("--only", "maven", env=env, timeout=300)
    second = smoke("--only", "maven", env=env)

    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines() == ["GREEN maven", BANNER]
    assert list((tmp_path / "cache" / "maven").iterdir())
    assert second.stdout.splitlines() == ["GREEN maven", BANNER]


def test_maven_that_builds_nothing_is_red(tmp_path: Path) -> None:
    env = {**bare_path(tmp_path, "sed"), "SMOKE_CACHE_DIR": "/kept"}
    fake_tool(tmp_path, "javac", "exit 0")
    fake_tool(tmp_path, "java", 'echo "Error: main class Hello not found" >&2\nexit 1')
    fake_tool(tmp_path, "mvn", f'echo "$MAVEN_OPTS $*" >"{tmp_path}/mvn.args"')

    done = smoke("--only", "maven", env=env)

    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "RED maven: Error: main class Hello not found"
    assert (tmp_path / "mvn.args").read_text().split() == [
        "-Dmaven.repo.local=/kept/maven",
        "--batch-mode",
        "--no-transfer-progress",
        "--quiet",
        "compile",
    ]


def test_gradle_runs_the_application_it_was_given(tmp_path: Path) -> None:
    # No Gradle here: a stand-in that runs only the project smoke.sh writes.
    env = {**bare_path(tmp_path, "sed", "grep"), "SMOKE_CACHE_DIR": "/kept"}
    fake_tool(tmp_path, "java", "exit 0")
    fake_tool(
        tmp_path,
        "gradle",
        '[ "$GRADLE_USER_HOME $*" = "/kept/gradle --no-daemon --quiet'
        ' --console=plain run" ] || exit 9\n'
        "grep -q \"mainClass = 'Hello'\" build.gradle || exit 8\n"
        "grep -q 'hello from gradle' src/main/java/Hello.java || exit 7\n"
        'echo "hello from gradle 17"',
    )

    done = smoke("--only", "gradle", env=env)

    assert done.stdout.splitlines() == ["GREEN gradle", BANNER]


@pytest.mark.parametrize(
    ("check", "command"),
    [
        ("go", "go"),
        ("rust", "rustc"),
        ("node", "node"),
        ("java", "javac"),
        ("swift", "swiftc"),
        ("clippy", "cargo"),
        ("maven", "mvn"),
        ("gradle", "gradle"),
        ("kotlin", "kotlinc"),
        ("dotnet", "dotnet"),
        ("nix", "nix-instantiate"),
    ],
    ids=[
        "go",
        "rust",
        "node",
        "java",
        "swift",
        "clippy",
        "maven",
        "gradle",
        "kotlin",
        "dotnet",
        "nix",
    ],
)
def test_absent_toolchain_is_red(tmp_path: Path, check: str, command: str) -> None:
    done = smoke("--only", check, env=bare_path(tmp_path))

    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"RED {check}: not installed ({command})",
        "=== 1 OF 1 TOOLCHAINS RED ===",
    ]


def test_one_red_check_turns_the_run_red(tmp_path: Path) -> None:
    require("bash")

    done = smoke("--only", "bash,go", env=bare_path(tmp_path, "bash"))

    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "GREEN bash",
        "RED go: not installed (go)",
        "=== 1 OF 2 TOOLCHAINS RED ===",
    ]
    assert BANNER not in done.stdout


def test_failing_tool_is_red_with_its_last_words(tmp_path: Path) -> None:
    env = bare_path(tmp_path)
    fake_tool(
        tmp_path, "node", 'echo "warming up"\necho "node: out of luck" >&2\nexit 4'
    )

    done = smoke("--only", "node", env=env)

    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "RED node: node: out of luck"


def test_wrong_output_is_red(tmp_path: Path) -> None:
    env = bare_path(tmp_path)
    fake_tool(tmp_path, "node", 'echo "hello from somewhere else"')

    done = smoke("--only", "node", env=env)

    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        'RED node: expected "hello from node" in the output'
    )


def test_hanging_tool_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    env = bare_path(tmp_path, "sleep")
    fake_tool(tmp_path, "node", "sleep 60")

    done = smoke("--timeout", "1", "--only", "node", env=env, timeout=30)

    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "RED node: timed out after 1s"


def test_temporary_folder_is_removed(tmp_path: Path) -> None:
    env = bare_path(tmp_path, "bash")
    before = set(tmp_path.iterdir())

    done = smoke("--only", "bash,go", env=env)

    assert done.returncode == 1
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "args",
    [["--only", "cobol"], ["--only"], ["--timeout", "soon"], ["--frobnicate"]],
    ids=["unknown-check", "only-without-names", "bad-timeout", "unknown-option"],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = smoke(*args)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("smoke.sh: ")
