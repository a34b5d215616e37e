#!/bin/sh
# Register the example projects with a running crafting-table.
#
#   CRAFTING_TABLE_TOKEN=... GITEA_TOKEN=... GIT_HOST=git.example.com \
#       examples/register-all.sh [recipe.json ...]
#
#   CRAFTING_TABLE_BASE_URL  the service (default http://localhost:8810)
#   CRAFTING_TABLE_TOKEN     a bearer of the service; its owner owns the projects
#   GITEA_TOKEN              the forge token that goes into each git_url
#   GIT_HOST                 the forge's host[:port] that goes into each git_url
#
# Without arguments every examples/recipes/*.json is registered. The
# placeholders REPLACE_WITH_GITEA_TOKEN and REPLACE_WITH_GIT_HOST are filled
# in memory: the tokens are never written to disk, never appear on a command
# line that ps could show, and never in what this script prints. The body
# reaches curl on its standard input, the bearer header through a pipe on
# descriptor 3.
#
# One line per project: "<name>: <HTTP status> registered", or the status
# and the service's error message. Exit status 1 when any registration
# failed, 2 when a setting is missing or malformed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
base_url=${CRAFTING_TABLE_BASE_URL:-http://localhost:8810}
base_url=${base_url%/}

# Fills the placeholders of the recipe file named by argv[1] and prints the
# JSON body. The values come from the environment, so they are on no
# command line; walking the parsed JSON keeps any character of them safe,
# and the token is percent-encoded because it sits in a URL's userinfo.
fill='
import json, os, sys
from urllib.parse import quote

token = quote(os.environ["GITEA_TOKEN"], safe="")
host = os.environ["GIT_HOST"]

def fill(value):
    if isinstance(value, str):
        return value.replace("REPLACE_WITH_GITEA_TOKEN", token).replace(
            "REPLACE_WITH_GIT_HOST", host
        )
    if isinstance(value, list):
        return [fill(item) for item in value]
    if isinstance(value, dict):
        return {key: fill(item) for key, item in value.items()}
    return value

with open(sys.argv[1], encoding="utf-8") as handle:
    spec = json.load(handle)
sys.stdout.write(json.dumps(fill(spec)))
'

# Reads an answer body on stdin and prints its error message, with every
# shape of either token masked in case the service echoed one back.
explain='
import json, os, sys
from urllib.parse import quote

body = sys.stdin.read()
try:
    error = json.loads(body)["error"]
    message = error.get("message") or error.get("code") or body
except (ValueError, KeyError, TypeError, AttributeError):
    message = body.strip().splitlines()[0] if body.strip() else "no answer body"
for name in ("GITEA_TOKEN", "CRAFTING_TABLE_TOKEN"):
    secret = os.environ.get(name, "")
    if secret:
        for shape in {secret, quote(secret, safe="")}:
            message = message.replace(shape, "***")
print(" ".join(message.split())[:500])
'

die() {
    echo "register-all.sh: $*" >&2
    exit 2
}

check_settings() {
    command -v curl >/dev/null 2>&1 || die "curl is not installed"
    command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
    [ -n "${CRAFTING_TABLE_TOKEN:-}" ] || die "set CRAFTING_TABLE_TOKEN to a bearer of the service"
    [ -n "${GITEA_TOKEN:-}" ] || die "set GITEA_TOKEN to the forge token for the git URLs"
    [ -n "${GIT_HOST:-}" ] || die "set GIT_HOST to the forge's host, e.g. git.example.com"
    # The bearer becomes a header line: a space or newline in it would
    # split or end that line.
    case $CRAFTING_TABLE_TOKEN in
    *[![:graph:]]*) die "CRAFTING_TABLE_TOKEN contains a space or control character" ;;
    esac
    case $GIT_HOST in
    *[!A-Za-z0-9.:-]*) die "GIT_HOST '$GIT_HOST' is not a host name with an optional :port" ;;
    esac
    export GITEA_TOKEN GIT_HOST CRAFTING_TABLE_TOKEN
}

# register FILE: POST one recipe; print its line; fail when not created.
register() {
    file=$1
    name=$(basename "$file" .json)
    if ! python3 -c "$fill" "$file" >/dev/null; then
        echo "$name: not sent, $file is not readable JSON"
        return 1
    fi
    # printf is a shell builtin: the bearer is in no process's arguments.
    answer=$(printf 'Authorization: Bearer %s\n' "$CRAFTING_TABLE_TOKEN" | {
        python3 -c "$fill" "$file" |
            curl --silent --show-error --max-time 30 \
                --header 'Content-Type: application/json' \
                --header @/dev/fd/3 \
                --data-binary @- \
                --write-out '\n%{http_code}' \
                "$base_url/projects"
    } 3<&0)
    status=$(printf '%s\n' "$answer" | tail -n 1)
    body=$(printf '%s\n' "$answer" | sed '$d')
    case $status in
    201)
        echo "$name: $status registered"
        return 0
        ;;
    000 | '')
        echo "$name: no answer from $base_url"
        return 1
        ;;
    esac
    echo "$name: $status $(printf '%s' "$body" | python3 -c "$explain")"
    return 1
}

main() {
    check_settings
    if [ $# -eq 0 ]; then
        set -- "$here"/recipes/*.json
    fi
    failed=0
    for file in "$@"; do
        register "$file" || failed=1
    done
    return "$failed"
}

main "$@"
