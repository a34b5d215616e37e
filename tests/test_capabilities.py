"""A service that holds capabilities as its own user passes none to recipes.

The image runs the service as crafter with a few ambient capabilities
(see docker/entrypoint.sh). Switching from such a user to the recipe user
keeps ambient capabilities, so the executor's gate runs the recipe behind
the prefix :func:`capability_drop` gives. These tests recreate that chain
with setpriv: a stand-in service identity holding the capabilities, the
switch to the recipe user, then the recipe's shell.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest

from crafting_table import containment
from tests.confinement import recipe_user, require_root

SERVICE_CAPS = "+setuid,+setgid,+chown,+fowner,+dac_override,+kill"
DROP = "setpriv --inh-caps=-all --ambient-caps=-all -- "


def service_user() -> pwd.struct_passwd:
    """A stand-in for crafter: an unprivileged user, made if missing."""
    name = "crafting-service"
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def recipe_capabilities(prefix: str) -> dict[str, int]:
    """The capability sets of a recipe started the way the executor starts it."""
    service, recipe = service_user(), recipe_user()
    script = "grep -E '^Cap(Inh|Prm|Eff|Amb):' /proc/self/status"
    argv = [
        "setpriv", f"--reuid={service.pw_uid}", f"--regid={service.pw_gid}",
        "--clear-groups",
        f"--inh-caps={SERVICE_CAPS}", f"--ambient-caps={SERVICE_CAPS}",
        "--",
        # The service switches to the recipe user (subprocess's user=).
        "setpriv", f"--reuid={recipe.pw_uid}", f"--regid={recipe.pw_gid}",
        "--clear-groups", "--",
        # The gate's last step.
        "/bin/sh", "-c", f"exec {prefix}/bin/sh -c \"{script}\"",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    sets = {}
    for line in done.stdout.splitlines():
        name, value = line.split(":")
        sets[name] = int(value.strip(), 16)
    return sets


def test_without_the_drop_a_recipe_would_inherit_capabilities() -> None:
    require_root()
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is part of every supported host")

    sets = recipe_capabilities("")

    assert sets["CapAmb"] != 0
    assert sets["CapEff"] != 0


def test_the_drop_leaves_a_recipe_without_capabilities() -> None:
    require_root()

    sets = recipe_capabilities(DROP)

    assert sets == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapAmb": 0}


def test_the_executor_uses_the_tested_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    assert containment.capability_drop() == DROP


def test_root_needs_no_drop() -> None:
    require_root()

    assert containment.capability_drop() == ""
