"""An agent's reply, the diff in it, and what a patch may touch.

::

    draft = parse_reply(reply_text)           # AgentError when unusable
    diff = parse_diff(draft.diff)
    for path in diff.paths():
        reason = path_problem(path, subproject)   # None when allowed
    problems = policy_problems(diff, policy, old_texts)

:func:`parse_reply` finds the one JSON object ``{"diff", "explanation",
"confidence"}`` in a reply, alone, in a fenced block or with prose around
it. :func:`parse_diff` reads a unified diff (git's extended headers
included) into the files and lines it changes, as ``git apply`` would read
it: hunk bodies are delimited by the line counts in their headers.
:func:`path_problem` is the hard limit on where a patch may write (a
violation means ``apply_failed``); :func:`policy_problems` is what a
verified patch must also respect (a violation means ``verify_failed``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from crafting_table.errors import AgentError

# A reply larger than this is not a patch anybody wants to review, and
# scanning it for JSON objects would only cost time.
MAX_REPLY_CHARS = 1_000_000
# How many '{' that do not start a JSON object the scan tries before it
# gives up; prose and code in a reply rarely hold more.
MAX_OBJECT_TRIES = 500

SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"


@dataclass(frozen=True, slots=True)
class Draft:
    """What the agent proposed: a unified diff, why, and how sure it is."""

    diff: str
    explanation: str
    confidence: float


def parse_reply(text: str) -> Draft:
    """The draft in an agent's reply.

    The reply must hold exactly one JSON object with a ``diff`` key (others
    without it are ignored); ``diff`` must be a non-empty string,
    ``explanation`` a string and ``confidence`` a number from 0 to 1.
    Raises :class:`AgentError` saying what was wrong otherwise.
    """
    if not text.strip():
        raise AgentError("the agent's reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise AgentError(
            f"the agent's reply has {len(text)} characters, more than {MAX_REPLY_CHARS}"
        )
    objects = list(_json_objects(text))
    drafts: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if "diff" in obj:
            drafts.setdefault(json.dumps(obj, sort_keys=True), obj)
    if not drafts:
        if objects:
            keys = sorted({key for obj in objects for key in obj})
            raise AgentError(
                "the agent's reply has no JSON object with a 'diff' key "
                f"(keys seen: {', '.join(map(repr, keys)) or 'none'})"
            )
        raise AgentError(
            "the agent's reply holds no JSON object; expected "
            '{"diff": ..., "explanation": ..., "confidence": ...}'
        )
    if len(drafts) > 1:
        raise AgentError(
            f"the agent's reply holds {len(drafts)} different JSON objects with "
            "a 'diff' key; expected one"
        )
    return _draft(next(iter(drafts.values())))


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``text`` that is not inside another one."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    tries = 0
    while position != -1 and tries < MAX_OBJECT_TRIES:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            tries += 1
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            yield value
        position = text.find("{", end)


def _draft(obj: dict[str, Any]) -> Draft:
    diff = obj.get("diff")
    if not isinstance(diff, str) or not diff.strip():
        raise AgentError(
            f"the reply's 'diff' must be a non-empty string, not {_shown(diff)}"
        )
    explanation = obj.get("explanation")
    if not isinstance(explanation, str):
        raise AgentError(
            f"the reply's 'explanation' must be a string, not {_shown(explanation)}"
        )
    confidence = obj.get("confidence")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0 <= confidence <= 1
    ):
        raise AgentError(
            "the reply's 'confidence' must be a number from 0 to 1, "
            f"not {_shown(confidence)}"
        )
    if not diff.endswith("\n"):
        # git apply reads the last line of a hunk only when it is ended;
        # a missing final newline is the commonest slip in hand-made diffs.
        diff += "\n"
    return Draft(diff=diff, explanation=explanation.strip(), confidence=confidence)


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- reading a diff ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk: ``kind`` is ' ', '-' or '+'.

    ``old_number`` is the line's number in the old file; an added line
    carries the number of the old line it is inserted before.
    """

    kind: str
    old_number: int
    text: str


@dataclass(slots=True)
class FileDiff:
    """What a diff does to one file (paths as ``git apply`` will use them)."""

    old: str | None = None
    new: str | None = None
    other_paths: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    binary: bool = False
    lines: list[DiffLine] = field(default_factory=list)

    def paths(self) -> list[str]:
        """Every path this file's part of the diff names."""
        named = [self.old, self.new, *self.other_paths]
        return list(dict.fromkeys(p for p in named if p))

    @property
    def path(self) -> str:
        """The path after the change (the old one for a deletion)."""
        return self.new or self.old or ""

    def added(self) -> list[str]:
        """The text of the added lines."""
        return [line.text for line in self.lines if line.kind == "+"]

    def removed(self) -> list[str]:
        """The text of the removed lines."""
        return [line.text for line in self.lines if line.kind == "-"]


@dataclass(slots=True)
class ParsedDiff:
    """The files of a diff and the ``-p`` level that strips its prefixes."""

    files: list[FileDiff]
    strip: int

    def paths(self) -> list[str]:
        """Every path the diff names, once each."""
        return list(dict.fromkeys(p for f in self.files for p in f.paths()))

    def changed_lines(self) -> int:
        """Added plus removed lines."""
        return sum(1 for f in self.files for line in f.lines if line.kind != " ")

    def modes(self) -> set[str]:
        """Every file mode a header names."""
        return {mode for f in self.files for mode in f.modes}


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_HEADER = re.compile(
    r'^diff --git ("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$'
)
_MODE_HEADERS = (
    "new file mode ",
    "deleted file mode ",
    "old mode ",
    "new mode ",
)
_PATH_HEADERS = ("rename from ", "rename to ", "copy from ", "copy to ")
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13}


def parse_diff(text: str) -> ParsedDiff:
    """The files and lines a unified diff changes.

    Paths lose their ``a/`` and ``b/`` prefixes when the diff has them
    (``strip`` is then 1, else 0), and git's quoted paths are decoded.
    Never raises: a malformed part is read as far as it goes and left for
    ``git apply --check`` to refuse.
    """
    raw_lines = text.split("\n")
    prefixed = _has_prefixes(raw_lines)
    strip = 1 if prefixed else 0
    files: list[FileDiff] = []
    current: FileDiff | None = None
    index = 0
    while index < len(raw_lines):
        line = raw_lines[index].removesuffix("\r")
        index += 1
        if line.startswith("diff --git "):
            current = FileDiff()
            files.append(current)
            match = _GIT_HEADER.match(line)
            if match:
                current.old = _path(match[1], strip)
                current.new = _path(match[2], strip)
            continue
        if line.startswith("--- ") and _next_is(raw_lines, index, "+++ "):
            if current is None or current.lines or current.binary:
                current = FileDiff()
                files.append(current)
            current.old = _path(line[4:], strip)
            current.new = _path(raw_lines[index].removesuffix("\r")[4:], strip)
            index += 1
            continue
        if current is None:
            continue
        if line.startswith(_MODE_HEADERS) or (
            # "index <old>..<new> <mode>" names the mode when it stays the same.
            line.startswith("index ") and line.count(" ") == 2
        ):
            current.modes.append(line.rsplit(" ", 1)[1])
        elif line.startswith(_PATH_HEADERS):
            name = _path(line.split(" ", 2)[2], 0)
            if name:
                current.other_paths.append(name)
        elif line.startswith(("GIT binary patch", "Binary files ")):
            current.binary = True
        elif (hunk := _HUNK.match(line)) is not None:
            index = _read_hunk(raw_lines, index, hunk, current)
    return ParsedDiff(files=files, strip=strip)


def _has_prefixes(lines: list[str]) -> bool:
    """True when the diff's file headers use git's ``a/`` and ``b/`` prefixes."""
    names = []
    for position, line in enumerate(lines):
        if line.startswith("diff --git "):
            return True
        if line.startswith("--- ") and _next_is(lines, position + 1, "+++ "):
            names += [line[4:], lines[position + 1][4:]]
    named = [_unquote(_cut_timestamp(n)) for n in names]
    real = [n for n in named if n != "/dev/null"]
    return bool(real) and all(n.startswith(("a/", "b/")) for n in real)


def _next_is(lines: list[str], index: int, prefix: str) -> bool:
    return index < len(lines) and lines[index].startswith(prefix)


def _read_hunk(
    lines: list[str], index: int, header: re.Match[str], into: FileDiff
) -> int:
    old_number = int(header[1])
    old_left = int(header[2]) if header[2] is not None else 1
    new_left = int(header[4]) if header[4] is not None else 1
    if old_left == 0:
        # "-N,0" names the line after which text is inserted.
        old_number += 1
    while (old_left > 0 or new_left > 0) and index < len(lines):
        line = lines[index].removesuffix("\r")
        kind, text = (line[:1] or " "), line[1:]
        if kind == " " and old_left > 0 and new_left > 0:
            into.lines.append(DiffLine(" ", old_number, text))
            old_number, old_left, new_left = old_number + 1, old_left - 1, new_left - 1
        elif kind == "-" and old_left > 0:
            into.lines.append(DiffLine("-", old_number, text))
            old_number, old_left = old_number + 1, old_left - 1
        elif kind == "+" and new_left > 0:
            into.lines.append(DiffLine("+", old_number, text))
            new_left -= 1
        elif kind != "\\":
            break
        index += 1
    return index


def _cut_timestamp(name: str) -> str:
    # "--- a/file\t2024-01-01 10:00:00" (diff -u) carries a date after a tab.
    return name.split("\t", 1)[0] if not name.startswith('"') else name


def _path(name: str, strip: int) -> str | None:
    """A header's path as ``git apply -p<strip>`` uses it; None for /dev/null."""
    value = _unquote(_cut_timestamp(name.strip()))
    if value == "/dev/null":
        return None
    if strip:
        _, slash, rest = value.partition("/")
        value = rest if slash else value
    return value


def _unquote(name: str) -> str:
    """Decode git's C-style quoting (``"a/tab\\there"``); other names as given."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    out = bytearray()
    body = name[1:-1]
    position = 0
    while position < len(body):
        char = body[position]
        if char != "\\" or position + 1 >= len(body):
            out += char.encode("utf-8")
            position += 1
            continue
        nxt = body[position + 1]
        digits = body[position + 1 : position + 4]
        if len(digits) == 3 and all(d in "01234567" for d in digits):
            out.append(int(digits, 8) & 0xFF)
            position += 4
            continue
        out.append(_ESCAPES.get(nxt, ord(nxt) if ord(nxt) < 128 else 63))
        position += 2
    return out.decode("utf-8", "replace")


# -- where a patch may write ------------------------------------------------

# Files that steer git itself or the forge's CI: a patch that edits them
# could run code on the next checkout or in a pipeline holding secrets.
_STEERING_FILES = {".gitmodules", ".gitattributes", ".gitlab-ci.yml", ".drone.yml"}
_STEERING_DIRS = {".github", ".gitea", ".forgejo", ".woodpecker", ".circleci"}


def path_problem(path: str, subproject: str) -> str | None:
    """Why a patch may not touch ``path`` (relative to the repository root).

    None when the path is allowed: relative, inside ``subproject`` (``.``
    for the whole repository), without ``..``, not in ``.git`` and not a
    file that steers git or CI. Symbolic links are checked elsewhere,
    against the tree.
    """
    if not path or "\0" in path:
        return "the diff names an empty path"
    if path.startswith("/"):
        return f"the diff names the absolute path {path!r}"
    parts = PurePosixPath(path).parts
    if ".." in parts:
        return f"the diff names {path!r}, which climbs out with '..'"
    if any(part.lower().rstrip(". ") == ".git" for part in parts):
        return f"the diff writes into .git ({path!r})"
    if parts and (parts[0] in _STEERING_DIRS or parts[-1] in _STEERING_FILES):
        return f"the diff edits {path!r}, which steers git or CI"
    if subproject != "." and not (
        path == subproject or path.startswith(subproject.rstrip("/") + "/")
    ):
        return f"the diff edits {path!r}, outside subproject {subproject!r}"
    return None


def mode_problem(modes: set[str]) -> str | None:
    """Why a diff's file modes are refused: symlinks and submodules are."""
    if SYMLINK_MODE in modes:
        return "the diff creates a symbolic link"
    if GITLINK_MODE in modes:
        return "the diff adds a submodule"
    return None


# -- what a verified patch must also respect -------------------------------


@dataclass(frozen=True, slots=True)
class PatchLimits:
    """The limits a patch must stay within to be proposed.

    ``own_file`` (relative to the repository root) is the finding's file:
    editing it is the fix, so it counts as neither a test file nor a
    lint configuration.
    """

    max_lines: int
    may_edit_tests: bool = False
    may_add_skip_markers: bool = False
    may_edit_lint_config: bool = False
    own_file: str | None = None


_TEST_DIRS = {"test", "tests", "__tests__", "spec", "specs", "testdata"}
_TEST_FILE = re.compile(
    r"^(test_.*\.py|conftest\.py|.*_test\.(py|go|rb|exs?|dart|c|cc|cpp)"
    r"|.*\.(test|spec)\.[cm]?[jt]sx?|.*_spec\.rb|.*Tests?\.(java|kt|cs|swift|php))$"
)
_LINT_CONFIG = re.compile(
    r"^(ruff\.toml|\.ruff\.toml|setup\.cfg|tox\.ini|\.flake8|\.?pylintrc"
    r"|\.?mypy\.ini|pyrightconfig\.json|pytest\.ini|\.coveragerc|\.bandit"
    r"|\.eslintrc(\..+)?|eslint\.config\.[cm]?[jt]s|\.eslintignore"
    r"|\.prettierrc(\..+)?|biome\.jsonc?|tsconfig(\..+)?\.json|jsconfig\.json"
    r"|\.?clippy\.toml|\.?rustfmt\.toml|deny\.toml"
    r"|\.golangci\.(ya?ml|toml|json)|staticcheck\.conf"
    r"|\.rubocop(_todo)?\.yml|phpstan\.neon(\.dist)?|\.swiftlint\.ya?ml"
    r"|\.shellcheckrc|\.semgrep(\.ya?ml)?|\.pre-commit-config\.yaml"
    r"|\.stylelintrc(\..+)?|\.yamllint(\.ya?ml)?|\.editorconfig)$"
)
# Sections of files that hold more than lint settings. pyproject.toml's
# [tool.*] tables are lint and test settings except those of packaging
# tools, whose dependency lists a CVE fix may have to bump.
_PACKAGING_TOOLS = {
    "poetry",
    "setuptools",
    "setuptools_scm",
    "hatch",
    "pdm",
    "uv",
    "flit",
    "maturin",
    "scikit-build",
}
SECTIONED_FILES = ("pyproject.toml", "Cargo.toml")
_SECTION = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

_SKIP_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("# noqa", r"(?i)#\s*noqa\b"),
        ("# type: ignore", r"#\s*type:\s*ignore\b"),
        ("# pyright: ignore", r"#\s*pyright:\s*ignore\b"),
        ("# pylint: disable", r"#\s*pylint:\s*disable"),
        ("# nosec", r"#\s*nosec\b"),
        ("# pragma: no cover", r"#\s*pragma:\s*no\s*cover"),
        ("pytest skip or xfail", r"\bpytest\.(mark\.)?(skip|skipif|xfail)\b"),
        ("unittest skip", r"@(unittest\.)?skip(If|Unless)?\b"),
        ("#[ignore]", r"#\[\s*ignore\b"),
        ("#[allow(...)]", r"#!?\[\s*(allow|expect)\s*\("),
        ("eslint-disable", r"eslint-disable"),
        ("@ts-ignore", r"@ts-(ignore|nocheck|expect-error)\b"),
        ("tslint:disable", r"tslint:disable"),
        ("//nolint", r"//\s*nolint\b"),
        ("NOLINT", r"\bNOLINT"),
        ("//lint:ignore", r"//\s*lint:(file-)?ignore\b"),
        ("t.Skip", r"\bt\.Skip(Now|f)?\("),
        ("skipped JavaScript test", r"\b(it|describe|test)\.skip\b|\bx(it|describe)\("),
        ("@Disabled or @Ignore", r"@(Disabled|Ignore)\b"),
        ("@SuppressWarnings", r"@SuppressWarnings\b"),
        ("# shellcheck disable", r"#\s*shellcheck\s+disable="),
        ("rubocop:disable", r"rubocop:disable"),
        ("swiftlint:disable", r"swiftlint:disable"),
        ("@phpstan-ignore", r"@phpstan-ignore"),
        ("phpcs:ignore", r"phpcs:(ignore|disable)"),
    )
)


def is_test_file(path: str) -> bool:
    """True for files that by name or folder hold tests."""
    parts = PurePosixPath(path).parts
    return bool(parts) and (
        any(part in _TEST_DIRS for part in parts[:-1])
        or _TEST_FILE.match(parts[-1]) is not None
    )


def is_lint_config(path: str) -> bool:
    """True for files that only configure linters, type checkers or tests."""
    return _LINT_CONFIG.match(PurePosixPath(path).name) is not None


def section_files(diff: ParsedDiff) -> list[str]:
    """The changed files whose old text :func:`policy_problems` needs."""
    return [
        f.old
        for f in diff.files
        if f.old and PurePosixPath(f.old).name in SECTIONED_FILES
    ]


def policy_problems(
    diff: ParsedDiff, policy: PatchLimits, old_texts: Mapping[str, str]
) -> list[str]:
    """Every way the patch breaks ``policy``, one sentence each (none: fine).

    ``old_texts`` maps the files :func:`section_files` names to their text
    before the patch, which tells in which section a changed line sits.
    """
    problems = []
    lines = diff.changed_lines()
    if lines > policy.max_lines:
        problems.append(
            f"the patch changes {lines} lines, more than the limit of "
            f"{policy.max_lines} (CRAFTING_PATCHER_MAX_DIFF_LINES)"
        )
    for f in diff.files:
        path = f.path
        own = path == policy.own_file
        if not policy.may_edit_tests and not own and is_test_file(path):
            problems.append(f"the patch edits the test file {path!r}")
        if not policy.may_edit_lint_config and not own:
            reason = _lint_config_edit(f, old_texts.get(f.old or ""))
            if reason:
                problems.append(reason)
        if not policy.may_add_skip_markers:
            problems += [
                f"the patch adds {name!r} to {path!r}" for name in _new_markers(f)
            ]
    return problems


def _new_markers(f: FileDiff) -> list[str]:
    """Markers the patch adds more often than it removes (moving one is fine)."""
    added, removed = f.added(), f.removed()
    return [
        name
        for name, pattern in _SKIP_MARKERS
        if sum(len(pattern.findall(t)) for t in added)
        > sum(len(pattern.findall(t)) for t in removed)
    ]


def _lint_config_edit(f: FileDiff, old_text: str | None) -> str | None:
    path = f.path
    name = PurePosixPath(path).name
    if is_lint_config(path):
        return f"the patch edits the lint configuration {path!r}"
    if name == "package.json" and any(
        '"eslintConfig"' in t for t in [*f.added(), *f.removed()]
    ):
        return f"the patch edits the eslint settings in {path!r}"
    if name not in SECTIONED_FILES:
        return None
    for section in _changed_sections(f, old_text or ""):
        if _is_lint_section(name, section):
            return f"the patch edits the [{section}] settings in {path!r}"
    return None


def _changed_sections(f: FileDiff, old_text: str) -> set[str]:
    """The TOML tables holding the lines the patch adds or removes."""
    headers: dict[int, str] = {}
    for number, text in enumerate(old_text.splitlines(), start=1):
        match = _SECTION.match(text)
        if match:
            headers[number] = match[1].replace(" ", "")
    changed: set[str] = set()
    current = ""
    last_old = 0
    for line in f.lines:
        # Walk the old file's headers up to this line, then the line itself.
        upto = line.old_number if line.kind != "+" else line.old_number - 1
        for number in range(last_old + 1, upto + 1):
            if number in headers:
                current = headers[number]
        last_old = max(last_old, upto)
        match = _SECTION.match(line.text)
        if match and line.kind == "+":
            current = match[1].replace(" ", "")
        if line.kind != " ":
            changed.add(current)
    return changed


def _is_lint_section(file_name: str, section: str) -> bool:
    parts = section.split(".")
    if file_name == "pyproject.toml":
        return (
            len(parts) >= 2 and parts[0] == "tool" and parts[1] not in _PACKAGING_TOOLS
        )
    return parts[0] == "lints" or parts[:2] == ["workspace", "lints"]
