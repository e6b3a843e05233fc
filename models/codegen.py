"""Codegen agent runs as the workflow sees them, and the activity inputs that produce them."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


def codegen_api_task_queue(task_queue: str) -> str:
    """Run creation gets its own queue, rate-limited by the server across all workers."""
    return f"{task_queue}-codegen-api"

# Codegen's status is a free string, spelled in several ways (`COMPLETE`, `completed`): read case-insensitively.
SUCCESS_STATUSES = frozenset({"COMPLETE", "COMPLETED"})
RUNNING_STATUSES = frozenset({"PENDING", "ACTIVE", "RUNNING", "EVALUATION"})
PAUSED_STATUSES = frozenset({"PAUSED"})  # the agent waits for input (a plan to approve, say)
FAILURE_STATUSES = frozenset(
    {"FAILED", "ERROR", "CANCELLED", "STOPPED", "TIMEOUT", "MAX_ITERATIONS_REACHED", "OUT_OF_TOKENS"}
)
KNOWN_STATUSES = SUCCESS_STATUSES | RUNNING_STATUSES | PAUSED_STATUSES | FAILURE_STATUSES


class RunState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETE = "complete"
    FAILED = "failed"


def classify_run_status(status: str | None) -> RunState:
    """Codegen's status is a free string: upper-case it; unknown values mean still running."""
    normalized = (status or "").strip().upper()
    if normalized in SUCCESS_STATUSES:
        return RunState.COMPLETE
    if normalized in FAILURE_STATUSES:
        return RunState.FAILED
    if normalized in PAUSED_STATUSES:
        return RunState.PAUSED
    return RunState.RUNNING


_PR_URL = re.compile(r"^https?://(?P<host>[^/]+)/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pull/(?P<number>\d+)(?:[/?#].*)?$")


class PullRequestRef(BaseModel):
    """Where a PR lives: enough to read it from GitHub (github.com or an Enterprise host)."""

    host: str = "github.com"
    owner: str
    repo: str
    number: int

    @property
    def key(self) -> str:
        return f"{self.owner}/{self.repo}#{self.number}"

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.repo}"

    @classmethod
    def from_url(cls, url: str) -> PullRequestRef | None:
        match = _PR_URL.match(url.strip())
        if not match:
            return None
        return cls(host=match["host"], owner=match["owner"], repo=match["repo"], number=int(match["number"]))


class AgentPullRequest(BaseModel):
    """An entry of a run's `github_pull_requests`, with the URL parsed."""

    id: int | None = None
    title: str | None = None
    url: str
    head_branch_name: str | None = None
    created_at: datetime | None = None
    ref: PullRequestRef | None = None


class AgentRun(BaseModel):
    id: int
    status: str
    web_url: str | None = None
    result: str | None = None
    summary: str | None = None
    pull_requests: list[AgentPullRequest] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    # True when the worker talks to the bundled fake instead of the real Codegen API.
    mock_mode: bool = False

    @property
    def state(self) -> RunState:
        return classify_run_status(self.status)


class StartRunInput(BaseModel):
    task_id: str
    workflow_id: str
    attempt: int
    prompt: str
    repository: str | None = None
    # Copied into the run metadata; the fake reads `scenario` from it to inject faults per task.
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Sent as `model` when set; Codegen's organization default otherwise.
    model: str | None = None
    # The run id of the workflow's first run: kept by continue-as-new and by `temporal workflow reset`,
    # so a run created for this attempt is recognised whatever happened to the workflow since.
    first_execution_run_id: str | None = None
    # Runs the workflow already knows for this task: any other run tagged for an earlier attempt of this
    # task was created by a try whose answer never came back, and is adopted rather than duplicated.
    known_run_ids: list[int] = Field(default_factory=list)
    # An earlier attempt's creation ended without an answer: the search reaches back to this moment.
    unanswered_since: datetime | None = None


class WatchRunInput(BaseModel):
    """Have this worker's run watcher tell the workflow when the run ends or starts or stops waiting for input."""

    run_id: int
    workflow_id: str
    # The status the workflow last knew: the watcher tells of a change from it.
    status: str
    created_at: datetime | None = None
    # Also answer with the run as it is now: the watcher's last sighting if recent, else one read.
    read: bool = False


class RunSighting(BaseModel):
    run: AgentRun | None = None


class AgentRunNews(BaseModel):
    """Signal from a run watcher: the run's state changed (it ended, paused, or runs again)."""

    run: AgentRun


class WaitRunInput(BaseModel):
    """Wait until the run ends (COMPLETE or a failure) or waits for input (PAUSED)."""

    run_id: int
    poll_interval_seconds: float = 15.0
    # Right after a resume Codegen may still say PAUSED: a run not yet seen running since the wait began
    # ends the wait as PAUSED only after this long. 0: a PAUSED run ends the wait at once.
    paused_grace_seconds: float = 0.0


class ResumeRunInput(BaseModel):
    run_id: int
    prompt: str
    task_id: str
    workflow_id: str
    # The follow-up's number; 0 for the instruction that resumes a paused run.
    followup: int
    # Sent as `model` when set; the run's own model otherwise.
    model: str | None = None


class StopAgentInput(BaseModel):
    """Stop Codegen's agents on the run's PR (`remove-from-pr`): a cancelled task's PR gets no more pushes."""

    run_id: int


class StopAgentResult(BaseModel):
    confirmed: bool
    detail: str


class ActiveRunQuery(BaseModel):
    """Is an agent run already working on this PR (Codegen's own checks auto-fixer, or a reply to a comment)?"""

    pr_url: str
    # Only runs created at or after this count (the task's start: a fixer may wake before the task reads its PR).
    created_after: datetime | None = None


class ActiveRunResult(BaseModel):
    run: AgentRun | None = None


class CodegenHealth(BaseModel):
    ok: bool
    mock_mode: bool
    detail: str
