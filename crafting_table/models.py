"""Pydantic models of everything the API takes and gives.

Request bodies forbid unknown fields: a typo in a field name is a 422 that
names it, never a silently ignored setting. Response models mirror the
ledger rows with secrets removed (``git_url`` redacted, ``webhook_secret``
reduced to whether one is set).
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crafting_table import languages
from crafting_table.languages import GENERIC
from crafting_table.urls import check_git_url_shape, check_ref, redact_url

RECIPES = ("build", "test", "lint", "audit")
Recipe = Literal["build", "test", "lint", "audit"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "timed_out", "canceled"]
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {"succeeded", "failed", "timed_out", "canceled"}
)
PatchStatus = Literal[
    "drafting",
    "apply_failed",
    "verifying",
    "verify_failed",
    "pushing",
    "pr_opened",
    "failed",
]
NotifyEvent = Literal[
    "audit_pass",
    "audit_fail",
    "test_fail",
    "lint_warn",
    "cve_found",
    "patch_drafted",
    "nightly_summary",
]
DEFAULT_NOTIFY_ON: list[NotifyEvent] = ["audit_fail", "cve_found", "patch_drafted"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_PATH_PART = re.compile(r"^[A-Za-z0-9_.@+-]+$")
_JOB_ID = re.compile(r"[0-9a-hjkmnp-tv-z]{20}")


STORED = {"stored": True}
"""Validation context of a spec read back from the ledger."""


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _slug(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a safe name: use 1-63 lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
    return value


def _subproject_path(value: str) -> str:
    cleaned = value.strip().strip("/") or "."
    if cleaned == ".":
        return cleaned
    parts = cleaned.split("/")
    for part in parts:
        if (
            part in ("", ".", "..")
            or not _PATH_PART.match(part)
            or part.startswith("-")
        ):
            raise ValueError(
                f"{value!r} is not a relative path inside the repository; use "
                "plain folder names separated by '/', e.g. 'clients/python'"
            )
    if parts[0] == ".git":
        raise ValueError(f"{value!r} points into .git; name a folder of the repository")
    return cleaned


Slug = Annotated[str, AfterValidator(_slug)]
SubprojectPath = Annotated[str, AfterValidator(_subproject_path)]
Ref = Annotated[str, AfterValidator(check_ref)]

# A commit id as git prints it, abbreviated or whole (SHA-1 or SHA-256).
_SHA_PATTERN = r"^[0-9a-fA-F]{7,64}$"


def iso(timestamp: float | None) -> str | None:
    """A ledger timestamp (Unix seconds) as ISO 8601 UTC, or None."""
    if timestamp is None:
        return None
    # strftime on a struct_time is several times cheaper than a datetime.
    whole = int(timestamp)
    micros = round((timestamp - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


class Strict(BaseModel):
    """Base of every request body: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class Query(Strict):
    """Base of every query string: a parameter given empty counts as left out.

    ``?project=&status=failed`` is what a script with an unset variable,
    or a form with an empty field, sends; it means no project filter.
    """

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: object) -> object:
        # Only known parameters: an unknown one, empty or not, stays to be
        # refused by name.
        if isinstance(data, dict):
            return {
                k: v for k, v in data.items() if v != "" or k not in cls.model_fields
            }
        return data


# -- tokens -----------------------------------------------------------------


class TokenIn(Strict):
    """Body of ``POST /admin/tokens``."""

    name: Slug
    is_admin: bool = False
    ip_cidrs: list[str] = Field(default_factory=list, max_length=64)

    @field_validator("ip_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        import ipaddress

        out = []
        for cidr in value:
            try:
                out.append(str(ipaddress.ip_network(cidr, strict=False)))
            except ValueError as exc:
                raise ValueError(
                    f"{cidr!r} is not an address range like 10.1.0.0/16"
                ) from exc
        return out


class TokenOut(BaseModel):
    """A token as listed: never its bearer."""

    name: str
    is_admin: bool
    ip_cidrs: list[str]
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class TokenMinted(BaseModel):
    """Answer of ``POST /admin/tokens``: the bearer, shown this once."""

    ok: bool = True
    bearer: str
    token: TokenOut


class TokenList(BaseModel):
    """Answer of ``GET /admin/tokens``."""

    ok: bool = True
    tokens: list[TokenOut]


# -- projects ---------------------------------------------------------------


class Limits(Strict):
    """Resource limits for each job of a subproject (where the host can)."""

    memory_mb: int | None = Field(default=None, ge=16, le=1024 * 1024)
    pids: int | None = Field(default=None, ge=8, le=1_000_000)


class Subproject(Strict):
    """One folder of the repository and the shell command of each recipe."""

    path: SubprojectPath = "."
    language: str = Field(
        default=GENERIC,
        max_length=32,
        description="Which parsers read the logs (see the README); left out, the "
        "one the recipe commands point to, else generic.",
    )
    build: str | None = Field(default=None, max_length=8192)
    test: str | None = Field(default=None, max_length=8192)
    lint: str | None = Field(default=None, max_length=8192)
    audit: str | None = Field(default=None, max_length=8192)
    timeout_secs: int = Field(default=1800, ge=1, le=7 * 24 * 3600)
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="before")
    @classmethod
    def _null_language(cls, data: object) -> object:
        # null is how many clients write "not set": the same as left out.
        if isinstance(data, dict) and "language" in data and data["language"] is None:
            data = {k: v for k, v in data.items() if k != "language"}
        return data

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object, info: ValidationInfo) -> object:
        # A stored project keeps the name it was registered with, even one
        # this version no longer knows: reading it must not fail.
        if not isinstance(value, str) or _stored(info):
            return value
        return languages.check(value.strip().lower())

    @model_validator(mode="after")
    def _language_of_the_commands(self) -> Subproject:
        if "language" not in self.model_fields_set:
            commands = (self.command(recipe) for recipe in RECIPES)
            self.language = languages.infer(c for c in commands if c)
        return self

    def command(self, recipe: str) -> str | None:
        """The shell command of ``recipe``, or None when it is not defined."""
        value = getattr(self, recipe, None) if recipe in RECIPES else None
        return value if isinstance(value, str) and value.strip() else None

    def recipes(self) -> list[str]:
        """The recipes this subproject defines."""
        return [name for name in RECIPES if self.command(name)]


class Notify(Strict):
    """Who hears about the project's jobs, and whether patches are drafted."""

    email: list[EmailStr] = Field(default_factory=list, max_length=50)
    # Shown as the events it stands for, so that an answer says what is
    # selected; an empty list given explicitly means the same.
    on: list[NotifyEvent] = Field(default_factory=lambda: list(DEFAULT_NOTIFY_ON))
    auto_patch: bool = False

    def events(self) -> list[NotifyEvent]:
        """The selected events, with the documented default for an empty list."""
        return list(self.on) or list(DEFAULT_NOTIFY_ON)


class Schedule(Strict):
    """A recipe run on a timetable: a 5-field cron expression in a time zone.

    ``cron`` is read in ``tz`` (an IANA name), so ``0 3 * * *`` is 03:00
    local time all year round; on a spring-forward day a time inside the
    gap runs right after it, and on a fall-back day a fixed time runs once.
    ``subproject`` None means the project's only subproject, or its root.
    """

    cron: str = Field(max_length=256)
    tz: str = Field(default="UTC", max_length=64)
    recipe: Recipe
    subproject: str | None = Field(default=None, max_length=512)

    def target(self, subprojects: list[Subproject]) -> Subproject | None:
        """The subproject this schedule runs, or None when none fits.

        Without ``subproject``: the only one, or else the root (``.``). A
        job request must name one of several instead; schedules keep the
        root as their default because every stored project is validated
        again when it is read, and one registered with such a schedule
        would become unreadable.
        """
        if self.subproject is None and len(subprojects) > 1:
            return find_subproject(subprojects, ".")
        return find_subproject(subprojects, self.subproject)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from crafting_table.schedules import check_cron

        return check_cron(value)

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        from crafting_table.schedules import check_tz

        return check_tz(value)

    @field_validator("subproject")
    @classmethod
    def _subproject(cls, value: str | None) -> str | None:
        return None if value is None else _subproject_path(value)


class PatchPolicy(Strict):
    """What a drafted patch may do beyond fixing its finding; all off by default.

    A patch may always edit the finding's own file. Beyond it, these
    switch on edits to test files, new suppression or skip markers
    (``# noqa``, ``@pytest.mark.skip``, ``// eslint-disable``, ...) and
    edits to lint, type-checker and test configuration.
    """

    may_edit_tests: bool = False
    may_add_skip_markers: bool = False
    may_edit_lint_config: bool = False


class ProjectIn(Strict):
    """Body of ``POST /projects`` and ``PUT /projects/{name}``.

    Triggers beyond the API: ``on_push`` recipes run on a signed webhook
    push (only for subprojects whose folder the push touched, unless
    ``push_paths_only`` is off), a newer push cancelling the older push's
    still-queued jobs when ``cancel_superseded`` is on; ``schedules`` run
    recipes on a timetable. ``commit_status`` False keeps job states off
    the forge's commit page.
    """

    name: Slug
    git_url: str = Field(max_length=2048)
    default_branch: Ref = "main"
    languages: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="For display, each a subproject language name; left out: "
        "the languages the subprojects name.",
    )
    subprojects: list[Subproject] = Field(
        max_length=256, json_schema_extra={"minItems": 1}
    )
    notify: Notify = Field(default_factory=Notify)
    webhook_secret: str | None = Field(default=None, min_length=8, max_length=256)
    on_push: list[Recipe] = Field(default_factory=list)
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=1024)
    push_paths_only: bool = True
    cancel_superseded: bool = True
    schedules: list[Schedule] = Field(default_factory=list, max_length=64)
    commit_status: bool = True
    patch_policy: PatchPolicy = Field(default_factory=PatchPolicy)

    @field_validator("git_url")
    @classmethod
    def _git_url(cls, value: str) -> str:
        return check_git_url_shape(value)

    @field_validator("subprojects")
    @classmethod
    def _some_subproject(cls, value: list[Subproject]) -> list[Subproject]:
        if not value:
            raise ValueError(
                "a project needs at least one subproject, such as "
                '{"path": ".", "test": "<shell command>"} for the whole repository'
            )
        return value

    @model_validator(mode="after")
    def _unique_paths(self) -> ProjectIn:
        seen: set[str] = set()
        for sub in self.subprojects:
            if sub.path in seen:
                raise ValueError(f"subproject path {sub.path!r} appears twice")
            seen.add(sub.path)
        return self

    @field_validator("languages", mode="before")
    @classmethod
    def _known_languages(cls, value: object, info: ValidationInfo) -> object:
        # null is "not set", as for a subproject's language.
        if value is None:
            return []
        if not isinstance(value, list) or _stored(info):
            return value
        checked = [
            languages.check(name.strip().lower(), "those of the subprojects")
            if isinstance(name, str)
            else name
            for name in value
        ]
        # Two spellings of one language are listed once.
        return list(dict.fromkeys(checked))

    @model_validator(mode="after")
    def _languages_of_the_subprojects(self) -> ProjectIn:
        # Left out, the project's languages are those its subprojects name.
        if not self.languages:
            named = {sub.language for sub in self.subprojects} - {GENERIC}
            self.languages = sorted(named)
        return self

    @field_validator("schedules")
    @classmethod
    def _schedules_name_recipes(
        cls, value: list[Schedule], info: ValidationInfo
    ) -> list[Schedule]:
        # Checked here, not when a schedule fires: a timetable naming a
        # recipe that does not exist would otherwise fail quietly for ever.
        subprojects: list[Subproject] = info.data.get("subprojects") or []
        for number, schedule in enumerate(value):
            sub = schedule.target(subprojects)
            if sub is None and schedule.subproject is None:
                raise ValueError(
                    f"schedule {number} names no subproject and this project "
                    "has several and no root ('.') one; name the path of one"
                )
            if sub is None:
                raise ValueError(
                    f"schedule {number}: {schedule.subproject!r} is not a "
                    "subproject of this project; name the path of one"
                )
            if sub.command(schedule.recipe) is None:
                raise ValueError(
                    f"schedule {number}: subproject {sub.path!r} defines no "
                    f"{schedule.recipe!r} recipe"
                )
        return value

    def subproject(self, path: str | None) -> Subproject | None:
        """The subproject at ``path``; see :func:`find_subproject`."""
        return find_subproject(self.subprojects, path)


def find_subproject(
    subprojects: list[Subproject], path: str | None
) -> Subproject | None:
    """The subproject at ``path``, or None when there is none.

    With ``path`` None: the only subproject, or None when there are
    several. The root (``.``) is no default among several: a request that
    forgot to name ``py`` would otherwise run the root's recipe and
    answer as if that was what it asked for.
    """
    if path is None:
        return subprojects[0] if len(subprojects) == 1 else None
    try:
        wanted = _subproject_path(path)
    except ValueError:
        return None
    return next((s for s in subprojects if s.path == wanted), None)


class ProjectOut(BaseModel):
    """A project as shown to its owner: credentials redacted."""

    name: str
    owner: str
    git_url: str
    default_branch: str
    languages: list[str]
    subprojects: list[Subproject]
    notify: Notify
    has_webhook_secret: bool
    on_push: list[str]
    max_concurrent_jobs: int | None
    push_paths_only: bool = True
    cancel_superseded: bool = True
    schedules: list[Schedule] = Field(default_factory=list)
    commit_status: bool = True
    patch_policy: PatchPolicy = Field(default_factory=PatchPolicy)
    created_at: str | None
    updated_at: str | None

    @classmethod
    def from_spec(
        cls, spec: ProjectIn, owner: str, created_at: float, updated_at: float
    ) -> ProjectOut:
        """Build the public view of a stored project."""
        data = spec.model_dump(exclude={"webhook_secret", "git_url"})
        return cls(
            **data,
            owner=owner,
            git_url=redact_url(spec.git_url),
            has_webhook_secret=bool(spec.webhook_secret),
            created_at=iso(created_at),
            updated_at=iso(updated_at),
        )


class ProjectAnswer(BaseModel):
    """Answer carrying one project."""

    ok: bool = True
    project: ProjectOut


class ProjectList(BaseModel):
    """Answer of ``GET /projects``."""

    ok: bool = True
    projects: list[ProjectOut]
    next: str | None = None


# -- jobs -------------------------------------------------------------------


class JobIn(Strict):
    """Body of ``POST /projects/{name}/jobs``.

    ``ref`` names a branch (or tag); ``sha`` an exact commit. Without
    either the project's default branch runs. ``subproject`` may be left
    out only when the project has a single one.
    """

    recipe: Recipe
    subproject: str | None = Field(
        default=None,
        max_length=512,
        description=(
            "The path of the subproject to run. May be left out only when "
            "the project has a single subproject; with several (even when "
            "one is the root '.') leaving it out is a 422 listing their paths."
        ),
    )
    ref: Ref | None = None
    sha: str | None = Field(default=None, pattern=_SHA_PATTERN)

    @field_validator("sha", mode="before")
    @classmethod
    def _commit_id(cls, value: object) -> object:
        # Before the pattern check, whose own message shows only the
        # pattern: a branch name given as sha is the usual slip.
        if isinstance(value, str) and not re.fullmatch(_SHA_PATTERN, value):
            raise ValueError(
                f"{value!r} is not a commit id: give 7 to 64 hex digits, "
                "or name a branch or tag with ref"
            )
        return value

    @model_validator(mode="after")
    def _one_of(self) -> JobIn:
        if self.ref is not None and self.sha is not None:
            raise ValueError("give either ref or sha, not both")
        return self


class JobOut(BaseModel):
    """A job as the API shows it."""

    id: str
    project: str
    subproject: str
    recipe: str
    ref: str | None
    sha: str | None
    status: JobStatus
    exit_code: int | None
    error: str | None
    trigger: str
    retry_of: str | None
    command: str
    timeout_secs: int
    findings_count: int
    log_bytes: int
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_secs: float | None


class JobAnswer(BaseModel):
    """Answer of ``GET /jobs/{id}``: the job and the end of its log."""

    ok: bool = True
    job: JobOut
    log_tail: list[str]


class JobEnqueued(BaseModel):
    """Answer of ``POST /projects/{name}/jobs``."""

    ok: bool = True
    job_id: str
    job: JobOut


class JobList(BaseModel):
    """Answer of ``GET /jobs``; ``next`` is the ``before`` cursor of the next page."""

    ok: bool = True
    jobs: list[JobOut]
    next: str | None = None


class JobQuery(Query):
    """Query string of ``GET /jobs``."""

    project: str | None = None
    status: JobStatus | None = None
    recipe: Recipe | None = None
    limit: int = Field(default=50, ge=1, le=500)
    before: str | None = Field(
        default=None, description="A job id: the 'next' of the previous page."
    )

    @field_validator("before")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        # A job id: 20 lowercase Crockford base32 characters.
        if value is not None and not _JOB_ID.fullmatch(value):
            raise ValueError(
                f"{value[:40]!r} is not a job id; pass the 'next' of the page "
                "before, or leave 'before' out for the newest jobs"
            )
        return value


class JobOnly(BaseModel):
    """Answer carrying one job and nothing else."""

    ok: bool = True
    job: JobOut


class HookAnswer(BaseModel):
    """Answer of a webhook delivery: what it set going.

    ``event`` is the forge's event name; ``enqueued`` the jobs it queued;
    ``canceled`` the ids of still-queued jobs of an earlier push to the same
    branch that it made pointless. ``replayed`` is True when the delivery
    id was seen before, and then nothing runs. ``note`` says why nothing
    ran when nothing did.
    """

    ok: bool = True
    event: str
    delivery: str | None = None
    replayed: bool = False
    ref: str | None = None
    sha: str | None = None
    enqueued: list[JobOut] = Field(default_factory=list)
    canceled: list[str] = Field(default_factory=list)
    note: str | None = None


# -- generic answers --------------------------------------------------------


class ErrorBody(BaseModel):
    """The ``error`` object of every failed answer."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorAnswer(BaseModel):
    """Every error answer: ``{ok: false, error: {code, message}}``."""

    ok: bool = False
    error: ErrorBody


class Deleted(BaseModel):
    """Answer of a DELETE."""

    ok: bool = True
    deleted: str


# -- digests ----------------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(value: object) -> date:
    """A calendar date written ``YYYY-MM-DD``, else ValueError naming the value."""
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and _ISO_DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a day of the calendar") from None
    else:
        raise ValueError(f"{value!r} is not a date written YYYY-MM-DD, e.g. 2026-04-29")
    # A digest's window starts the day before, in its time zone: the first
    # and last days datetime can hold have no such window.
    if not 1970 <= day.year <= 9998:
        raise ValueError(f"{day.isoformat()!r} is not a year from 1970 to 9998")
    return day


DigestDay = Annotated[date, BeforeValidator(parse_day)]
FindingState = Literal["new", "persisting"]
DeliveryOutcome = Literal["sent", "already_sent", "failed", "skipped"]


class DigestFinding(BaseModel):
    """A finding as a digest lists it, with its state against the last run."""

    id: int
    kind: str
    severity: str | None
    file: str | None
    line: int | None
    code: str | None
    message: str
    suggested_fix: str | None
    fingerprint: str = Field(
        description="the finding's fingerprint, the same in every run that has it"
    )
    state: FindingState


class DigestPatch(BaseModel):
    """A patch attempt as a digest lists it; ``url`` is its API object."""

    id: int
    finding_id: int
    attempt_number: int
    status: str
    branch: str | None
    pr_url: str | None
    error: str | None
    url: str | None


class DigestJob(BaseModel):
    """One job of a digest and the ``notify.on`` events that selected it.

    ``new_findings`` and ``cves`` are capped; ``more_new_findings`` counts
    the new findings left out. ``url`` and ``findings_url`` are set when
    CRAFTING_PUBLIC_URL is. ``error`` is why the job failed, when the
    service knows (an unknown branch, a deadline, a parse that failed).
    """

    id: str
    status: str
    recipe: str
    subproject: str
    ref: str | None
    sha: str | None
    trigger: str
    error: str | None = None
    duration_secs: float | None
    finished_at: str | None
    events: list[NotifyEvent]
    findings_count: int
    counts: dict[str, int]
    new_findings: list[DigestFinding]
    more_new_findings: int
    cves: list[DigestFinding]
    patches: list[DigestPatch]
    url: str | None
    findings_url: str | None


class DigestDelivery(BaseModel):
    """What became of a digest's sending so far (its ``digest_runs`` row)."""

    status: Literal["sending", "sent", "failed"]
    attempts: int
    error: str | None
    sent_at: str | None
    updated_at: str | None


class ProjectDigest(BaseModel):
    """One project's digest of one date: who gets it, and what it says."""

    project: str
    date: str
    recipients: list[str]
    events: list[NotifyEvent]
    subject: str
    jobs: list[DigestJob]
    more_jobs: int = 0
    delivery: DigestDelivery | None = None


class DigestAnswer(BaseModel):
    """Answer of ``GET /digests/{date}``; times are local to the digest zone."""

    ok: bool = True
    date: str
    tz: str
    send_at: str
    window_start: str
    window_end: str
    digests: list[ProjectDigest]


class RunNowIn(Strict):
    """Body of ``POST /admin/digest/run-now``.

    Without ``date``, the latest digest whose 06:00 has passed; without
    ``project``, every project with recipients.
    """

    dry_run: bool = False
    date: DigestDay | None = None
    project: Slug | None = None


class DigestOutcome(BaseModel):
    """What a run did with one project's digest.

    ``sent``: the server accepted it now. ``already_sent``: an earlier run
    did. ``failed``: ``error`` has the server's reply; a later run retries.
    ``skipped``: ``reason`` says why nothing was sent (a dry run, no
    recipients, nothing to report, another run sending it).
    """

    project: str
    status: DeliveryOutcome
    reason: str | None = None
    error: str | None = None
    recipients: list[str] = Field(default_factory=list)
    subject: str | None = None
    digest: ProjectDigest | None = None


class RunNowAnswer(BaseModel):
    """Answer of ``POST /admin/digest/run-now``: one outcome per project.

    The digest of ``date`` holds the jobs that finished between
    ``window_start`` and ``window_end`` (06:00 of the date, local time).
    """

    ok: bool = True
    date: str
    window_start: str
    window_end: str
    dry_run: bool
    results: list[DigestOutcome]
