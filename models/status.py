"""What the `status` query answers and what the workflow returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from models.codegen import PullRequestRef
from models.github import PRState, ReviewState
from models.signals import CheckResult, PrEvent, Review
from models.slots import HeldSlot


class TaskPhase(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"  # waiting for a slot on its repository, or for the agent rate limit
    GENERATING_PROMPT = "generating_prompt"
    PROCESSING = "processing"  # the agent is working on a run
    RETRYING = "retrying"  # pausing before the next attempt
    AWAITING_RETRY = "awaiting_retry"  # attempts spent; waiting for the `retry` update
    TRACKING_PR = "tracking_pr"  # PR open; following checks, reviews, merge
    FOLLOWING_UP = "following_up"  # the agent is fixing checks or review comments
    NEEDS_ATTENTION = "needs_attention"  # follow-up budget spent; a person must act
    MERGED = "merged"
    CLOSED = "closed"
    FAILED = "failed"
    EXPIRED = "expired"


TERMINAL_PHASES = frozenset({TaskPhase.MERGED, TaskPhase.CLOSED, TaskPhase.FAILED, TaskPhase.EXPIRED})

# The original system's vocabulary for the agent's side.
CodegenStatus = Literal["pending", "processing", "completed", "failed", "retrying"]
OutcomeStatus = Literal["merged", "closed", "failed", "expired"]
Verdict = Literal["pending", "passing", "failing"]


class Reason(StrEnum):
    MERGED = "merged"
    CLOSED_UNMERGED = "closed_unmerged"
    CODEGEN_FAILED = "codegen_failed"
    NO_PR = "no_pr"
    AGENT_TIMEOUT = "agent_timeout"
    AUTH_ERROR = "auth_error"
    PLAN_LIMIT = "plan_limit"
    INVALID_INPUT = "invalid_input"
    PROMPT_TOO_LARGE = "prompt_too_large"
    TEMPLATE_ERROR = "template_error"
    REPOSITORY_NOT_CONNECTED = "repository_not_connected"
    AGENT_PAUSED = "agent_paused"
    NOT_FOUND = "not_found"
    SERVICE_UNAVAILABLE = "service_unavailable"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    CHECKS_FAILING = "checks_failing"
    CHANGES_REQUESTED = "changes_requested"
    # The PR conflicts with its base and the follow-up budget is spent (or the agent could not resolve it).
    MERGE_CONFLICT = "merge_conflict"
    # GitHub refused the service's merge (405: branch protection, a merge queue): its message says why.
    MERGE_BLOCKED = "merge_blocked"
    # GitHub refused a write (update-branch, merge) for the token's permissions (403): the message names the one needed.
    MISSING_PERMISSION = "missing_permission"
    # A follow-up ended without a new commit on the PR: asking again on the same head would repeat it.
    FOLLOWUP_PUSHED_NOTHING = "followup_pushed_nothing"


# "codegen": a run Codegen started on the PR by itself (its checks auto-fixer, a reply to a comment).
RunKind = Literal["attempt", "followup", "codegen"]


class AgentRunRecord(BaseModel):
    id: int
    web_url: str | None = None
    status: str
    attempt: int
    kind: RunKind = "attempt"


AttemptOutcome = Literal["running", "pr_opened", "failed", "no_pr", "timed_out", "paused"]


class AttemptRecord(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None = None
    agent_run_id: int | None = None
    outcome: AttemptOutcome = "running"
    error: str | None = None


class PullRequestState(BaseModel):
    ref: PullRequestRef
    url: str
    title: str = ""
    head_sha: str
    head_ref: str
    base_ref: str
    status: PRState
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    author: str | None = None
    # GitHub's words for whether the PR can merge (`mergeable_state`: clean, behind, dirty for conflicts,
    # blocked, unstable, draft, unknown); None while GitHub is still computing it after a change.
    mergeable: bool | None = None
    mergeable_state: str | None = None

    @property
    def against_base(self) -> Literal["conflicts", "behind"] | None:
        """Why the open PR cannot merge as it is, by GitHub's word: it conflicts with its base, or is behind a base
        that must be merged in first; None otherwise, and while GitHub computes it."""
        if self.status != "open":
            return None
        if self.mergeable_state == "dirty" or self.mergeable is False:
            return "conflicts"
        return "behind" if self.mergeable_state == "behind" else None

    def against_base_words(self) -> str | None:
        """`conflicts with main`, `behind main`, or None."""
        words = {"conflicts": f"conflicts with {self.base_ref}", "behind": f"behind {self.base_ref}"}
        return words.get(self.against_base or "")


# Who merged a merged PR: this service (merge_when_green) or anyone else.
MergedBy = Literal["service", "person"]


class CheckState(BaseModel):
    name: str
    head_sha: str
    status: str
    conclusion: str | None = None
    completed_at: datetime | None = None
    details_url: str | None = None
    summary: str | None = None


QueueKind = Literal["repository_slot", "agent_rate"]


class QueueWait(BaseModel):
    """What a `queued` task waits for, in words ("waiting for a slot on acme/api: 2 of 2 active, 3 ahead in
    line"), and since when."""

    waiting_for: QueueKind
    reason: str
    since: datetime


class TimelineEntry(BaseModel):
    at: datetime
    event: str
    detail: str = ""


class ErrorInfo(BaseModel):
    reason: Reason
    message: str


class Timings(BaseModel):
    prompt_s: float | None = None
    agent_s: float | None = None
    time_to_pr_s: float | None = None
    time_to_merge_s: float | None = None
    total_s: float | None = None


class TaskStatus(BaseModel):
    """The live state answered by the `status` query."""

    task_id: str
    workflow_id: str
    title: str
    task_type: str
    phase: TaskPhase
    codegen_status: CodegenStatus
    attempt: int
    max_attempts: int
    attempts: list[AttemptRecord] = Field(default_factory=list)
    agent_runs: list[AgentRunRecord] = Field(default_factory=list)
    pr: PullRequestState | None = None
    checks: list[CheckState] = Field(default_factory=list)
    verdict: Verdict = "pending"
    reviews: list[ReviewState] = Field(default_factory=list)
    followups: int = 0
    # Follow-ups it took until the head's checks first passed (0: green at once); None until then.
    iterations_to_green: int | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    error: ErrorInfo | None = None
    mock_mode: bool = False
    started_at: datetime
    # After a cancel with the PR open: whether Codegen confirmed its agents on the PR stopped (None: not asked).
    agents_stopped: bool | None = None
    # The task's priority now (1 first; `starter.py priority` changes it); None in runs from before it was shown.
    priority: int | None = None
    # What the agent said it did in the run that opened the PR (bounded like every run text).
    agent_summary: str | None = None
    # Set while the phase is `queued`.
    queued: QueueWait | None = None
    # Once the PR merged: whether this service merged it (merge_when_green) or someone else did.
    merged_by: MergedBy | None = None


class TaskOutcome(BaseModel):
    """The workflow's result."""

    task_id: str
    workflow_id: str
    status: OutcomeStatus
    reason: Reason
    message: str = ""
    pr: PullRequestState | None = None
    agent_runs: list[AgentRunRecord] = Field(default_factory=list)
    attempts: list[AttemptRecord] = Field(default_factory=list)
    checks: list[CheckState] = Field(default_factory=list)
    reviews: list[ReviewState] = Field(default_factory=list)
    followups: int = 0
    iterations_to_green: int | None = None
    timings: Timings = Field(default_factory=Timings)
    mock_mode: bool = False
    agents_stopped: bool | None = None
    agent_summary: str | None = None
    merged_by: MergedBy | None = None


class WriteRefusal(BaseModel):
    """Why GitHub would not update or merge the PR at `head_sha`; it stands until the head moves."""

    head_sha: str
    reason: Reason
    message: str


# Signals that arrive before the workflow knows its PR, kept until it does; told apart by their fields.
EarlyEvent = PrEvent | CheckResult | Review


class TaskState(BaseModel):
    """The task's whole state: what the workflow mutates, what the `status` query shows (`status`),
    and exactly what continue-as-new hands to the next run.

    The field names are those of the CarriedState that older code carried, so a run continued by it
    resumes here. Defined here, not in the workflow module: the sandbox re-imports that module for
    every workflow run, and building a pydantic model class each time was a third of the cost of
    starting one.
    """

    status: TaskStatus
    # Every check over the last few head shas; `status.checks` shows the head's.
    all_checks: list[CheckState] = Field(default_factory=list)
    # GitHub delivery ids already applied, oldest first: a redelivery changes nothing.
    seen_deliveries: list[str] = Field(default_factory=list)
    early_events: list[EarlyEvent] = Field(default_factory=list)
    retry_requested: bool = False
    pr_opened_at: datetime | None = None
    # The agent run that opened the PR: follow-ups resume it.
    pr_run_id: int | None = None
    prompt_s: float = 0.0
    agent_s: float = 0.0
    # Head shas whose failing checks were already sent to the agent.
    followed_shas: list[str] = Field(default_factory=list)
    # Reviews already sent to the agent, by `review_key`.
    handled_reviews: list[str] = Field(default_factory=list)
    followup_history: list[str] = Field(default_factory=list)
    followup_ended_at: datetime | None = None
    # When an attempt whose create never got an answer began: the next create looks for that run first.
    unanswered_create_at: datetime | None = None
    # A webhook said the PR closed or merged: the task ends on it only once a GitHub read agrees.
    reported_close: PrEvent | None = None
    # The task's slot on its repository (MAX_ACTIVE_TASKS_PER_REPOSITORY), asked for or held.
    slot: HeldSlot | None = None
    # Every follow-up sent, as `kind@head sha`: the same head never gets two of one kind.
    followup_heads: list[str] = Field(default_factory=list)
    # Heads the service asked GitHub to bring up to date with the base, and heads it tried to merge.
    updated_heads: list[str] = Field(default_factory=list)
    merge_tried_heads: list[str] = Field(default_factory=list)
    # GitHub refused a write on this head for a reason only a person can fix (a permission, protection).
    write_refused: WriteRefusal | None = None
    # A base push or the service's own write made GitHub recompute mergeability: read it again soon.
    mergeability_asked: bool = False
