#!/bin/sh
# Entry point of the crafting-table image: make the four volumes usable by
# the users that write them, then run the command (the service by default).
#
# A bind mount that Docker had to create is an empty folder owned by root,
# and one that the host made may belong to anyone: the service (crafter)
# and the recipes (recipe) each need their own. /nix starts empty the same
# way, so the Nix store the image carries as a seed is copied in.
#
# The container starts as root for these steps; the command then runs as
# crafter, holding only the capabilities the service needs to hand each
# job to its project's recipe uid (setuid, setgid, chown, fowner,
# dac_override, kill) as ambient capabilities. The service strips them again from every
# recipe. Started as crafter instead (docker run --user), the steps use
# crafter's passwordless sudo, and the command runs as crafter without
# capabilities (the service then refuses CRAFTING_RECIPE_USER).
set -eu

SERVICE_CAPS=+setuid,+setgid,+chown,+fowner,+dac_override,+kill

warn() {
    echo "crafting-table-entrypoint: $*" >&2
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

as_recipe() {
    if [ "$(id -un)" = recipe ]; then
        "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        runuser -u recipe -- "$@"
    else
        sudo -n -u recipe "$@"
    fi
}

# claim DIR OWNER:GROUP MODE
# The first time (the folder belongs to someone else) the whole tree changes
# hands; after that only the top folder is looked at, so a start does not
# walk a large workspace.
claim() {
    dir=$1
    owner=$2
    mode=$3
    [ -d "$dir" ] || return 0
    if [ "$(stat -c %U:%G "$dir")" != "$owner" ]; then
        as_root chown -R "$owner" "$dir" || warn "cannot give $dir to $owner"
    fi
    if [ "$(stat -c %a "$dir")" != "$mode" ]; then
        as_root chmod "$mode" "$dir" || warn "cannot set mode $mode on $dir"
    fi
}

# Copy the image's Nix store into /nix when it is empty; when /nix holds an
# older store without this image's Nix, add the missing store paths and
# register them in its database.
seed_nix() {
    seed=/opt/nix-seed
    [ -f "$seed/nix-path" ] || return 0
    wanted=$(cat "$seed/nix-path")
    [ -e "$wanted" ] && return 0
    if [ ! -d /nix/store ]; then
        as_root cp -a "$seed/nix/." /nix/ || warn "cannot copy the Nix store into /nix"
        return 0
    fi
    if ! as_root cp -an "$seed/nix/store/." /nix/store/ ||
        ! as_recipe "$wanted/bin/nix-store" --load-db <"$seed/reginfo"; then
        warn "cannot add this image's Nix to the store in /nix"
    fi
}

claim /data crafter:crafter 700
claim /workspace crafter:crafting 2775
claim /caches recipe:crafting 2775
claim /nix recipe:recipe 755
seed_nix

if [ "$(id -u)" -eq 0 ]; then
    exec setpriv --reuid=crafter --regid=crafter --init-groups \
        --inh-caps="$SERVICE_CAPS" --ambient-caps="$SERVICE_CAPS" -- "$@"
fi
exec "$@"
