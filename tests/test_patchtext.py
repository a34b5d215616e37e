"""The prompt, the context it quotes, and the pull request's words."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from crafting_table.patchdiff import Draft
from crafting_table.patchtext import (
    CONTEXT_LINES,
    PromptFacts,
    VerifyReport,
    prompt,
    pull_request_body,
    read_context,
    title,
)
from crafting_table.sourcefiles import SourceReader
from tests.patch_rows import finding, job

SOURCE = "".join(f"line {n}\n" for n in range(1, 101))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sdk").mkdir(parents=True)
    (root / "sdk" / "app.py").write_text(SOURCE)
    (root / "sdk" / "requirements.txt").write_text("flask==1.0\nrequests==2.0\n")
    os.symlink("/etc/passwd", root / "sdk" / "linked.py")
    return root


@pytest.mark.parametrize(
    ("line", "first", "last"),
    [
        pytest.param(50, 50 - CONTEXT_LINES, 50 + CONTEXT_LINES, id="middle"),
        pytest.param(3, 1, 3 + CONTEXT_LINES, id="top"),
        pytest.param(99, 99 - CONTEXT_LINES, 100, id="bottom"),
    ],
)
def test_context_around_the_line(tree: Path, line: int, first: int, last: int) -> None:
    context = read_context(SourceReader(tree), finding(1, line=line), "sdk")

    assert context.path == "sdk/app.py"
    assert (context.first, context.target) == (first, line)
    assert context.lines[0] == f"line {first}"
    assert context.lines[-1] == f"line {last}"


def test_context_of_a_cve_is_its_package_line(tree: Path) -> None:
    cve = finding(
        1,
        "cve",
        file="requirements.txt",
        line=None,
        code="PYSEC-1",
        raw_json=json.dumps({"package": "requests"}),
    )

    context = read_context(SourceReader(tree), cve, "sdk")

    assert context.target == 2
    assert context.lines == ("flask==1.0", "requests==2.0")


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        pytest.param("linked.py", "cannot be read inside the repository", id="link"),
        pytest.param("../../etc/passwd", "cannot be read", id="climbing"),
        pytest.param(None, "names no file", id="no-file"),
    ],
)
def test_unreadable_context_says_why(tree: Path, file: str | None, reason: str) -> None:
    context = read_context(SourceReader(tree), finding(1, file=file), "sdk")

    assert context.lines == ()
    assert context.unavailable is not None
    assert reason in context.unavailable


@pytest.mark.parametrize(
    ("subproject", "file"),
    [
        pytest.param(".", ".git/config", id="git-config"),
        pytest.param(".", "sub/../.git/HEAD", id="climbing-into-git"),
        pytest.param("sdk", ".git/config", id="nested-git"),
    ],
)
def test_context_is_never_read_from_git(tree: Path, subproject: str, file: str) -> None:
    for folder in (tree / ".git", tree / "sdk" / ".git", tree / "sub"):
        folder.mkdir()
    secret = "[remote]\n\turl = https://bot:tok-1@example.com/x.git\n"
    for git_file in (".git/config", ".git/HEAD", "sdk/.git/config"):
        (tree / git_file).write_text(secret)
    # The file is there and readable: only the rule keeps it out.
    path = file if subproject == "." else f"{subproject}/{file}"
    assert (tree / path).read_text() == secret

    context = read_context(SourceReader(tree), finding(1, file=file), subproject)

    assert context.lines == ()
    assert context.path == path
    assert context.unavailable is not None
    assert f"{path!r} cannot be read inside the repository" in context.unavailable
    assert "inside .git" in context.unavailable


def test_the_prompt_carries_finding_source_and_rules(tree: Path) -> None:
    row = finding(5, suggested_fix="Remove unused import: `os`")
    context = read_context(SourceReader(tree), row, "sdk")
    facts = PromptFacts(
        project="alpha",
        default_branch="main",
        job=replace(job("failed", 1), subproject="sdk"),
        max_diff_lines=40,
    )

    text = prompt(facts, row, context)

    assert "where: sdk/app.py, line 5, column 1" in text
    assert "suggested fix: Remove unused import: `os`" in text
    assert "> 5 | line 5" in text
    assert "\n  6 | line 6" in text
    assert "at most 40 added plus removed lines" in text
    assert '"diff"' in text
    assert "/srv" not in text


def test_titles() -> None:
    lint = finding(3, file="app.py", line=3)
    cve = finding(4, "cve", code="PYSEC-1", suggested_fix="bump to 2.32")

    assert title(lint, "sdk") == "Fix F401 in sdk/app.py:3"
    assert title(cve, ".") == "Fix PYSEC-1: bump to 2.32"


def test_pull_request_lists_findings_before_and_after() -> None:
    target, other = finding(1, message="`os` unused"), finding(2, code="E501")
    report = VerifyReport(
        job=job("failed", 1),
        verify_job=job("failed", 1),
        target=target,
        before=[target, other],
        after=[other],
        draft=Draft(diff="d", explanation="Drop it.\nSecond line.", confidence=0.7),
        public_url="https://ct.example/",
    )

    body = pull_request_body(report)

    before, after = body.split("### Findings after")
    assert "`F401` app.py:1: `os` unused (the finding this patch fixes)" in before
    assert "`E501` app.py:2" in before
    assert "F401" not in after
    assert "`E501` app.py:2" in after
    assert "> Drop it.\n> Second line." in body
    assert "(confidence 0.7)" in body
    assert "https://ct.example/jobs/j" in body
    assert "Nothing is merged automatically" in body
