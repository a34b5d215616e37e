"""Findings through the API: states across runs, filters, and SARIF out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from tests.support import Repo, register, run_job
from tests.toolchains import require

SCHEMA = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "schemas"
    / "sarif-2.1.0-rtm.5.json"
)
RUFF = f"{sys.executable} -m ruff check --no-cache --output-format=json ."


async def lint(admin: httpx.AsyncClient) -> dict[str, Any]:
    body = await run_job(admin, "demo", recipe="lint")
    assert body["job"]["status"] == "failed", body
    return body["job"]


async def findings(
    admin: httpx.AsyncClient, job_id: str, **params: str
) -> list[dict[str, Any]]:
    answer = await admin.get(f"/jobs/{job_id}/findings", params=params)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["findings"]
    return rows


async def test_line_shifts_are_neither_new_nor_fixed(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"app.py": "import os\nimport sys\n\nprint('hi')\n"})
    await register(admin, repo, language="python", lint=RUFF)

    first = await lint(admin)
    repo.write(
        {"app.py": "# one\n# two\n# three\nimport os\nimport sys\n\nprint('hi')\n"}
    )
    shifted = await lint(admin)
    repo.write({"app.py": "# one\n# two\n# three\nimport os\n\nprint('hi')\n"})
    fixed_one = await lint(admin)

    before = await findings(admin, first["id"])
    after = await findings(admin, shifted["id"])
    assert first["findings_count"] == len(before) == 2
    assert {f["code"] for f in before} == {"F401"}
    assert {f["state"] for f in before} == {"new"}
    assert {f["state"] for f in after} == {"persisting"}
    assert [f["line"] for f in after] == [4, 5]
    assert {f["fingerprint"] for f in after}.isdisjoint(
        {f["fingerprint"] for f in before}
    )
    assert {f["identity"] for f in after} == {f["identity"] for f in before}
    assert await findings(admin, shifted["id"], new="1") == []
    assert await findings(admin, shifted["id"], fixed="1") == []
    gone = await findings(admin, fixed_one["id"], fixed="1")
    assert [f["message"] for f in gone] == [
        f["message"] for f in after if "sys" in f["message"]
    ]
    assert all(f["state"] == "fixed" for f in gone)


@pytest.mark.parametrize(
    "break_branch",
    [
        pytest.param(
            lambda repo: repo.git("branch", "-q", "-D", "side"), id="checkout-failed"
        ),
        pytest.param(
            lambda repo: repo.git("branch", "-q", "-f", "side", "bare"),
            id="subproject-folder-missing",
        ),
    ],
)
async def test_a_job_that_never_ran_its_recipe_is_no_baseline(
    admin: httpx.AsyncClient, make_repo: Any, break_branch: Any
) -> None:
    repo: Repo = make_repo({"app/app.py": "import os\nimport sys\n"})
    repo.git("checkout", "-q", "-b", "bare")
    repo.git("rm", "-q", "-r", "app")
    repo.git("commit", "-q", "-m", "no app")
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "side", "main")
    await register(admin, repo, path="app", language="python", lint=RUFF)

    # All three run on one branch, which is gone or has no app folder for
    # the second, so that only what the second did decides the baseline.
    first = (await run_job(admin, "demo", recipe="lint", ref="side"))["job"]
    break_branch(repo)
    never = (await run_job(admin, "demo", recipe="lint", ref="side"))["job"]
    repo.git("branch", "-q", "-f", "side", "main")
    again = (await run_job(admin, "demo", recipe="lint", ref="side"))["job"]

    assert (never["status"], never["exit_code"]) == ("failed", None), never
    answer = await admin.get(f"/jobs/{again['id']}/findings", params={"new": "1"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "ok": True,
        "findings": [],
        "previous_job_id": first["id"],
        "fixed_withheld": None,
    }
    assert await findings(admin, again["id"], fixed="1") == []
    assert {f["state"] for f in await findings(admin, again["id"])} == {"persisting"}


async def answer(admin: httpx.AsyncClient, job_id: str, **params: str) -> Any:
    reply = await admin.get(f"/jobs/{job_id}/findings", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_branch_is_compared_with_its_own_runs(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"app.py": "import os\nimport sys\n"})
    repo.git("checkout", "-q", "-b", "broken")
    repo.write({"app.py": "import os\n"})
    repo.git("checkout", "-q", "main")
    await register(admin, repo, language="python", lint=RUFF)

    on_main = await lint(admin)
    on_broken = (await run_job(admin, "demo", recipe="lint", ref="broken"))["job"]
    main_again = await lint(admin)
    broken_again = (await run_job(admin, "demo", recipe="lint", ref="broken"))["job"]

    # A job given no ref runs the default branch and says so, like a push.
    assert on_main["ref"] == main_again["ref"] == "main"
    first_on_broken = await answer(admin, on_broken["id"], fixed="1")
    assert (first_on_broken["findings"], first_on_broken["previous_job_id"]) == (
        [],
        None,
    )
    assert (await answer(admin, main_again["id"]))["previous_job_id"] == on_main["id"]
    assert await findings(admin, main_again["id"], fixed="1") == []
    assert {f["state"] for f in await findings(admin, main_again["id"])} == {
        "persisting"
    }
    assert (await answer(admin, broken_again["id"]))["previous_job_id"] == on_broken[
        "id"
    ]


async def test_a_job_on_a_commit_is_compared_with_jobs_on_commits(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    repo: Repo = make_repo({"app.py": "import os\nimport sys\n"})
    both = repo.git("rev-parse", "HEAD")
    one = repo.write({"app.py": "import os\n"})
    await register(admin, repo, language="python", lint=RUFF)

    at_commit = (await run_job(admin, "demo", recipe="lint", sha=both))["job"]
    on_main = await lint(admin)
    at_commit_again = (await run_job(admin, "demo", recipe="lint", sha=one))["job"]

    assert (at_commit["ref"], on_main["ref"]) == (None, "main")
    assert (await answer(admin, on_main["id"]))["previous_job_id"] is None
    fixed = await answer(admin, at_commit_again["id"], fixed="1")
    assert fixed["previous_job_id"] == at_commit["id"]
    assert [f["message"] for f in fixed["findings"]] == ["`sys` imported but unused"]


async def test_filters(admin: httpx.AsyncClient, make_repo: Any) -> None:
    repo: Repo = make_repo({"app.py": "import os\n"})
    await register(admin, repo, language="python", lint=RUFF)
    job = await lint(admin)

    assert len(await findings(admin, job["id"], kind="lint")) == 1
    assert await findings(admin, job["id"], kind="cve") == []
    bad = await admin.get(f"/jobs/{job['id']}/findings", params={"kind": "nope"})
    assert bad.status_code == 422


def sarif_log(*results: dict[str, Any]) -> str:
    """A SARIF 2.1.0 log of one run of a tool called ``probe``."""
    return json.dumps(
        {
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{"tool": {"driver": {"name": "probe"}}, "results": list(results)}],
        }
    )


def result(rule: str, level: str, uri: str, line: int) -> dict[str, Any]:
    """One SARIF result at ``uri``:``line``."""
    return {
        "ruleId": rule,
        "level": level,
        "message": {"text": f"{rule} here"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": line, "startColumn": 1},
                }
            }
        ],
    }


async def test_severity_filter(admin: httpx.AsyncClient, make_repo: Any) -> None:
    # SARIF printed by the recipe is the one way to get every severity and
    # two kinds out of a single job.
    log = sarif_log(
        result("R-err", "error", "a.py", 1),
        result("R-warn", "warning", "a.py", 2),
        result("R-note", "note", "a.py", 3),
        result("CVE-2024-0001", "error", "requirements.txt", 1),
    )
    repo: Repo = make_repo({"scan.sarif": log})
    await register(admin, repo, lint="cat scan.sarif; exit 1")
    job = await lint(admin)

    async def codes(**params: str) -> list[str]:
        return sorted(f["code"] for f in await findings(admin, job["id"], **params))

    assert await codes() == ["CVE-2024-0001", "R-err", "R-note", "R-warn"]
    assert await codes(severity="error") == ["CVE-2024-0001", "R-err"]
    assert await codes(severity="warning") == ["R-warn"]
    assert await codes(severity="info") == ["R-note"]
    assert await codes(kind="lint", severity="error") == ["R-err"]
    assert await codes(kind="cve", severity="error") == ["CVE-2024-0001"]
    assert await codes(kind="cve", severity="warning") == []


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"severity": "critical"}, id="unknown"),
        pytest.param({"severity": "ERROR"}, id="wrong-case"),
    ],
)
async def test_a_bad_severity_is_a_json_422(
    admin: httpx.AsyncClient, make_repo: Any, params: dict[str, str]
) -> None:
    repo: Repo = make_repo()
    await register(admin, repo, lint="exit 1")
    job = await lint(admin)

    for path in ("findings", "findings.sarif"):
        bad = await admin.get(f"/jobs/{job['id']}/{path}", params=params)

        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/json")
        error = bad.json()["error"]
        assert error["code"] == "validation_failed"
        assert "'error', 'warning' or 'info'" in error["message"]
        assert [p["field"] for p in error["details"]["problems"]] == ["severity"]


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="calc" tests="3" failures="1" errors="1">
    <testcase classname="tests.test_calc" name="test_adds"
              file="tests/test_calc.py" line="7" time="0.01">
      <failure message="assert 3 == 4">expected 4</failure>
    </testcase>
    <testcase classname="tests.test_calc" name="test_divides"
              file="tests/test_calc.py" line="12" time="0.01">
      <error message="ZeroDivisionError: division by zero"/>
    </testcase>
    <testcase classname="tests.test_calc" name="test_passes"
              file="tests/test_calc.py" line="20" time="0.01"/>
  </testsuite>
</testsuites>
"""


async def test_reports_written_by_the_recipe_become_findings(
    admin: httpx.AsyncClient, make_repo: Any
) -> None:
    scan = sarif_log(
        result("py/sql-injection", "error", "src/db.py", 14),
        result("GHSA-aaaa-bbbb-cccc", "warning", "requirements.txt", 2),
    )
    # The reports are written by the recipe itself, not read from the
    # repository, so only $CRAFTING_REPORTS can carry them to the parser.
    recipe = (
        f"cat > \"$CRAFTING_REPORTS/scan.sarif\" <<'EOF'\n{scan}\nEOF\n"
        f"cat > \"$CRAFTING_REPORTS/junit.xml\" <<'EOF'\n{JUNIT}EOF\n"
        "echo 'two tests failed'; exit 1"
    )
    repo: Repo = make_repo()
    await register(admin, repo, test=recipe)

    body = await run_job(admin, "demo", recipe="test")

    job = body["job"]
    assert job["status"] == "failed", body
    assert job["exit_code"] == 1
    rows = await findings(admin, job["id"])
    assert job["findings_count"] == len(rows) == 4
    got = sorted((f["kind"], f["file"], f["line"], f["code"], f["tool"]) for f in rows)
    assert got == [
        ("cve", "requirements.txt", 2, "GHSA-aaaa-bbbb-cccc", "probe"),
        ("lint", "src/db.py", 14, "py/sql-injection", "probe"),
        ("test_fail", "tests/test_calc.py", 7, None, "junit"),
        ("test_fail", "tests/test_calc.py", 12, None, "junit"),
    ]
    failed = {f["line"]: f for f in rows if f["kind"] == "test_fail"}
    assert failed[7]["message"] == "tests.test_calc.test_adds: assert 3 == 4"
    assert failed[12]["message"] == (
        "tests.test_calc.test_divides: ZeroDivisionError: division by zero"
    )
    assert {f["severity"] for f in failed.values()} == {"error"}
    assert all(not f["outside"] for f in rows)
    assert all("test_passes" not in f["message"] for f in rows)
    # The header echoes the command, here-documents and all: as the
    # service's lines, which the parser does not read as output.
    log = (await admin.get(f"/jobs/{job['id']}/log")).text
    echoed = [line for line in log.splitlines() if "py/sql-injection" in line]
    assert echoed
    assert all(line.startswith("[crafting-table] ") for line in echoed)


@pytest.mark.skipif(
    not SCHEMA.exists(), reason="the SARIF schema is kept beside the repository"
)
async def test_sarif_export_is_valid(admin: httpx.AsyncClient, make_repo: Any) -> None:
    repo: Repo = make_repo({"app.py": "import os\nimport sys\n"})
    await register(admin, repo, language="python", lint=RUFF)
    job = await lint(admin)

    answer = await admin.get(f"/jobs/{job['id']}/findings.sarif")

    assert answer.headers["content-type"].startswith("application/sarif+json")
    log = answer.json()
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    results = [r for run in log["runs"] for r in run["results"]]
    assert len(results) == 2
    assert {r["ruleId"] for r in results} == {"F401"}
    [run] = log["runs"]
    [commit] = run["versionControlProvenance"]
    assert commit["revisionId"] == job["sha"]
    assert commit["repositoryUri"] == Path(repo.url).as_uri()
    # ruff exited 1 over its findings: its analysis itself went through.
    assert run["invocations"] == [{"executionSuccessful": True}]


CARGO_TOML = '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n'
# Four clippy warnings: needless_return, ptr_arg, len_zero, and
# let_and_return.
WARNED = """\
pub fn twice(x: i32) -> i32 {
    let y = x * 2;
    y
}

pub fn empty(v: &Vec<i32>) -> bool {
    return v.len() == 0;
}
"""
# The same, with a name that does not resolve: rustc stops before clippy's
# lints run.
UNRESOLVED = WARNED + "\npub fn broken() -> i32 {\n    missing_name\n}\n"
FAILING_TESTS = """\
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds() {
        assert_eq!(super::add(1, 1), 3);
    }

    #[test]
    fn adds_again() {
        assert_eq!(super::add(2, 2), 5);
    }
}
"""


@pytest.mark.parametrize(
    ("recipe", "command", "good", "broken", "count"),
    [
        pytest.param(
            "lint",
            "cargo clippy --message-format=json",
            WARNED,
            UNRESOLVED,
            4,
            id="clippy",
        ),
        pytest.param(
            "test",
            "cargo test",
            FAILING_TESTS,
            FAILING_TESTS.replace("a + b", "a + missing_name"),
            2,
            id="cargo-test",
        ),
    ],
)
async def test_a_run_that_does_not_compile_fixes_nothing(
    admin: httpx.AsyncClient,
    make_repo: Any,
    recipe: str,
    command: str,
    good: str,
    broken: str,
    count: int,
) -> None:
    require("cargo", "cargo-clippy")
    repo: Repo = make_repo({"Cargo.toml": CARGO_TOML, "src/lib.rs": good})
    await register(admin, repo, language="rust", **{recipe: command})

    async def run() -> dict[str, Any]:
        body = await run_job(admin, "demo", recipe=recipe, timeout=180)
        assert body["job"]["exit_code"] is not None, body
        return body["job"]

    first = await run()
    repo.write({"src/lib.rs": broken})
    not_compiling = await run()
    repo.write({"src/lib.rs": good})
    mended = await run()

    before = await findings(admin, first["id"])
    assert len(before) == count, before
    gone = await answer(admin, not_compiling["id"], fixed="1")
    assert gone["findings"] == []
    assert "compile error" in gone["fixed_withheld"], gone
    assert "missing_name" in gone["fixed_withheld"], gone
    assert {f["state"] for f in await findings(admin, not_compiling["id"])} == {"new"}
    # Mended, it is compared with the last run that compiled: what the
    # broken run could not see is neither new nor fixed.
    again = await answer(admin, mended["id"])
    assert again["previous_job_id"] == first["id"]
    assert again["fixed_withheld"] is None
    assert {f["state"] for f in again["findings"]} == {"persisting"}
    assert await findings(admin, mended["id"], fixed="1") == []
