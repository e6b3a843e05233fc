"""Signal payloads the relay sends to CodegenTaskWorkflow; each carries its GitHub delivery id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

PrAction = Literal["closed", "reopened", "synchronize", "ready_for_review", "converted_to_draft"]


class PrEvent(BaseModel):
    delivery_id: str
    action: PrAction
    pr_key: str  # owner/repo#number
    merged: bool = False
    head_sha: str | None = None
    occurred_at: datetime | None = None


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


class Review(BaseModel):
    delivery_id: str
    review_id: int | None = None
    state: Literal["approved", "changes_requested", "commented", "dismissed"]
    reviewer: str
    body: str | None = None
    head_sha: str | None = None
    submitted_at: datetime | None = None
    # owner/repo#number of the reviewed PR, so the workflow can refuse reviews of other PRs.
    pr_key: str | None = None
