"""Signal payloads the relay sends to CodegenTaskWorkflow; each carries its GitHub delivery id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from models.github import ReviewStateName

PrAction = Literal["closed", "reopened", "synchronize", "ready_for_review", "converted_to_draft"]


class PrEvent(BaseModel):
    delivery_id: str
    action: PrAction
    pr_key: str  # owner/repo#number
    merged: bool = False
    head_sha: str | None = None
    occurred_at: datetime | None = None
    # The web host of the delivery's repository (github.com, an Enterprise host, the fake's): a task takes
    # events only from its own PR's host, so a mock PR's event never reaches a real task, nor the reverse.
    host: str | None = None


class CheckResult(BaseModel):
    """A completed check for a commit: from check_run, check_suite (one per app) or status events."""

    delivery_id: str
    head_sha: str
    name: str
    status: str = "completed"
    conclusion: str | None = None
    completed_at: datetime | None = None
    details_url: str | None = None
    output_summary: str | None = None
    host: str | None = None  # as PrEvent.host


class Review(BaseModel):
    delivery_id: str
    review_id: int | None = None
    state: ReviewStateName
    reviewer: str
    body: str | None = None
    head_sha: str | None = None
    submitted_at: datetime | None = None
    # owner/repo#number of the reviewed PR, so the workflow can refuse reviews of other PRs.
    pr_key: str | None = None
    host: str | None = None  # as PrEvent.host


class BasePush(BaseModel):
    """Commits landed on a branch that open PRs target: each such PR may now be behind its base, or conflict."""

    delivery_id: str
    repository: str  # owner/repo
    branch: str
    # The branch's head before and after the push.
    before: str | None = None
    after: str
    host: str | None = None  # as PrEvent.host
