#!/bin/sh
# Set-up and everyday commands. Needs only python3 (3.11+) and git.
#
#   ./dev.sh serve   install the service into .venv and start it on the
#                    embedded defaults (127.0.0.1:8810, ./data, worktrees
#                    outside this checkout: see the README)
#   ./dev.sh test    install the service, its test tools and the MCP bridge
#                    into .venv, then run ruff, mypy and the whole test suite
#
# Extra arguments after "serve" go to `crafting-table serve`; after "test",
# to pytest.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
py=${PYTHON:-python3}

make_venv() {
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        return
    fi
    # Debian ships python3 without ensurepip unless python3-venv is
    # installed; fall back to a venv without pip and bootstrap pip from
    # its wheel on PyPI, which needs nothing but the standard library.
    if ! "$py" -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        "$py" -m venv --without-pip "$venv"
        "$venv/bin/python" "$here/scripts/bootstrap_pip.py"
    fi
    "$venv/bin/python" -m pip install --quiet --upgrade pip
}

# Install "$@" into the venv unless the same install, with the same
# pyproject files, was already done: a restart should not wait on pip.
install() {
    stamp="$venv/.installed-$1"
    shift
    want=$(cat "$here/pyproject.toml" "$here/mcp/pyproject.toml" | cksum)
    want="$want $*"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    "$venv/bin/python" -m pip install --quiet "$@"
    printf '%s\n' "$want" >"$stamp"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    serve)
        make_venv
        install serve -e "$here"
        exec "$venv/bin/crafting-table" serve "$@"
        ;;
    test)
        make_venv
        install test -e "${here}[test]" -e "$here/mcp"
        cd "$here"
        "$venv/bin/ruff" format --check .
        "$venv/bin/ruff" check .
        "$venv/bin/mypy"
        exec "$venv/bin/pytest" "$@"
        ;;
    *)
        echo "usage: ./dev.sh serve [serve options] | ./dev.sh test [pytest options]" >&2
        exit 2
        ;;
esac
