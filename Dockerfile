# crafting-table: the service plus every toolchain its recipes may call.
#
#   docker compose build
#   docker compose run --rm crafting-table /usr/local/bin/smoke.sh
#   docker compose up -d
#
# Layers run from what changes least to what changes most: Debian packages,
# the users, one layer per downloaded toolchain, the Python tools, Nix, then
# the service's dependencies (from pyproject.toml) and last its source, so a
# change to the service's code rebuilds only the layers after the toolchains
# and dependencies.
#
# Every download is pinned by version and checked against the digest its
# publisher prints next to it, kept in an ARG beside the version: bump both
# together. The digests are for x86_64, the only architecture built here.

FROM debian:bookworm-slim

# pipefail: a failed download inside a pipe must fail the build.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    RUSTUP_HOME=/usr/local/rustup \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    JAVA_HOME_21=/opt/java/temurin-21 \
    DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1 \
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1 \
    PATH=/usr/local/cargo/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/swift/usr/bin

# -- Debian: Python 3.11, Ruby 3.1, PHP 8.2, JDK 17, Maven, C/C++, shell -----
# Debian's own versions are the ones the matrix names, so they are not pinned
# further: a point release of bookworm is a security fix, not a change.
# The man folder must exist before the JDK's post-install script runs on a
# slim image.
# hadolint ignore=DL3008
RUN [ "$(dpkg --print-architecture)" = amd64 ] \
    || { echo "only amd64 is supported: the pinned digests are for x86_64" >&2; exit 1; } \
    && mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates curl wget gnupg xz-utils unzip zip git openssh-client \
        sudo tini procps tzdata \
        python3 python3-venv python3-dev pipx \
        build-essential pkg-config clang lld cmake ninja-build valgrind \
        ruby ruby-dev ruby-bundler rubocop \
        php8.2-cli php8.2-curl php8.2-intl php8.2-mbstring php8.2-xml php8.2-zip \
        composer phpunit \
        openjdk-17-jdk-headless maven \
        bash bats shellcheck shfmt \
        jq ripgrep fd-find gh \
        libicu72 libssl3 libgssapi-krb5-2 zlib1g \
        libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev libpython3-dev \
        libsqlite3-0 libstdc++-12-dev libxml2-dev libz3-dev libncurses-dev zlib1g-dev \
    && ln -s /usr/bin/fdfind /usr/local/bin/fd \
    && rm -rf /var/lib/apt/lists/*

# -- users ---------------------------------------------------------------------
# crafter runs the service (and may sudo, to fix volume ownership at start);
# recipe is CRAFTING_RECIPE_USER, without sudo: recipes see its name, but
# each project's recipes run as an id of their own (200000 + the project's
# slot, no passwd entry; see docs/containment.md), with their caches and
# HOME in /caches/projects/<project>. recipe itself owns the Nix store and
# the shared layout of /caches, used only with CRAFTING_RECIPE_UID_BASE=0.
# Both share the group crafting, which owns the folders they both write.
# Worktrees belong to crafter, so git would refuse to work in them for
# recipe ("dubious ownership") and go build would fail to stamp its
# version: recipe trusts every folder, crafter keeps git's check (the
# service trusts each job's worktree for the project's id by itself).
RUN groupadd --gid 1000 crafter \
    && useradd --uid 1000 --gid crafter --create-home --shell /bin/bash crafter \
    && groupadd --gid 1001 recipe \
    && useradd --uid 1001 --gid recipe --create-home --shell /bin/bash recipe \
    && groupadd --gid 1500 crafting \
    && usermod --append --groups crafting crafter \
    && usermod --append --groups crafting recipe \
    && printf 'crafter ALL=(ALL) NOPASSWD: ALL\n' >/etc/sudoers.d/crafter \
    && chmod 0440 /etc/sudoers.d/crafter \
    && mkdir -p /data /workspace /caches /nix \
    && chown crafter:crafter /data && chmod 0700 /data \
    && chown crafter:crafting /workspace && chmod 2775 /workspace \
    && chown recipe:crafting /caches && chmod 2775 /caches \
    && chown recipe:recipe /nix \
    && printf '[safe]\n\tdirectory = *\n' >/home/recipe/.gitconfig \
    && chown recipe:recipe /home/recipe/.gitconfig

# -- Node 22 + npm, pnpm, tsx, eslint, typescript; Bun -------------------------
# Bun comes from the npm registry (its per-platform binary is an optional
# dependency there, checked by npm's integrity hash); the matrix wants the
# rolling release, so it is "latest" unless the build pins it.
ARG NODE_VERSION=22.11.0
ARG NODE_SHA256=83bf07dd343002a26211cf1fcd46a9d9534219aad42ee02847816940bf610a72
ARG PNPM_VERSION=10.34.8
ARG TSX_VERSION=4.23.15
ARG ESLINT_VERSION=9.39.5
ARG TYPESCRIPT_VERSION=5.9.3
ARG BUN_VERSION=latest
# hadolint ignore=DL3016
RUN curl -fsSLo /tmp/node.tar.xz "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" \
    && echo "${NODE_SHA256}  /tmp/node.tar.xz" | sha256sum -c - \
    && tar -xJf /tmp/node.tar.xz -C /usr/local --strip-components=1 --no-same-owner \
    && rm -f /tmp/node.tar.xz /usr/local/CHANGELOG.md /usr/local/LICENSE /usr/local/README.md \
    && npm install --global --no-fund --no-audit --cache /tmp/npm-cache \
        "pnpm@${PNPM_VERSION}" "tsx@${TSX_VERSION}" "eslint@${ESLINT_VERSION}" \
        "typescript@${TYPESCRIPT_VERSION}" "bun@${BUN_VERSION}" \
    && rm -rf /tmp/npm-cache \
    && node --version && bun --version

# -- Go + govulncheck, staticcheck; yq -----------------------------------------
# The tools build with this Go (GOTOOLCHAIN=local); the go command checks
# every module against the Go checksum database.
ARG GO_VERSION=1.25.9
ARG GO_SHA256=00859d7bd6defe8bf84d9db9e57b9a4467b2887c18cd93ae7460e713db774bc1
ARG GOVULNCHECK_VERSION=v1.7.0
ARG STATICCHECK_VERSION=v0.7.0
ARG YQ_VERSION=v4.53.6
RUN curl -fsSLo /tmp/go.tar.gz "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" \
    && echo "${GO_SHA256}  /tmp/go.tar.gz" | sha256sum -c - \
    && tar -xzf /tmp/go.tar.gz -C /usr/local --no-same-owner \
    && rm /tmp/go.tar.gz \
    && export GOPATH=/tmp/gopath GOCACHE=/tmp/gocache GOBIN=/usr/local/bin GOTOOLCHAIN=local \
    && go install "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}" \
    && go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" \
    && go install "github.com/mikefarah/yq/v4@${YQ_VERSION}" \
    && rm -rf /tmp/gopath /tmp/gocache \
    && go version

# -- Rust stable + clippy, rustfmt ---------------------------------------------
# The toolchain lives in /usr/local (read-only to recipes); at run time
# CARGO_HOME points into /caches, where the registry and any tool a recipe
# installs with `cargo install` (cargo-audit, cargo-deny) go.
ARG RUSTUP_VERSION=1.28.2
ARG RUSTUP_SHA256=20a06e644b0d9bd2fbdbfd52d42540bdde820ea7df86e92e533c073da0cdd43c
ARG RUST_TOOLCHAIN=stable
RUN curl -fsSLo /tmp/rustup-init "https://static.rust-lang.org/rustup/archive/${RUSTUP_VERSION}/x86_64-unknown-linux-gnu/rustup-init" \
    && echo "${RUSTUP_SHA256}  /tmp/rustup-init" | sha256sum -c - \
    && chmod 0755 /tmp/rustup-init \
    && CARGO_HOME=/usr/local/cargo /tmp/rustup-init -y --no-modify-path \
        --profile minimal --default-toolchain "${RUST_TOOLCHAIN}" --component clippy,rustfmt \
    && rm /tmp/rustup-init \
    && rustc --version && cargo clippy --version && rustfmt --version

# -- Temurin 21 beside the default JDK 17 ---------------------------------------
ARG TEMURIN21_VERSION=21.0.11+10
ARG TEMURIN21_SHA256=4b2220e232a97997b436ca6ab15cbf70171ecff52958a46159dfa5a8c44ca4de
RUN release="${TEMURIN21_VERSION%+*}" build="${TEMURIN21_VERSION#*+}" \
    && curl -fsSLo /tmp/jdk21.tar.gz "https://github.com/adoptium/temurin21-binaries/releases/download/jdk-${release}%2B${build}/OpenJDK21U-jdk_x64_linux_hotspot_${release}_${build}.tar.gz" \
    && echo "${TEMURIN21_SHA256}  /tmp/jdk21.tar.gz" | sha256sum -c - \
    && mkdir -p "${JAVA_HOME_21}" \
    && tar -xzf /tmp/jdk21.tar.gz -C "${JAVA_HOME_21}" --strip-components=1 --no-same-owner \
    && rm /tmp/jdk21.tar.gz \
    && "${JAVA_HOME_21}/bin/java" -version

# -- Gradle 8.10 -----------------------------------------------------------------
ARG GRADLE_VERSION=8.10
ARG GRADLE_SHA256=5b9c5eb3f9fc2c94abaea57d90bd78747ca117ddbbf96c859d3741181a12bf2a
RUN curl -fsSLo /tmp/gradle.zip "https://services.gradle.org/distributions/gradle-${GRADLE_VERSION}-bin.zip" \
    && echo "${GRADLE_SHA256}  /tmp/gradle.zip" | sha256sum -c - \
    && unzip -q /tmp/gradle.zip -d /opt \
    && mv "/opt/gradle-${GRADLE_VERSION}" /opt/gradle \
    && ln -s /opt/gradle/bin/gradle /usr/local/bin/gradle \
    && rm /tmp/gradle.zip

# -- Kotlin 1.9.25 compiler ------------------------------------------------------
ARG KOTLIN_VERSION=1.9.25
ARG KOTLIN_SHA256=6ab72d6144e71cbbc380b770c2ad380972548c63ab6ed4c79f11c88f2967332e
RUN curl -fsSLo /tmp/kotlin.zip "https://github.com/JetBrains/kotlin/releases/download/v${KOTLIN_VERSION}/kotlin-compiler-${KOTLIN_VERSION}.zip" \
    && echo "${KOTLIN_SHA256}  /tmp/kotlin.zip" | sha256sum -c - \
    && unzip -q /tmp/kotlin.zip -d /opt \
    && ln -s /opt/kotlinc/bin/kotlinc /opt/kotlinc/bin/kotlin /usr/local/bin/ \
    && rm /tmp/kotlin.zip

# -- .NET 8 SDK --------------------------------------------------------------------
# Microsoft publishes SHA-512 digests for the SDK archives, not SHA-256.
ARG DOTNET_SDK_VERSION=8.0.415
ARG DOTNET_SDK_SHA512=0fc0499a857f161f7c35775bb3f50ac6f0333f02f5df21d21147d538eb26a9a87282d4ba3707181c46f3c09d22cdc984e77820a5953a773525d6f7b332deb7f2
RUN curl -fsSLo /tmp/dotnet.tar.gz "https://builds.dotnet.microsoft.com/dotnet/Sdk/${DOTNET_SDK_VERSION}/dotnet-sdk-${DOTNET_SDK_VERSION}-linux-x64.tar.gz" \
    && echo "${DOTNET_SDK_SHA512}  /tmp/dotnet.tar.gz" | sha512sum -c - \
    && mkdir -p "${DOTNET_ROOT}" \
    && tar -xzf /tmp/dotnet.tar.gz -C "${DOTNET_ROOT}" --no-same-owner \
    && ln -s "${DOTNET_ROOT}/dotnet" /usr/local/bin/dotnet \
    && rm /tmp/dotnet.tar.gz \
    && dotnet --list-sdks

# -- Swift 5.9.2 (the Ubuntu 22.04 build runs on bookworm's libraries) ------------
# swift.org publishes a PGP signature, not a digest, for its archives: the
# check is that the signature is good and made by the pinned release key.
# The toolchain goes last on PATH so that its bundled clang does not shadow
# Debian's.
ARG SWIFT_VERSION=5.9.2
ARG SWIFT_SIGNING_KEY=A62AE125BBBFBB96A6E042EC925CC1CCED3D1561
RUN url="https://download.swift.org/swift-${SWIFT_VERSION}-release/ubuntu2204/swift-${SWIFT_VERSION}-RELEASE/swift-${SWIFT_VERSION}-RELEASE-ubuntu22.04.tar.gz" \
    && curl -fsSLo /tmp/swift.tar.gz "${url}" \
    && curl -fsSLo /tmp/swift.tar.gz.sig "${url}.sig" \
    && curl -fsSLo /tmp/swift-keys.asc https://www.swift.org/keys/all-keys.asc \
    && GNUPGHOME="$(mktemp -d)" && export GNUPGHOME \
    && gpg --batch --quiet --import /tmp/swift-keys.asc \
    && gpg --batch --status-fd 1 --verify /tmp/swift.tar.gz.sig /tmp/swift.tar.gz \
        | grep -q "^\[GNUPG:\] VALIDSIG .*${SWIFT_SIGNING_KEY}" \
    && mkdir -p /opt/swift \
    && tar -xzf /tmp/swift.tar.gz -C /opt/swift --strip-components=1 --no-same-owner \
    && chmod -R o+r /opt/swift/usr/lib/swift \
    && rm -rf "${GNUPGHOME}" /tmp/swift.tar.gz /tmp/swift.tar.gz.sig /tmp/swift-keys.asc \
    && swiftc --version

# -- Python tools: uv, pip-audit, ruff, mypy, pytest, semgrep (one venv each) ----
ARG UV_VERSION=0.13.8
ARG PIP_AUDIT_VERSION=2.10.1
ARG RUFF_VERSION=0.17.5
ARG MYPY_VERSION=2.4.1
ARG PYTEST_VERSION=9.2.0
ARG SEMGREP_VERSION=1.185.0
# Each spec is pinned with ==; hadolint reads the loop variable as unpinned.
# hadolint ignore=DL3013
RUN export PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin PIP_NO_CACHE_DIR=1 \
    && for spec in "uv==${UV_VERSION}" "pip-audit==${PIP_AUDIT_VERSION}" \
        "ruff==${RUFF_VERSION}" "mypy==${MYPY_VERSION}" \
        "pytest==${PYTEST_VERSION}" "semgrep==${SEMGREP_VERSION}"; do \
        pipx install "${spec}" || exit 1; \
    done

# -- Ruby and PHP tools that Debian does not package ------------------------------
ARG BUNDLER_AUDIT_VERSION=0.9.3
ARG PHPSTAN_VERSION=2.1.40
RUN gem install --no-document bundler-audit -v "${BUNDLER_AUDIT_VERSION}" \
    && COMPOSER_HOME=/opt/composer COMPOSER_ALLOW_SUPERUSER=1 \
        composer global require --no-interaction --no-progress "phpstan/phpstan:${PHPSTAN_VERSION}" \
    && ln -s /opt/composer/vendor/bin/phpstan /usr/local/bin/phpstan \
    && rm -rf /opt/composer/cache

# -- Nix, single-user, owned by the recipe user ------------------------------------
# The store is built in /nix and then moved aside as a seed: /nix is a volume,
# and a bind mount would hide whatever the image put there. The entry point
# copies the seed into an empty /nix (or merges it into an older store) and
# the nix commands on PATH point at the seeded store path.
ARG NIX_VERSION=2.34.8
ARG NIX_SHA256=2c2e146b80834fe0ca201b51deeb939405b4f18e8d2071bf80b10f8123c50464
COPY docker/nix.conf /etc/nix/nix.conf
RUN curl -fsSLo /tmp/nix.tar.xz "https://releases.nixos.org/nix/nix-${NIX_VERSION}/nix-${NIX_VERSION}-x86_64-linux.tar.xz" \
    && echo "${NIX_SHA256}  /tmp/nix.tar.xz" | sha256sum -c - \
    && mkdir /tmp/nix-install \
    && tar -xJf /tmp/nix.tar.xz -C /tmp/nix-install --strip-components=1 \
    && chown -R recipe:recipe /tmp/nix-install \
    && runuser -u recipe -- env HOME=/home/recipe USER=recipe /tmp/nix-install/install \
        --no-daemon --no-channel-add --no-modify-profile --yes \
    && nix_out="$(dirname "$(dirname "$(readlink -f /home/recipe/.nix-profile/bin/nix)")")" \
    && "${nix_out}/bin/nix" --version \
    && mkdir -p /opt/nix-seed/nix \
    && runuser -u recipe -- env HOME=/home/recipe "${nix_out}/bin/nix-store" --dump-db \
        >/opt/nix-seed/reginfo \
    && echo "${nix_out}" >/opt/nix-seed/nix-path \
    && ln -s "${nix_out}"/bin/* /usr/local/bin/ \
    && mv /nix/store /nix/var /opt/nix-seed/nix/ \
    && rm -rf /tmp/nix.tar.xz /tmp/nix-install

# -- the service: dependencies from pyproject.toml, then the source -----------------
# The venv is not on PATH: recipes must see Debian's python3, not the service's.
COPY pyproject.toml /src/pyproject.toml
RUN python3 -m venv /opt/crafting-table \
    && python3 -c 'import tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb")); print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"]))' >/tmp/requirements.txt \
    && /opt/crafting-table/bin/pip install --no-cache-dir --requirement /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md LICENSE /src/
COPY crafting_table /src/crafting_table
COPY actors /src/actors
RUN /opt/crafting-table/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src \
    && ln -s /opt/crafting-table/bin/crafting-table /usr/local/bin/crafting-table \
    && rm -rf /src

COPY --chmod=0755 smoke.sh /usr/local/bin/smoke.sh
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/crafting-table-entrypoint

# -- run time ------------------------------------------------------------------------
# Package caches go to /caches; each job's recipe gets its project's own
# folders there instead (/caches/projects/<project>/cargo, ...), and the
# /caches/cargo/bin entry of PATH points into them. Tools that recipes
# install with `cargo install` land there, which comes last on PATH so
# that nothing a recipe writes there can stand in for a system command.
ENV CRAFTING_BIND=0.0.0.0:8810 \
    CRAFTING_DATA_DIR=/data \
    CRAFTING_WORKSPACE_DIR=/workspace \
    CRAFTING_CACHE_DIR=/caches \
    CRAFTING_ALLOW_FILE_URLS=never \
    CRAFTING_RECIPE_USER=recipe \
    CARGO_HOME=/caches/cargo \
    GOMODCACHE=/caches/go/mod \
    GOCACHE=/caches/go/build \
    npm_config_cache=/caches/npm \
    npm_config_store_dir=/caches/pnpm \
    BUN_INSTALL_CACHE_DIR=/caches/bun \
    PIP_CACHE_DIR=/caches/pip \
    UV_CACHE_DIR=/caches/uv \
    GRADLE_USER_HOME=/caches/gradle \
    MAVEN_OPTS=-Dmaven.repo.local=/caches/maven \
    NUGET_PACKAGES=/caches/nuget \
    COMPOSER_CACHE_DIR=/caches/composer \
    PATH=/usr/local/cargo/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/swift/usr/bin:/caches/cargo/bin

VOLUME ["/data", "/workspace", "/caches", "/nix"]
EXPOSE 8810

# The entry point starts as root to prepare the volumes, then runs the
# service as crafter (uid 1000) with only the capabilities it needs to run
# recipes as each project's own id; see docker/entrypoint.sh.
# hadolint ignore=DL3002,DL3066
USER root
WORKDIR /home/crafter

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "curl -fsS \"http://127.0.0.1:${CRAFTING_BIND##*:}/healthz\" >/dev/null || exit 1"]

# tini is PID 1: it forwards SIGTERM to the service and reaps whatever the
# service does not.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/crafting-table-entrypoint"]
CMD ["crafting-table", "serve"]
