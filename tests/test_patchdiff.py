"""Replies, diffs and the limits of a patch, without git or a service."""

from __future__ import annotations

import json
import textwrap

import pytest

from crafting_table.errors import AgentError
from crafting_table.patchdiff import (
    PatchLimits,
    mode_problem,
    parse_diff,
    parse_reply,
    path_problem,
    policy_problems,
    section_files,
)

DIFF = textwrap.dedent(
    """\
    diff --git a/app.py b/app.py
    index 3b18e51..e69de29 100644
    --- a/app.py
    +++ b/app.py
    @@ -1,2 +1 @@
    -import os
     print("hi")
    """
)
OBJECT = {"diff": DIFF, "explanation": "Drop the unused import.", "confidence": 0.8}


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(json.dumps(OBJECT), id="bare"),
        pytest.param(
            "Here is the fix.\n```json\n" + json.dumps(OBJECT, indent=2) + "\n```\n",
            id="fenced-with-prose",
        ),
        pytest.param(
            "Sure {not json} " + json.dumps(OBJECT) + " hope it helps",
            id="inline-after-braces",
        ),
        pytest.param(
            json.dumps(OBJECT) + "\n```json\n" + json.dumps(OBJECT) + "\n```",
            id="same-object-twice",
        ),
        pytest.param(
            json.dumps({"note": "x"}) + json.dumps(OBJECT), id="other-object-ignored"
        ),
    ],
)
def test_reply_yields_the_draft(reply: str) -> None:
    draft = parse_reply(reply)

    assert draft.diff == DIFF
    assert draft.explanation == "Drop the unused import."
    assert draft.confidence == 0.8


def test_a_diff_without_final_newline_gets_one() -> None:
    draft = parse_reply(json.dumps({**OBJECT, "diff": DIFF.rstrip("\n")}))

    assert draft.diff == DIFF


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("I cannot help with that.", "no JSON object", id="prose"),
        pytest.param('{"answer": 42}', "no JSON object with a 'diff'", id="no-diff"),
        pytest.param(
            json.dumps(OBJECT) + json.dumps({**OBJECT, "confidence": 0.1}),
            "2 different JSON objects",
            id="two-drafts",
        ),
        pytest.param(
            json.dumps({**OBJECT, "diff": 3}), "'diff' must be a non-empty", id="int"
        ),
        pytest.param(
            json.dumps({**OBJECT, "diff": "  "}),
            "'diff' must be a non-empty",
            id="blank",
        ),
        pytest.param(
            json.dumps({"diff": DIFF, "confidence": 1}),
            "'explanation' must be a string",
            id="no-explanation",
        ),
        pytest.param(
            json.dumps({**OBJECT, "confidence": 7}),
            "'confidence' must be a number from 0 to 1",
            id="confidence-range",
        ),
        pytest.param(
            json.dumps({**OBJECT, "confidence": True}),
            "'confidence' must be a number",
            id="confidence-bool",
        ),
        pytest.param("[1, 2, 3]", "no JSON object", id="array"),
    ],
)
def test_unusable_replies_say_why(reply: str, reason: str) -> None:
    with pytest.raises(AgentError, match=reason):
        parse_reply(reply)


def test_git_diff_is_read_with_its_prefixes() -> None:
    parsed = parse_diff(DIFF)

    assert parsed.strip == 1
    assert parsed.paths() == ["app.py"]
    assert parsed.changed_lines() == 1
    [f] = parsed.files
    assert f.removed() == ["import os"]
    assert f.lines[1].old_number == 2


def test_plain_diff_without_prefixes_is_read_at_level_zero() -> None:
    text = "--- src/app.py\n+++ src/app.py\n@@ -1 +1 @@\n-a\n+b\n"

    parsed = parse_diff(text)

    assert parsed.strip == 0
    assert parsed.paths() == ["src/app.py"]


def test_a_removed_line_that_looks_like_a_header_stays_a_line() -> None:
    text = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n--- a/evil\n++++ b/../evil\n ok\n"

    parsed = parse_diff(text)

    assert parsed.paths() == ["x"]
    assert parsed.changed_lines() == 2


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        pytest.param(
            'diff --git "a/sp\\303\\244ce x" "b/sp\\303\\244ce x"\n'
            'similarity index 100%\nrename from "sp\\303\\244ce x"\nrename to y\n',
            ["späce x", "y"],
            id="quoted-rename",
        ),
        pytest.param(
            "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n"
            "@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n",
            ["l"],
            id="new-symlink",
        ),
        pytest.param(
            "--- a/one\t2024-01-01\n+++ b/one\t2024-01-02\n@@ -1 +1 @@\n-a\n+b\n"
            "--- a/two\n+++ b/two\n@@ -1 +1 @@\n-a\n+b\n",
            ["one", "two"],
            id="two-plain-files",
        ),
    ],
)
def test_paths_of_special_headers(text: str, paths: list[str]) -> None:
    assert parse_diff(text).paths() == paths


def test_a_new_symlink_is_refused_by_mode() -> None:
    text = "diff --git a/l b/l\nnew file mode 120000\n"

    assert mode_problem(parse_diff(text).modes()) == "the diff creates a symbolic link"
    assert mode_problem({"100644"}) is None


@pytest.mark.parametrize(
    ("path", "subproject", "reason"),
    [
        pytest.param("app.py", ".", None, id="root-file"),
        pytest.param("sdk/py/app.py", "sdk/py", None, id="inside-subproject"),
        pytest.param("sdk/go/a.go", "sdk/py", "outside subproject", id="sibling"),
        pytest.param("sdk/pyx/a.py", "sdk/py", "outside subproject", id="prefix-only"),
        pytest.param("../outside", ".", "climbs out", id="dotdot"),
        pytest.param("a/../../x", ".", "climbs out", id="inner-dotdot"),
        pytest.param("/etc/passwd", ".", "absolute", id="absolute"),
        pytest.param(".git/config", ".", "into .git", id="git-dir"),
        pytest.param("sub/.GIT/hooks/x", ".", "into .git", id="git-dir-case"),
        pytest.param(".github/workflows/ci.yml", ".", "steers", id="workflow"),
        pytest.param(".gitattributes", ".", "steers", id="attributes"),
        pytest.param("", ".", "empty", id="empty"),
    ],
)
def test_where_a_patch_may_write(
    path: str, subproject: str, reason: str | None
) -> None:
    problem = path_problem(path, subproject)

    if reason is None:
        assert problem is None
    else:
        assert problem is not None
        assert reason in problem


def _diff(path: str, removed: list[str], added: list[str], start: int = 1) -> str:
    body = [f"-{line}" for line in removed] + [f"+{line}" for line in added]
    header = f"@@ -{start},{len(removed)} +{start},{len(added)} @@"
    if not removed:
        header = f"@@ -{start - 1},0 +{start},{len(added)} @@"
    return "\n".join([f"--- a/{path}", f"+++ b/{path}", header, *body]) + "\n"


LIMITS = PatchLimits(max_lines=50, own_file="app.py")


@pytest.mark.parametrize(
    ("diff", "limits", "expected"),
    [
        pytest.param(
            _diff("app.py", ["import os"], ["import os  # noqa: F401"]),
            LIMITS,
            ["adds '# noqa'"],
            id="noqa",
        ),
        pytest.param(
            _diff("lib.py", ["x = 1  # noqa: E501"], ["y = 1  # noqa: E501"]),
            LIMITS,
            [],
            id="noqa-kept-on-edited-line",
        ),
        pytest.param(
            _diff("app.py", [], ["@pytest.mark.skip(reason='later')"]),
            LIMITS,
            ["pytest skip"],
            id="pytest-skip",
        ),
        pytest.param(
            _diff("src/lib.rs", [], ["#[allow(dead_code)]"]),
            LIMITS,
            ["#[allow(...)]"],
            id="clippy-allow",
        ),
        pytest.param(
            _diff("web/a.ts", [], ["// eslint-disable-next-line"]),
            LIMITS,
            ["eslint-disable"],
            id="eslint-disable",
        ),
        pytest.param(
            _diff("app.py", [], ["x = f()  # type: ignore[no-any-return]"]),
            LIMITS,
            ["type: ignore"],
            id="type-ignore",
        ),
        pytest.param(
            _diff("tests/test_app.py", ["assert f() == 1"], ["assert f() == 2"]),
            LIMITS,
            ["test file 'tests/test_app.py'"],
            id="test-file",
        ),
        pytest.param(
            _diff("tests/test_app.py", ["import os"], []),
            PatchLimits(max_lines=50, own_file="tests/test_app.py"),
            [],
            id="own-test-file",
        ),
        pytest.param(
            _diff("tests/test_app.py", ["assert f() == 1"], ["assert f() == 2"]),
            PatchLimits(max_lines=50, may_edit_tests=True),
            [],
            id="tests-allowed",
        ),
        pytest.param(
            _diff("ruff.toml", ['select = ["F"]'], ['select = ["E"]']),
            LIMITS,
            ["lint configuration 'ruff.toml'"],
            id="ruff-toml",
        ),
        pytest.param(
            _diff("web/.eslintrc.json", ["{}"], ['{"rules": {}}']),
            LIMITS,
            ["lint configuration"],
            id="eslintrc",
        ),
        pytest.param(
            _diff("ruff.toml", ['select = ["F"]'], ['select = ["E"]']),
            PatchLimits(max_lines=50, may_edit_lint_config=True),
            [],
            id="lint-config-allowed",
        ),
        pytest.param(
            _diff("app.py", [f"l{n}" for n in range(30)], [f"m{n}" for n in range(30)]),
            LIMITS,
            ["changes 60 lines, more than the limit of 50"],
            id="too-long",
        ),
    ],
)
def test_policy(diff: str, limits: PatchLimits, expected: list[str]) -> None:
    problems = policy_problems(parse_diff(diff), limits, {})

    assert len(problems) == len(expected), problems
    for problem, wanted in zip(problems, expected, strict=True):
        assert wanted in problem


PYPROJECT = textwrap.dedent(
    """\
    [project]
    name = "demo"
    dependencies = ["requests==2.0"]

    [tool.poetry.dependencies]
    flask = "1.0"

    [tool.ruff]
    line-length = 88
    """
)


@pytest.mark.parametrize(
    ("removed", "added", "start", "expected"),
    [
        pytest.param(
            ['dependencies = ["requests==2.0"]'],
            ['dependencies = ["requests==2.32"]'],
            3,
            None,
            id="project-dependencies",
        ),
        pytest.param(['flask = "1.0"'], ['flask = "3.0"'], 6, None, id="poetry"),
        pytest.param(
            ["line-length = 88"], ["line-length = 200"], 9, "[tool.ruff]", id="ruff"
        ),
        pytest.param(
            [], ["[tool.mypy]", "strict = false"], 10, "[tool.mypy]", id="new-table"
        ),
    ],
)
def test_pyproject_tool_tables_are_lint_config(
    removed: list[str], added: list[str], start: int, expected: str | None
) -> None:
    parsed = parse_diff(_diff("pyproject.toml", removed, added, start))
    assert section_files(parsed) == ["pyproject.toml"]

    problems = policy_problems(parsed, LIMITS, {"pyproject.toml": PYPROJECT})

    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert expected in problems[0]


def test_cargo_lints_table_is_lint_config() -> None:
    old = '[package]\nname = "x"\n\n[lints.clippy]\nall = "warn"\n'
    parsed = parse_diff(_diff("Cargo.toml", ['all = "warn"'], ['all = "allow"'], 5))

    [problem] = policy_problems(parsed, LIMITS, {"Cargo.toml": old})

    assert "[lints.clippy]" in problem
