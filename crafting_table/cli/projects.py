"""``crafting-table project register | update | list | show | delete``.

Every sub-command that acts on one project takes its name after the
sub-command: ``project show NAME``, ``project update NAME -f FILE``. For
``register`` and ``update`` it may be left out, and the file's ``name``
says which project.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crafting_table.cli.connection import segment
from crafting_table.cli.output import Cell, dash, when
from crafting_table.cli.session import Commands, Session, add_command
from crafting_table.errors import UsageError

RECIPES = ("build", "test", "lint", "audit")
# The switches of a project's patch_policy, as ``show`` words them.
PATCH_PERMISSIONS = (
    ("may_edit_tests", "edit tests"),
    ("may_add_skip_markers", "add skip markers"),
    ("may_edit_lint_config", "edit lint config"),
)


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    """Add ``project`` and its sub-commands."""
    project = commands.add_parser("project", help="register and manage projects")
    actions = project.add_subparsers(dest="action", required=True, metavar="ACTION")

    for name, handler, help_text in (
        ("register", register_project, "register a project from a recipe file"),
        ("update", update_project, "replace a project's settings from a recipe file"),
    ):
        command = add_command(actions, name, handler, common, help_text)
        # Optional: a recipe file carries its name, and scripts written
        # before the name was taken here give only the file.
        command.add_argument(
            "name",
            nargs="?",
            help="the project's name (default: the file's 'name')",
        )
        command.add_argument(
            "-f",
            "--file",
            required=True,
            metavar="RECIPE.json",
            help="the project as JSON (see examples/recipes); - reads stdin",
        )

    add_command(actions, "list", list_projects, common, "list your projects")
    show = add_command(actions, "show", show_project, common, "show one project")
    show.add_argument("name", help="the project's name")
    delete = add_command(
        actions,
        "delete",
        delete_project,
        common,
        "delete a project with its jobs, logs, findings and patch attempts",
    )
    delete.add_argument("name", help="the project's name")
    delete.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )


def read_spec(path: str) -> dict[str, Any]:
    """The JSON object in ``path`` (``-`` for standard input).

    Raises:
        UsageError: the file cannot be read or holds no JSON object.
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path!r} is not UTF-8 (byte {exc.start}); save it as UTF-8"
        ) from exc
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path!r} is not JSON: {exc}") from exc
    except RecursionError as exc:
        # json.loads recurses once per level; no recipe file nests this deep.
        raise UsageError(f"{path!r} holds JSON nested too deeply to read") from exc
    if not isinstance(spec, dict):
        raise UsageError(f"{path!r} holds JSON but not an object; see examples/recipes")
    return spec


def register_project(session: Session) -> int:
    """Register the project of the recipe file; the caller's token owns it.

    Raises:
        UsageError: the file cannot be read, or names another project.
    """
    spec = named_spec(session.args.file, session.args.name)
    with session.client() as client:
        answer = client.call("POST", "/projects", body=spec)
    return _report(session, answer, "registered")


def update_project(session: Session) -> int:
    """Replace a project's settings with those of the recipe file.

    Raises:
        UsageError: the file cannot be read, or names another project.
    """
    spec = named_spec(session.args.file, session.args.name)
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(
            f"{session.args.file!r} has no 'name' naming the project; "
            "give the name after 'update' or add it to the file"
        )
    with session.client() as client:
        answer = client.call("PUT", f"/projects/{segment(name)}", body=spec)
    return _report(session, answer, "updated")


def named_spec(path: str, name: str | None) -> dict[str, Any]:
    """The recipe file at ``path`` naming project ``name`` (None: its own).

    A file without a ``name`` takes the one given on the command line.

    Raises:
        UsageError: the file cannot be read, or names another project than
            the one given.
    """
    spec = read_spec(path)
    if name is None:
        return spec
    named = spec.get("name")
    if named is not None and named != name:
        raise UsageError(
            f"{path!r} names project {named!r}, not {name!r}; "
            "a project cannot be renamed, so make the two agree"
        )
    return {**spec, "name": name}


def _report(session: Session, answer: dict[str, Any], verb: str) -> int:
    if session.args.json:
        session.out.json(answer)
        return 0
    project = answer["project"]
    count = len(project["subprojects"])
    session.out.line(
        f"{verb} project {project['name']!r} "
        f"({count} subproject{'s' if count != 1 else ''}, owner {project['owner']!r})"
    )
    for sub in project["subprojects"]:
        if sub["language"] == "generic":
            session.out.note(
                f"subproject {sub['path']!r} is generic: its findings come only "
                "from SARIF, JUnit and Checkstyle reports and its exit code; give "
                "it a language to have its tools' own output read"
            )
    return 0


def list_projects(session: Session) -> int:
    """Every project the token can see, following the pages."""
    projects: list[dict[str, Any]] = []
    after: str | None = None
    with session.client() as client:
        while True:
            params: dict[str, str | int] = {"limit": 500}
            if after is not None:
                params["after"] = after
            answer = client.call("GET", "/projects", params=params)
            projects.extend(answer["projects"])
            after = answer.get("next")
            if after is None:
                break
    if session.args.json:
        session.out.json({"ok": True, "projects": projects, "next": None})
        return 0
    session.out.table(
        ["NAME", "OWNER", "BRANCH", "SUBPROJECTS", "GIT URL"],
        [
            [
                p["name"],
                p["owner"],
                p["default_branch"],
                str(len(p["subprojects"])),
                p["git_url"],
            ]
            for p in projects
        ],
        empty="no projects yet: register one with 'crafting-table project register'",
    )
    return 0


def show_project(session: Session) -> int:
    """Everything a project holds but its webhook secret.

    Its settings as fields, then a table of its schedules (when it has
    any) and one of its subprojects' recipes. The secret is only said to
    be set or not: the API never gives it back.
    """
    with session.client() as client:
        answer = client.call("GET", f"/projects/{segment(session.args.name)}")
    if session.args.json:
        session.out.json(answer)
        return 0
    p = answer["project"]
    out = session.out
    out.fields(_settings(p))

    schedules = p["schedules"]
    if schedules:
        out.line()
        out.table(
            ["RECIPE", "SUBPROJECT", "TZ", "CRON"],
            [
                [s["recipe"], dash(s["subproject"]), s["tz"], s["cron"]]
                for s in schedules
            ],
        )
    out.line()
    out.table(
        ["SUBPROJECT", "LANGUAGE", "RECIPE", "TIMEOUT", "LIMITS", "COMMAND"],
        _recipe_rows(p["subprojects"]),
        empty="no subproject defines a recipe",
    )
    return 0


def _settings(p: dict[str, Any]) -> list[tuple[str, str]]:
    notify = p["notify"]
    policy = p["patch_policy"]
    allowed = [words for key, words in PATCH_PERMISSIONS if policy.get(key)]
    return [
        ("name", p["name"]),
        ("owner", p["owner"]),
        ("git url", p["git_url"]),
        ("default branch", p["default_branch"]),
        ("languages", dash(p["languages"])),
        ("notify", dash(notify["email"])),
        ("notify on", dash(notify["on"])),
        ("auto patch", dash(notify["auto_patch"])),
        ("patches may", ", ".join(allowed) or "only fix the finding's file"),
        ("on push", dash(p["on_push"])),
        ("push paths only", dash(p["push_paths_only"])),
        ("cancel superseded", dash(p["cancel_superseded"])),
        ("webhook secret", "set" if p["has_webhook_secret"] else "-"),
        ("commit status", dash(p["commit_status"])),
        ("max jobs", dash(p["max_concurrent_jobs"])),
        ("schedules", dash(len(p["schedules"]) or None)),
        ("created", when(p["created_at"])),
        ("updated", when(p["updated_at"])),
    ]


def _recipe_rows(subprojects: list[dict[str, Any]]) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for sub in subprojects:
        bounds = _limits(sub["limits"])
        for recipe in RECIPES:
            if sub.get(recipe):
                rows.append(
                    [
                        sub["path"],
                        sub["language"],
                        recipe,
                        f"{sub['timeout_secs']}s",
                        bounds,
                        sub[recipe],
                    ]
                )
    return rows


def _limits(limits: dict[str, Any]) -> str:
    """``memory=512MB,pids=256``; ``-`` when the service's defaults apply."""
    parts = []
    if limits.get("memory_mb"):
        parts.append(f"memory={limits['memory_mb']}MB")
    if limits.get("pids"):
        parts.append(f"pids={limits['pids']}")
    return ",".join(parts) or "-"


def delete_project(session: Session) -> int:
    """Delete a project after confirmation (``--yes``, or a yes on a terminal).

    Raises:
        UsageError: no ``--yes`` and no terminal to ask on, or a refusal.
    """
    name = session.args.name
    if not session.args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"deleting {name!r} removes its jobs, logs and findings; "
                "pass --yes to confirm"
            )
        session.out.stderr.write(
            f"delete project {name!r} with all its jobs, logs, findings and "
            "patch attempts? [y/N] "
        )
        session.out.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise UsageError(f"project {name!r} was not deleted")
    with session.client() as client:
        answer = client.call("DELETE", f"/projects/{segment(name)}")
    if session.args.json:
        session.out.json(answer)
    else:
        session.out.line(f"deleted project {name!r}")
    return 0
