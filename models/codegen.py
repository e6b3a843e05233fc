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

SUCCESS_STATUSES = frozenset({"COMPLETE"})
FAILURE_STATUSES = frozenset(
    {"FAILED", "ERROR", "CANCELLED", "STOPPED", "TIMEOUT", "MAX_ITERATIONS_REACHED", "OUT_OF_TOKENS"}
)


class RunState(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


def classify_run_status(status: str | None) -> RunState:
    """Codegen's status is a free string: upper-case it; unknown values mean still running."""
    normalized = (status or "").strip().upper()
    if normalized in SUCCESS_STATUSES:
        return RunState.COMPLETE
    if normalized in FAILURE_STATUSES:
        return RunState.FAILED
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


class WaitRunInput(BaseModel):
    run_id: int
    poll_interval_seconds: float = 15.0


class ResumeRunInput(BaseModel):
    run_id: int
    prompt: str
    task_id: str
    workflow_id: str
    followup: int


class CodegenHealth(BaseModel):
    ok: bool
    mock_mode: bool
    detail: str
