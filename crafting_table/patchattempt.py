"""One patch attempt, step by step: draft, apply, verify, publish.

::

    attempt = PatchAttempt(deps, row, job, project, finding, remote)
    pr_url = await attempt.run()

:meth:`PatchAttempt.run` moves the attempt's row from ``drafting`` to
``verifying`` to ``pushing`` and returns the pull request's URL; it raises
:class:`~crafting_table.errors.ApplyFailed` or
:class:`~crafting_table.errors.VerifyFailed` when the patch is turned
down, and any other :class:`~crafting_table.errors.CraftingError` when
the agent, git or the forge failed. Giving the attempt its final status is
the caller's part (the Patcher actor), and so is hearing of the verify
job's end (``AttemptDeps.wait_for_job``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from crafting_table import patchrepo
from crafting_table.agent import Agent
from crafting_table.config import Settings
from crafting_table.enqueue import enqueue
from crafting_table.errors import ApplyFailed, CraftingError, ForgeError, VerifyFailed
from crafting_table.forge import Forge
from crafting_table.ledger import Ledger
from crafting_table.ledger import findings as finding_store
from crafting_table.ledger import patches as patch_store
from crafting_table.ledger.findings import FindingRow
from crafting_table.ledger.jobs import JobRow
from crafting_table.ledger.patches import PatchRow
from crafting_table.ledger.projects import ProjectRow
from crafting_table.messages import Ref
from crafting_table.patchcheck import verify_problems
from crafting_table.patchdiff import (
    Draft,
    PatchLimits,
    mode_problem,
    parse_diff,
    parse_reply,
    path_problem,
    policy_problems,
    section_files,
)
from crafting_table.patchtext import (
    PromptFacts,
    SourceContext,
    VerifyReport,
    commit_message,
    prompt,
    pull_request_body,
    read_context,
    repo_path,
    title,
)
from crafting_table.sourcefiles import SourceReader
from crafting_table.urls import owner_and_repo
from crafting_table.workspace import Remote, Workspace

logger = logging.getLogger(__name__)

# Removing a worktree is two renames and a tree deletion; past this the
# disk is in trouble and the attempt should end anyway.
CLEANUP_TIMEOUT = 60.0


@dataclass(slots=True)
class AttemptDeps:
    """What an attempt uses; ``wait_for_job`` returns a job once it ended."""

    settings: Settings
    ledger: Ledger
    workspace: Workspace
    runner: Ref
    agent: Agent
    forge: Forge
    wait_for_job: Callable[[JobRow], Awaitable[JobRow]]


@dataclass(slots=True)
class _Verified:
    job: JobRow
    before: list[FindingRow]
    after: list[FindingRow]


@dataclass(slots=True)
class PatchAttempt:
    """One attempt at one finding; see the module docstring.

    ``draft`` is set once the agent's reply held a usable diff, ``commit``
    once the patch is committed.
    """

    deps: AttemptDeps
    row: PatchRow
    job: JobRow
    project: ProjectRow
    finding: FindingRow
    remote: Remote
    draft: Draft | None = None
    commit: str | None = None
    _old_texts: dict[str, str] = field(default_factory=dict)
    _verified: _Verified | None = None

    @property
    def label(self) -> str:
        """How log lines name this attempt."""
        return f"patch attempt {self.row.id} (job {self.job.id}, {self.project.name})"

    async def run(self) -> str:
        """Draft, apply, verify and publish; return the pull request's URL."""
        await self._draft_and_commit()
        await self._verify()
        return await self._publish()

    async def _advance(self, status: str, **fields: object) -> None:
        await self.deps.ledger.write(
            patch_store.advance, self.row.id, status=status, now=time.time(), **fields
        )

    # -- drafting ----------------------------------------------------------

    async def _draft_and_commit(self) -> None:
        workspace = self.deps.workspace
        timeout = self.deps.settings.git_timeout_secs
        project = self.project.name
        tree_id = f"patch-{self.row.id}"
        scratch = workspace.project_dir(project) / f"{tree_id}.txt"
        try:
            worktree = await self._worktree(tree_id)
            reader = SourceReader(worktree)
            context = await trio.to_thread.run_sync(
                read_context, reader, self.finding, self.job.subproject
            )
            self.draft = draft = await self._ask_agent(context)
            await self._advance(
                "drafting",
                diff=draft.diff,
                explanation=draft.explanation,
                confidence=draft.confidence,
            )
            await self._apply(worktree, scratch, reader)
            canonical = await patchrepo.staged_diff(worktree, timeout)
            message = commit_message(
                self.finding, self.job, draft, self.row.attempt_number
            )
            await trio.to_thread.run_sync(patchrepo.write_private, scratch, message)
            self.commit = await patchrepo.commit(worktree, scratch, timeout)
            await patchrepo.keep(
                workspace.cache_dir(project),
                patchrepo.private_ref(self.row.id),
                self.commit,
                timeout,
            )
        finally:
            # Shielded: a cancelled attempt must not leave its worktree
            # registered in the clone, where every fetch would walk it.
            with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_TIMEOUT):
                await workspace.remove_worktree(project, tree_id)
                await workspace.remove_path(scratch)
        await self._advance("verifying", diff=canonical)
        logger.info("%s verifying commit %s", self.label, self.commit)
        self._check_policy(canonical)

    async def _worktree(self, tree_id: str) -> Path:
        workspace = self.deps.workspace
        project, sha = self.project.name, self.job.sha
        if sha is None:
            raise CraftingError(f"job {self.job.id} has no commit to patch")
        if not (workspace.cache_dir(project) / "HEAD").exists():
            await workspace.sync(project, self.remote)
        commit = await workspace.resolve(project, self.remote, ref=None, sha=sha)
        return await workspace.add_worktree(project, tree_id, commit)

    async def _ask_agent(self, context: SourceContext) -> Draft:
        facts = PromptFacts(
            project=self.project.name,
            default_branch=self.project.spec.default_branch,
            job=self.job,
            max_diff_lines=self.deps.settings.patcher_max_diff_lines,
        )
        metadata = {
            "project": self.project.name,
            "job_id": self.job.id,
            "finding_id": self.finding.id,
        }
        reply = await self.deps.agent.converse(
            metadata, prompt(facts, self.finding, context)
        )
        return parse_reply(reply)

    # -- applying ----------------------------------------------------------

    async def _apply(self, worktree: Path, scratch: Path, reader: SourceReader) -> None:
        assert self.draft is not None
        subproject = self.job.subproject
        parsed = parse_diff(self.draft.diff)
        if not parsed.files:
            raise ApplyFailed("the reply's diff names no file")
        problems = [path_problem(path, subproject) for path in parsed.paths()]
        problems.append(mode_problem(parsed.modes()))
        if any(f.binary for f in parsed.files):
            problems.append("the diff holds a binary patch")
        for problem in problems:
            if problem:
                raise ApplyFailed(problem)
        link = await trio.to_thread.run_sync(
            patchrepo.symlink_on_path, worktree, parsed.paths()
        )
        if link:
            raise ApplyFailed(link)
        for path in section_files(parsed):
            text = await trio.to_thread.run_sync(reader.lines, path)
            self._old_texts[path] = "\n".join(text or [])

        await trio.to_thread.run_sync(patchrepo.write_private, scratch, self.draft.diff)
        timeout = self.deps.settings.git_timeout_secs
        await patchrepo.apply(worktree, scratch, parsed.strip, timeout)

        # What git did, not what the diff said: checked once more.
        changes = await patchrepo.staged(worktree, timeout)
        if not changes:
            raise ApplyFailed("the diff changes nothing")
        for change in changes:
            problem = path_problem(change.path, subproject) or mode_problem(
                {change.new_mode}
            )
            if problem:
                raise ApplyFailed(problem)

    # -- verifying ---------------------------------------------------------

    def _check_policy(self, canonical: str) -> None:
        policy = self.project.spec.patch_policy
        file = self.finding.file
        limits = PatchLimits(
            max_lines=self.deps.settings.patcher_max_diff_lines,
            may_edit_tests=policy.may_edit_tests,
            may_add_skip_markers=policy.may_add_skip_markers,
            may_edit_lint_config=policy.may_edit_lint_config,
            own_file=repo_path(self.job.subproject, file) if file else None,
        )
        problems = policy_problems(parse_diff(canonical), limits, self._old_texts)
        if problems:
            raise VerifyFailed("; ".join(problems))

    async def _verify(self) -> None:
        assert self.commit is not None
        ledger = self.deps.ledger
        verify = await enqueue(
            ledger,
            self.deps.runner,
            self.project,
            recipe=self.job.recipe,
            subproject=self.job.subproject,
            ref=None,
            sha=self.commit,
            trigger="verify",
            snapshot=self.job.snapshot,
        )
        await self._advance("verifying", verify_job_id=verify.id)
        logger.info("%s: verify job %s queued", self.label, verify.id)
        ended = await self.deps.wait_for_job(verify)
        if ended.status == "canceled":
            # Someone (or a shutdown) stopped it: that says nothing of the patch.
            raise CraftingError(f"verify job {ended.id} was canceled: {ended.error}")
        before = await ledger.read(finding_store.for_job, self.job.id)
        after = await ledger.read(finding_store.for_job, ended.id)
        problems = verify_problems(self.job, ended, self.finding, before, after)
        if problems:
            raise VerifyFailed("; ".join(problems))
        self._verified = _Verified(job=ended, before=before, after=after)

    # -- publishing --------------------------------------------------------

    async def _publish(self) -> str:
        assert self.commit is not None
        assert self.draft is not None
        assert self._verified is not None
        branch = self.row.branch
        if branch is None:
            raise CraftingError(f"{self.label} has no branch name")
        await self._advance("pushing")
        names = owner_and_repo(self.project.spec.git_url)
        if names is None:
            raise ForgeError(
                "the forge repository cannot be told from the project's git_url; "
                "it needs an owner and a repository name as its last two segments"
            )
        cache = self.deps.workspace.cache_dir(self.project.name)
        timeout = self.deps.settings.git_timeout_secs
        await patchrepo.push(cache, self.remote, self.commit, branch, timeout)
        logger.info("%s pushed to branch %s", self.label, branch)

        base = self.project.spec.default_branch
        if self.job.ref and await patchrepo.has_branch(cache, self.job.ref, timeout):
            base = self.job.ref
        body = pull_request_body(
            VerifyReport(
                job=self.job,
                verify_job=self._verified.job,
                target=self.finding,
                before=self._verified.before,
                after=self._verified.after,
                draft=self.draft,
                public_url=self.deps.settings.public_url,
            )
        )
        pull = await self.deps.forge.open_pull_request(
            names[0],
            names[1],
            head=branch,
            base=base,
            title=title(self.finding, self.job.subproject),
            body=body,
        )
        return pull.url
