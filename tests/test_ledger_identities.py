"""Recipe identity slots: one per project, kept, never given twice."""

from __future__ import annotations

from pathlib import Path

from crafting_table.ledger import Ledger, identities
from crafting_table.ledger import projects as project_store
from crafting_table.models import ProjectIn


def spec(name: str) -> ProjectIn:
    return ProjectIn.model_validate(
        {"name": name, "git_url": "/srv/x.git", "subprojects": [{"test": "true"}]}
    )


async def test_each_project_keeps_one_slot_of_its_own(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    for name in ("alpha", "beta"):
        await ledger.write(project_store.insert, spec(name), "alice", 1.0)

    before = await ledger.read(identities.slot, "alpha")
    alpha = await ledger.write(identities.assign, "alpha")
    beta = await ledger.write(identities.assign, "beta")
    again = await ledger.write(identities.assign, "alpha")

    assert before is None
    assert alpha is not None
    assert beta is not None
    assert alpha != beta
    assert again == alpha == await ledger.read(identities.slot, "alpha")
    await ledger.aclose()


async def test_a_deleted_projects_slot_is_never_given_again(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")
    await ledger.write(project_store.insert, spec("alpha"), "alice", 1.0)
    old = await ledger.write(identities.assign, "alpha")

    await ledger.write(project_store.delete, "alpha")
    gone = await ledger.read(identities.slot, "alpha")
    await ledger.write(project_store.insert, spec("alpha"), "bob", 2.0)
    new = await ledger.write(identities.assign, "alpha")

    assert gone is None
    assert old is not None
    assert new is not None
    assert new > old
    await ledger.aclose()


async def test_a_missing_project_gets_no_slot(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "l.sqlite3")

    assert await ledger.write(identities.assign, "nobody") is None
    await ledger.aclose()
