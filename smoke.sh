#!/bin/sh
# One hello-world per toolchain of the image, one line per check:
#
#   GREEN <name>
#   RED <name>: <reason>
#
# Compilers compile and run a program; the extra tools of each toolchain
# print their version. A tool that is not on PATH is "RED <name>: not
# installed (<command>)", so the script runs anywhere, not only in the image.
# Exit status 0 and the line "=== ALL TOOLCHAINS GREEN ===" only when every
# selected check passed; 1 when any is red; 2 for a usage error.
#
#   smoke.sh                  run every check
#   smoke.sh --only go,rust   run these checks only
#   smoke.sh --list           print the check names, one a line
#   smoke.sh --timeout 600    override every per-check deadline (seconds)
#
# Each check runs in its own folder under one temporary folder (removed on
# exit), with its own package caches there, so a run neither needs nor
# touches the shared caches of the service. The build tools that fetch
# plugins or packages (Maven, Gradle, .NET) keep them in SMOKE_CACHE_DIR
# instead when it names a folder, so that a second run fetches nothing.

# The check_* functions are called by name (check_$name), which shellcheck
# cannot follow: it would call them unreachable (SC2317 up to 0.10, SC2329
# since).
# shellcheck disable=SC2317,SC2329
set -u

CHECKS='c cpp lld cmake ninja valgrind
rust cargo clippy rustfmt
go govulncheck staticcheck
java java21 maven gradle kotlin
swift dotnet
node npm pnpm typescript tsx eslint bun
python uv pipx pip-audit ruff mypy pytest semgrep
ruby bundler bundler-audit rubocop
php composer phpstan phpunit
bash bats shellcheck shfmt
nix
git jq yq ripgrep fd gh curl wget'

usage() {
    # The comment block at the top of this file, without its '#'.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

# -- helpers used inside a check (each check runs in a child process) --------

# Stop the check as "not installed" unless every command is on PATH.
need() {
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            printf 'not installed (%s)\n' "$tool" >"$SMOKE_REASON"
            exit 3
        fi
    done
}

# Print the first argument that names a command on PATH.
pick() {
    for tool in "$@"; do
        if [ -n "$tool" ] && command -v "$tool" >/dev/null 2>&1; then
            printf '%s\n' "$tool"
            return 0
        fi
    done
    return 1
}

# Print the package cache folder named $1: under SMOKE_CACHE_DIR when it is
# set, so that a second run downloads nothing, else in the check's folder.
cache_dir() {
    printf '%s/%s\n' "${SMOKE_CACHE_DIR:-$PWD/cache}" "$1"
}

# Run a program and fail unless its standard output holds the greeting.
expect() {
    greeting=$1
    shift
    out=$("$@") || exit $?
    printf '%s\n' "$out"
    case $out in
    *"$greeting"*) ;;
    *)
        printf 'expected "%s" in the output\n' "$greeting"
        exit 1
        ;;
    esac
}

# A check that only asks a tool for its version.
version_of() {
    need "$1"
    "$@"
}

# -- the checks: cwd is the check's own empty folder -------------------------

check_c() {
    compiler=$(pick "${CC:-}" clang cc gcc) || need clang
    printf '#include <stdio.h>\nint main(void) { puts("hello from c"); return 0; }\n' >hello.c
    "$compiler" -o hello hello.c || exit 1
    expect 'hello from c' ./hello
}

check_cpp() {
    compiler=$(pick "${CXX:-}" clang++ c++ g++) || need clang++
    cat >hello.cpp <<'EOF'
#include <iostream>
int main() { std::cout << "hello from c++" << std::endl; return 0; }
EOF
    "$compiler" -o hello hello.cpp || exit 1
    expect 'hello from c++' ./hello
}

check_lld() {
    need clang ld.lld
    printf '#include <stdio.h>\nint main(void) { puts("hello from lld"); return 0; }\n' >hello.c
    clang -fuse-ld=lld -o hello hello.c || exit 1
    expect 'hello from lld' ./hello
}

check_cmake() {
    need cmake
    compiler=$(pick "${CC:-}" clang cc gcc) || need cc
    printf '#include <stdio.h>\nint main(void) { puts("hello from cmake"); return 0; }\n' >hello.c
    printf 'cmake_minimum_required(VERSION 3.16)\nproject(hello C)\nadd_executable(hello hello.c)\n' >CMakeLists.txt
    generator=
    command -v ninja >/dev/null 2>&1 && generator="-G Ninja"
    # shellcheck disable=SC2086 # an empty generator is no argument
    CC=$compiler cmake $generator -S . -B build >/dev/null || exit 1
    cmake --build build >/dev/null || exit 1
    expect 'hello from cmake' ./build/hello
}

check_ninja() {
    need ninja
    compiler=$(pick "${CC:-}" clang cc gcc) || need cc
    printf '#include <stdio.h>\nint main(void) { puts("hello from ninja"); return 0; }\n' >hello.c
    # shellcheck disable=SC2016 # $out and $in are ninja's, not the shell's
    printf 'rule cc\n  command = %s -o $out $in\nbuild hello: cc hello.c\n' "$compiler" >build.ninja
    ninja >/dev/null || exit 1
    expect 'hello from ninja' ./hello
}
check_valgrind() { version_of valgrind --version; }

check_rust() {
    need rustc
    printf 'fn main() {\n    println!("hello from rust");\n}\n' >hello.rs
    rustc -o hello hello.rs || exit 1
    expect 'hello from rust' ./hello
}

check_cargo() { version_of cargo --version; }

check_clippy() {
    need cargo cargo-clippy
    cargo clippy --version
}

check_rustfmt() { version_of rustfmt --version; }

check_go() {
    need go
    # A private build cache: the shared one may belong to another user, and
    # GOTOOLCHAIN=local keeps this Go from fetching a different one.
    GOCACHE=$PWD/go-build GOPATH=$PWD/go GOTOOLCHAIN=local GOFLAGS=
    export GOCACHE GOPATH GOTOOLCHAIN GOFLAGS
    cat >hello.go <<'EOF'
package main

import "fmt"

func main() { fmt.Println("hello from go") }
EOF
    go build -o hello hello.go || exit 1
    expect 'hello from go' ./hello
}

check_govulncheck() { version_of govulncheck -version; }
check_staticcheck() { version_of staticcheck -version; }

write_java() {
    cat >Hello.java <<'EOF'
public class Hello {
    public static void main(String[] args) {
        System.out.println("hello from java " + Runtime.version().feature());
    }
}
EOF
}

check_java() {
    need javac java
    write_java
    javac -d classes Hello.java || exit 1
    expect 'hello from java' java -cp classes Hello
}

check_java21() {
    if [ -z "${JAVA_HOME_21:-}" ] || [ ! -x "$JAVA_HOME_21/bin/javac" ]; then
        echo 'not installed (JAVA_HOME_21)' >"$SMOKE_REASON"
        exit 3
    fi
    write_java
    "$JAVA_HOME_21/bin/javac" --release 21 -d classes Hello.java || exit 1
    expect 'hello from java 21' "$JAVA_HOME_21/bin/java" -cp classes Hello
}

# The hello-world program where Maven and Gradle look for sources, greeting
# from $1.
write_java_project() {
    mkdir -p src/main/java || exit 1
    write_java
    sed "s/hello from java/hello from $1/" Hello.java >src/main/java/Hello.java ||
        exit 1
    rm Hello.java
}

check_maven() {
    need mvn javac java
    write_java_project maven
    # No plugin is named: the versions Maven binds by default compile Java
    # 17, and "compile" (not "package") keeps the downloads to two plugins.
    cat >pom.xml <<'EOF'
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>smoke</groupId>
  <artifactId>hello</artifactId>
  <version>1</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
  </properties>
</project>
EOF
    MAVEN_OPTS="-Dmaven.repo.local=$(cache_dir maven)" \
        mvn --batch-mode --no-transfer-progress --quiet compile || exit 1
    expect 'hello from maven' java -cp target/classes Hello
}

check_gradle() {
    need gradle java
    write_java_project gradle
    # The application plugin ships with Gradle: nothing is downloaded.
    echo "rootProject.name = 'hello'" >settings.gradle
    cat >build.gradle <<'EOF'
plugins { id 'application' }
application { mainClass = 'Hello' }
EOF
    GRADLE_USER_HOME=$(cache_dir gradle)
    export GRADLE_USER_HOME
    expect 'hello from gradle' gradle --no-daemon --quiet --console=plain run
}

check_kotlin() {
    need kotlinc java
    printf 'fun main() {\n    println("hello from kotlin")\n}\n' >hello.kt
    kotlinc hello.kt -include-runtime -d hello.jar || exit 1
    expect 'hello from kotlin' java -jar hello.jar
}

check_swift() {
    need swiftc
    printf 'print("hello from swift")\n' >hello.swift
    swiftc -module-cache-path "$PWD/module-cache" -o hello hello.swift || exit 1
    expect 'hello from swift' ./hello
}

check_dotnet() {
    need dotnet
    DOTNET_CLI_HOME=$PWD/dotnet-home NUGET_PACKAGES=$(cache_dir nuget)
    DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
    export DOTNET_CLI_HOME NUGET_PACKAGES DOTNET_CLI_TELEMETRY_OPTOUT DOTNET_NOLOGO
    export DOTNET_SKIP_FIRST_TIME_EXPERIENCE
    mkdir hello && cd hello || exit 1
    cat >hello.csproj <<'EOF'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net8.0</TargetFramework>
  </PropertyGroup>
</Project>
EOF
    echo 'System.Console.WriteLine("hello from dotnet");' >Program.cs
    dotnet build --nologo -o out || exit 1
    expect 'hello from dotnet' dotnet out/hello.dll
}

check_node() {
    need node
    echo 'console.log("hello from node " + process.versions.node);' >hello.js
    expect 'hello from node' node hello.js
}

check_npm() { version_of npm --version; }
check_pnpm() { version_of pnpm --version; }
check_eslint() { version_of eslint --version; }

write_typescript() {
    cat >hello.ts <<'EOF'
const greeting: string = "hello from typescript";
console.log(greeting);
EOF
}

check_typescript() {
    need tsc node
    write_typescript
    tsc --strict --outDir out hello.ts || exit 1
    expect 'hello from typescript' node out/hello.js
}

check_tsx() {
    need tsx
    write_typescript
    expect 'hello from typescript' tsx hello.ts
}

check_bun() {
    need bun
    write_typescript
    BUN_INSTALL_CACHE_DIR=$PWD/bun-cache expect 'hello from typescript' bun hello.ts
}

check_python() {
    need python3
    echo 'import sys; print("hello from python", sys.version.split()[0])' >hello.py
    expect 'hello from python' python3 hello.py
}

check_uv() { version_of uv --version; }
check_pipx() { version_of pipx --version; }
check_pip_audit() { version_of pip-audit --version; }
check_ruff() { version_of ruff --version; }
check_mypy() { version_of mypy --version; }
check_pytest() { version_of pytest --version; }

check_semgrep() {
    # No update check and no metrics: a smoke test talks to nobody.
    SEMGREP_ENABLE_VERSION_CHECK=0 SEMGREP_SEND_METRICS=off version_of semgrep --version
}

check_ruby() {
    need ruby
    echo 'puts "hello from ruby #{RUBY_VERSION}"' >hello.rb
    expect 'hello from ruby' ruby hello.rb
}

check_bundler() { version_of bundle --version; }
check_bundler_audit() { version_of bundler-audit version; }
check_rubocop() { version_of rubocop --version; }

check_php() {
    need php
    printf '%s\n' '<?php echo "hello from php " . PHP_VERSION . "\n";' >hello.php
    expect 'hello from php' php hello.php
}

check_composer() {
    need composer
    COMPOSER_HOME=$PWD/composer composer --no-interaction --version
}

check_phpstan() { version_of phpstan --version; }
check_phpunit() { version_of phpunit --version; }

check_bash() {
    need bash
    cat >hello.sh <<'EOF'
words=(hello from bash)
echo "${words[*]} ${BASH_VERSINFO[0]}"
EOF
    expect 'hello from bash' bash hello.sh
}

check_bats() {
    need bats
    cat >hello.bats <<'EOF'
@test "hello from bats" {
  run echo hello
  [ "$status" -eq 0 ]
  [ "$output" = hello ]
}
EOF
    bats hello.bats
}

check_shellcheck() {
    need shellcheck
    printf '#!/bin/sh\necho "hello from shellcheck"\n' >hello.sh
    shellcheck hello.sh
}

check_shfmt() { version_of shfmt --version; }
check_nix() {
    need nix-instantiate
    # Evaluation in read-only mode: it needs neither the network nor write
    # access to the store, which belongs to the recipe user.
    expect 'hello from nix' nix-instantiate --readonly-mode --eval \
        --expr 'builtins.concatStringsSep " " [ "hello" "from" "nix" ]'
}
check_git() { version_of git --version; }

check_jq() {
    need jq
    echo '{"greeting": "hello from jq"}' >hello.json
    expect 'hello from jq' jq -r .greeting hello.json
}

check_yq() { version_of yq --version; }
check_ripgrep() { version_of rg --version; }

check_fd() {
    # Debian names the program fdfind.
    tool=$(pick fd fdfind) || need fd
    "$tool" --version
}

check_gh() { version_of gh --version; }
check_curl() { version_of curl --version; }
check_wget() { version_of wget --version; }

# -- the driver --------------------------------------------------------------

# Seconds a check may take; compilers that start a JVM or restore packages
# get more.
deadline_of() {
    if [ -n "${TIMEOUT_OVERRIDE:-}" ]; then
        echo "$TIMEOUT_OVERRIDE"
        return
    fi
    case $1 in
    dotnet | kotlin | swift | gradle | java | java21 | go) echo 300 ;;
    semgrep | maven | rust | typescript | bun) echo 120 ;;
    *) echo 60 ;;
    esac
}

is_check() {
    for known in $CHECKS; do
        [ "$known" = "$1" ] && return 0
    done
    return 1
}

# The last non-empty line of a log, shortened: the reason of a red check.
last_line() {
    awk 'NF { line = $0 } END { print substr(line, 1, 200) }' "$1" | tr -d '\r'
}

run_check() {
    name=$1
    dir=$WORK/$name
    mkdir "$dir"
    deadline=$(deadline_of "$name")
    set -- sh "$SELF" --run-one "$name" "$dir"
    # timeout(1) signals the whole process group, so a compiler that the
    # check started dies with it.
    if command -v timeout >/dev/null 2>&1; then
        set -- timeout -k 5 "$deadline" "$@"
    fi
    "$@" >"$dir.log" 2>&1 </dev/null
    status=$?
    if [ "$status" -eq 0 ]; then
        echo "GREEN $name"
        return 0
    fi
    if [ -s "$dir.reason" ]; then
        reason=$(cat "$dir.reason")
    elif [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        reason="timed out after ${deadline}s"
    else
        reason=$(last_line "$dir.log")
        [ -n "$reason" ] || reason="exit status $status"
    fi
    echo "RED $name: $reason"
    return 1
}

main() {
    selected=$CHECKS
    while [ $# -gt 0 ]; do
        case $1 in
        --list)
            for name in $CHECKS; do echo "$name"; done
            return 0
            ;;
        --only)
            [ $# -ge 2 ] || {
                echo "smoke.sh: --only needs a list of names" >&2
                return 2
            }
            selected=$(echo "$2" | tr ',' ' ')
            shift 2
            ;;
        --timeout)
            case ${2:-} in
            '' | *[!0-9]*)
                echo "smoke.sh: --timeout needs a number of seconds" >&2
                return 2
                ;;
            esac
            TIMEOUT_OVERRIDE=$2
            shift 2
            ;;
        -h | --help)
            usage
            return 0
            ;;
        *)
            echo "smoke.sh: unknown option $1 (see --help)" >&2
            return 2
            ;;
        esac
    done
    for name in $selected; do
        if ! is_check "$name"; then
            echo "smoke.sh: no check named '$name'; --list shows them" >&2
            return 2
        fi
    done

    WORK=$(mktemp -d "${TMPDIR:-/tmp}/smoke.XXXXXX") || return 2
    trap 'rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM

    total=0
    red=0
    for name in $selected; do
        total=$((total + 1))
        run_check "$name" || red=$((red + 1))
    done
    if [ "$red" -eq 0 ]; then
        echo '=== ALL TOOLCHAINS GREEN ==='
        return 0
    fi
    echo "=== $red OF $total TOOLCHAINS RED ==="
    return 1
}

SELF=$0
if [ "${1:-}" = --run-one ]; then
    # Internal: run one check in its folder; the reason of a "not installed"
    # goes to a file beside the folder.
    SMOKE_REASON=$3.reason
    cd "$3" || exit 2
    "check_$(echo "$2" | tr '-' '_')"
    exit $?
fi
main "$@"
exit $?
