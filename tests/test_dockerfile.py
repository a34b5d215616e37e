"""The image's build files, read without a Docker engine.

hadolint checks the Dockerfile as a Dockerfile; the tests below check what
it cannot know: that every toolchain of the matrix is installed at the
version the reference names, that every download is verified before use,
that the service runs as crafter with recipes left to an unprivileged user,
that the settings it reads are ones the service has, and that the source is
copied after the toolchains so that a change to it rebuilds little.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from crafting_table.config import Settings
from crafting_table.jobenv import CACHE_VARIABLES
from tests.linters import linter

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    args: str


def read_instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, comments dropped."""
    instructions = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


INSTRUCTIONS = read_instructions(DOCKERFILE)
RUNS = [i.args for i in INSTRUCTIONS if i.keyword == "RUN"]


def args_of(keyword: str) -> dict[str, str]:
    """Every ``KEY=value`` that ARG (or ENV) instructions set; last one wins."""
    values: dict[str, str] = {}
    for instruction in INSTRUCTIONS:
        if instruction.keyword == keyword:
            for word in shlex.split(instruction.args):
                key, _, value = word.partition("=")
                values[key] = value
    return values


ARGS = args_of("ARG")
ENV = args_of("ENV")


def apt_packages() -> set[str]:
    """The Debian packages the image installs."""
    packages: set[str] = set()
    for run in RUNS:
        for command in run.split("&&"):
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                packages.update(w for w in words[2:] if not w.startswith("-"))
    return packages


def index_of(predicate: object) -> int:
    """The position of the first instruction for which ``predicate`` holds."""
    assert callable(predicate)
    return next(n for n, i in enumerate(INSTRUCTIONS) if predicate(i))


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [linter("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_entrypoint_passes_shellcheck() -> None:
    done = subprocess.run(
        [linter("shellcheck"), str(ROOT / "docker" / "entrypoint.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_base_is_debian_bookworm_slim() -> None:
    assert INSTRUCTIONS[0] == Instruction("FROM", "debian:bookworm-slim")


# What installs each toolchain and extra of the matrix: a Debian package, or
# a pattern that some RUN instruction must contain.
MATRIX: list[tuple[str, str, str]] = [
    ("python", "apt", "python3"),
    ("python-venv", "apt", "python3-venv"),
    ("uv", "run", r'"uv==\$\{UV_VERSION\}"'),
    ("pipx", "apt", "pipx"),
    ("pip-audit", "run", r'"pip-audit==\$\{PIP_AUDIT_VERSION\}"'),
    ("ruff", "run", r'"ruff==\$\{RUFF_VERSION\}"'),
    ("mypy", "run", r'"mypy==\$\{MYPY_VERSION\}"'),
    ("pytest", "run", r'"pytest==\$\{PYTEST_VERSION\}"'),
    ("semgrep", "run", r'"semgrep==\$\{SEMGREP_VERSION\}"'),
    ("node", "run", r"nodejs\.org/dist/v\$\{NODE_VERSION\}/"),
    ("pnpm", "run", r'"pnpm@\$\{PNPM_VERSION\}"'),
    ("tsx", "run", r'"tsx@\$\{TSX_VERSION\}"'),
    ("eslint", "run", r'"eslint@\$\{ESLINT_VERSION\}"'),
    ("typescript", "run", r'"typescript@\$\{TYPESCRIPT_VERSION\}"'),
    ("bun", "run", r'"bun@\$\{BUN_VERSION\}"'),
    ("go", "run", r"go\.dev/dl/go\$\{GO_VERSION\}\.linux-amd64\.tar\.gz"),
    ("govulncheck", "run", r"go install \"golang\.org/x/vuln/cmd/govulncheck@"),
    ("staticcheck", "run", r"go install \"honnef\.co/go/tools/cmd/staticcheck@"),
    ("rust", "run", r"rustup-init .*--default-toolchain \"\$\{RUST_TOOLCHAIN\}\""),
    ("clippy-rustfmt", "run", r"--component clippy,rustfmt"),
    ("ruby", "apt", "ruby"),
    ("bundler", "apt", "ruby-bundler"),
    ("bundler-audit", "run", r"gem install .*bundler-audit"),
    ("rubocop", "apt", "rubocop"),
    ("php", "apt", "php8.2-cli"),
    ("composer", "apt", "composer"),
    ("phpstan", "run", r'"phpstan/phpstan:\$\{PHPSTAN_VERSION\}"'),
    ("phpunit", "apt", "phpunit"),
    ("jdk17", "apt", "openjdk-17-jdk-headless"),
    ("temurin21", "run", r"adoptium/temurin21-binaries/"),
    ("maven", "apt", "maven"),
    ("gradle", "run", r"gradle-\$\{GRADLE_VERSION\}-bin\.zip"),
    ("dotnet", "run", r"dotnet-sdk-\$\{DOTNET_SDK_VERSION\}-linux-x64\.tar\.gz"),
    ("swift", "run", r"swift-\$\{SWIFT_VERSION\}-RELEASE-ubuntu22\.04\.tar\.gz"),
    ("kotlin", "run", r"kotlin-compiler-\$\{KOTLIN_VERSION\}\.zip"),
    ("clang", "apt", "clang"),
    ("lld", "apt", "lld"),
    ("cmake", "apt", "cmake"),
    ("ninja", "apt", "ninja-build"),
    ("valgrind", "apt", "valgrind"),
    ("bash", "apt", "bash"),
    ("shellcheck", "apt", "shellcheck"),
    ("bats", "apt", "bats"),
    ("shfmt", "apt", "shfmt"),
    ("nix", "run", r"nix-\$\{NIX_VERSION\}-x86_64-linux\.tar\.xz"),
    ("nix-single-user", "run", r"/install .*--no-daemon"),
    ("git", "apt", "git"),
    ("jq", "apt", "jq"),
    ("yq", "run", r'go install "github\.com/mikefarah/yq/v4@'),
    ("ripgrep", "apt", "ripgrep"),
    ("fd", "apt", "fd-find"),
    ("gh", "apt", "gh"),
    ("curl", "apt", "curl"),
    ("wget", "apt", "wget"),
]


@pytest.mark.parametrize(
    ("kind", "what"), [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX]
)
def test_every_toolchain_is_installed(kind: str, what: str) -> None:
    if kind == "apt":
        assert what in apt_packages()
    else:
        assert any(re.search(what, run) for run in RUNS), what


# The versions the reference's matrix names (a prefix where it names only
# the major line).
PINNED = [
    ("NODE_VERSION", "22.11.0"),
    ("GO_VERSION", "1.25.9"),
    ("GRADLE_VERSION", "8.10"),
    ("KOTLIN_VERSION", "1.9.25"),
    ("SWIFT_VERSION", "5.9.2"),
    ("DOTNET_SDK_VERSION", "8.0."),
    ("TEMURIN21_VERSION", "21."),
    ("RUST_TOOLCHAIN", "stable"),
    ("BUN_VERSION", "latest"),
]


@pytest.mark.parametrize(("name", "version"), PINNED, ids=[p[0] for p in PINNED])
def test_versions_are_the_matrix_ones(name: str, version: str) -> None:
    assert ARGS[name].startswith(version)


def test_every_extra_is_pinned() -> None:
    versions = {k: v for k, v in ARGS.items() if k.endswith("_VERSION")}
    rolling = {"BUN_VERSION"}  # the matrix asks for the rolling release

    unpinned = {
        k: v
        for k, v in versions.items()
        if k not in rolling and not re.match(r"v?\d", v)
    }

    assert len(versions) >= 20
    assert not unpinned


# A downloaded file: `curl ... -o FILE URL` (or -fsSLo FILE).
DOWNLOAD = re.compile(r"\bcurl\s[^&|;]*?-\w*o\s+(\S+)\s+(\"[^\"]+\"|\S+)")
DIGEST_CHECK = r'echo "\$\{(\w+_SHA(?:256|512))\}  {file}" \| sha(256|512)sum -c -'


@dataclass(frozen=True)
class Download:
    """One file that a RUN instruction fetches."""

    run: str
    file: str
    at: int


def downloads() -> list[Download]:
    """Every file fetched with ``curl -o``, with its RUN and position in it."""
    return [
        Download(run, match[1], match.start())
        for run in RUNS
        for match in DOWNLOAD.finditer(run)
    ]


DOWNLOADS = downloads()
ARCHIVES = [d for d in DOWNLOADS if not d.file.endswith((".sig", ".asc"))]


def verified_at(download: Download) -> int:
    """Where the download's check is in its RUN; fail if there is none.

    A digest check reads the digest from an ARG of the right length. The
    one signature check (Swift, whose publisher prints no digest) must
    verify that file with a fetched signature and require the pinned key.
    """
    file = re.escape(download.file)
    digest = re.search(DIGEST_CHECK.replace("{file}", file), download.run)
    if digest:
        name, bits = digest[1], int(digest[2])
        assert re.fullmatch(rf"[0-9a-f]{{{bits // 4}}}", ARGS[name]), name
        return digest.start()
    signature = re.search(rf"gpg [^&]*--verify {file}\.sig {file}\b", download.run)
    assert signature, f"{download.file} is used without a digest or signature check"
    key = re.search(r"VALIDSIG \.\*\$\{(\w+)\}", download.run)
    assert key, "the signature check names no pinned key"
    assert re.fullmatch(r"[0-9A-F]{40}", ARGS[key[1]])
    return signature.start()


@pytest.mark.parametrize("download", ARCHIVES, ids=[d.file for d in ARCHIVES])
def test_every_download_is_verified_before_use(download: Download) -> None:
    check = verified_at(download)
    unpacked = re.search(
        rf"(tar|unzip|chmod)[^&]*{re.escape(download.file)}\b", download.run[check:]
    )

    assert check > download.at
    assert unpacked, f"{download.file} is fetched but never used"


def test_every_fetch_saves_to_a_file_first() -> None:
    # A fetch piped straight into tar or a shell would skip the check.
    fetches = [
        m for run in RUNS for m in re.finditer(r"(?:^|&&|;|\|)\s*(curl|wget)\s", run)
    ]

    assert all(m[1] == "curl" for m in fetches)
    assert len(fetches) == len(DOWNLOADS)


def test_no_instruction_fetches_past_the_checks() -> None:
    # ADD with a URL, or an image pulled in by COPY --from, would bring in
    # bytes that no RUN instruction gets to check.
    fetching = [
        i
        for i in INSTRUCTIONS
        if (i.keyword == "ADD" and re.search(r"\b(https?|git)://|git@", i.args))
        or (i.keyword == "COPY" and "--from=" in i.args)
    ]
    froms = [i for i in INSTRUCTIONS if i.keyword == "FROM"]

    assert not fetching
    assert len(froms) == 1


def test_downloads_are_found() -> None:
    # Node, Go, rustup, Temurin, Gradle, Kotlin, .NET, Swift, Nix.
    assert len(ARCHIVES) == 9


def test_nothing_is_piped_into_a_shell() -> None:
    for run in RUNS:
        assert not re.search(r"\|\s*(sudo\s+)?(ba|da)?sh\b", run)


def test_each_digest_sits_beside_its_version() -> None:
    names = [
        word.partition("=")[0]
        for i in INSTRUCTIONS
        if i.keyword == "ARG"
        for word in shlex.split(i.args)
    ]
    for position, name in enumerate(names):
        if re.search(r"_SHA(256|512)$|_SIGNING_KEY$", name):
            previous = names[position - 1]
            assert previous.endswith("_VERSION"), (name, previous)
            assert previous.split("_")[0] == name.split("_")[0], (name, previous)


def test_service_runs_as_crafter_and_recipes_as_recipe() -> None:
    runs = " ".join(RUNS)
    final_user = [i.args for i in INSTRUCTIONS if i.keyword == "USER"][-1]

    assert "useradd --uid 1000 --gid crafter" in runs
    assert re.search(r"useradd --uid \d+ --gid recipe .*\brecipe\b", runs)
    assert "crafter ALL=(ALL) NOPASSWD: ALL" in runs
    assert not re.search(r"recipe\s+ALL=", runs)
    # recipe may run git in crafter's worktrees; crafter keeps git's check.
    assert "directory = *\\n' >/home/recipe/.gitconfig" in runs
    assert "/etc/gitconfig" not in runs
    # The container starts as root only to prepare its volumes: the entry
    # point then runs the service as crafter with the capabilities it needs.
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    assert final_user == "root"
    assert "exec setpriv --reuid=crafter --regid=crafter --init-groups" in entrypoint
    assert '--ambient-caps="$SERVICE_CAPS"' in entrypoint
    assert ENV["CRAFTING_RECIPE_USER"] == "recipe"


def test_volumes_port_and_command() -> None:
    volumes = [json.loads(i.args) for i in INSTRUCTIONS if i.keyword == "VOLUME"]
    commands = [json.loads(i.args) for i in INSTRUCTIONS if i.keyword == "CMD"]

    assert volumes == [["/data", "/workspace", "/caches", "/nix"]]
    assert [i.args for i in INSTRUCTIONS if i.keyword == "EXPOSE"] == ["8810"]
    assert commands == [["crafting-table", "serve"]]


def test_healthcheck_asks_healthz() -> None:
    (check,) = [i.args for i in INSTRUCTIONS if i.keyword == "HEALTHCHECK"]

    assert "curl -fsS" in check
    assert "/healthz" in check
    assert "${CRAFTING_BIND##*:}" in check


def test_smoke_script_is_in_the_image() -> None:
    copies = [i.args.split() for i in INSTRUCTIONS if i.keyword == "COPY"]

    assert any(c[-2:] == ["smoke.sh", "/usr/local/bin/smoke.sh"] for c in copies)


CONTAINER_SETTINGS = {
    "CRAFTING_BIND": "0.0.0.0:8810",
    "CRAFTING_DATA_DIR": "/data",
    "CRAFTING_WORKSPACE_DIR": "/workspace",
    "CRAFTING_CACHE_DIR": "/caches",
    "CRAFTING_ALLOW_FILE_URLS": "never",
    "CRAFTING_RECIPE_USER": "recipe",
}


@pytest.mark.parametrize(
    ("name", "value"), CONTAINER_SETTINGS.items(), ids=list(CONTAINER_SETTINGS)
)
def test_container_settings(name: str, value: str) -> None:
    assert ENV[name] == value


def test_every_crafting_variable_is_a_setting() -> None:
    fields = set(Settings.model_fields)

    unknown = [
        name
        for name in ENV
        if name.startswith("CRAFTING_")
        and name.removeprefix("CRAFTING_").lower() not in fields
    ]

    assert not unknown


def test_caches_point_where_the_service_points_jobs() -> None:
    cache_dir = Path(ENV["CRAFTING_CACHE_DIR"])
    shared = [name for name in CACHE_VARIABLES if name in ENV]

    assert {"CARGO_HOME", "GOCACHE", "GOMODCACHE", "npm_config_cache"} <= set(shared)
    assert {"PIP_CACHE_DIR", "BUN_INSTALL_CACHE_DIR", "GRADLE_USER_HOME"} <= set(shared)
    for name in shared:
        assert ENV[name] == str(cache_dir / CACHE_VARIABLES[name]), name
    assert ENV["MAVEN_OPTS"] == f"-Dmaven.repo.local={cache_dir / 'maven'}"


def test_recipe_writable_folders_come_last_on_path() -> None:
    path = ENV["PATH"].split(":")

    assert path[-1] == "/caches/cargo/bin"
    assert path.index("/usr/bin") < path.index("/opt/swift/usr/bin")


def test_source_is_copied_after_toolchains_and_dependencies() -> None:
    last_download = max(
        n for n, i in enumerate(INSTRUCTIONS) if i.keyword == "RUN" and "curl" in i.args
    )
    pyproject = index_of(lambda i: i.keyword == "COPY" and "pyproject.toml" in i.args)
    dependencies = index_of(lambda i: i.keyword == "RUN" and "--requirement" in i.args)
    source = index_of(lambda i: i.keyword == "COPY" and "crafting_table" in i.args)

    assert last_download < pyproject < dependencies < source
    assert all(
        "crafting_table" not in i.args and "actors" not in i.args
        for i in INSTRUCTIONS[:source]
        if i.keyword == "COPY"
    )


def test_build_context_holds_only_what_is_copied() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    sources = {
        Path(word).parts[0]
        for i in INSTRUCTIONS
        if i.keyword == "COPY"
        for word in i.args.split()[:-1]
        if not word.startswith("--")
    }

    assert rules[0] == "*"
    assert sources <= allowed
    assert not allowed & {".env", "data", "workspace", "caches", "nix", ".git"}


def test_support_files_exist() -> None:
    for copied in ("smoke.sh", "docker/entrypoint.sh", "docker/nix.conf"):
        assert (ROOT / copied).is_file(), copied


def test_nix_uses_both_substituters() -> None:
    conf = (ROOT / "docker" / "nix.conf").read_text()

    assert re.search(
        r"^substituters = https://cache\.nixos\.org https://cache\.iog\.io$", conf, re.M
    )
    assert "cache.nixos.org-1:" in conf
    assert "hydra.iohk.io:" in conf


# -- compose.yml ----------------------------------------------------------------


def compose_service() -> dict[str, object]:
    """The crafting-table service of compose.yml."""
    compose = yaml.safe_load((ROOT / "compose.yml").read_text())
    service: dict[str, object] = compose["services"]["crafting-table"]
    return service


def seconds(duration: str) -> float:
    """A compose duration such as ``45s`` or ``1m30s`` in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_compose_wires_build_port_volumes_and_env() -> None:
    service = compose_service()

    assert service["build"] == {"context": "."}
    assert service["ports"] == ["8810:8810"]
    assert service["volumes"] == [
        "./data:/data",
        "./workspace:/workspace",
        "./caches:/caches",
        "./nix:/nix",
    ]
    assert service["env_file"] == [{"path": ".env", "required": False}]
    assert service["restart"] == "unless-stopped"


def test_compose_waits_longer_than_the_shutdown_grace() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    stop = compose_service()["stop_grace_period"]

    assert isinstance(stop, str)
    assert seconds(stop) > defaults.shutdown_grace_secs + defaults.kill_grace_secs
