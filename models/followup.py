"""Input of follow-up prompts: what the agent must fix on a pull request it already opened."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from models.github import CommitSummary
from models.task import Task, TaskContext


class FailingCheck(BaseModel):
    """One failed check run, as GitHub reports it (`output.summary` and `output.text`)."""

    name: str
    conclusion: str | None = None
    details_url: str | None = None
    summary: str | None = None
    text: str | None = None


FollowupKind = Literal["fix_checks", "address_review", "resolve_conflicts"]


class FollowupPromptInput(BaseModel):
    """Checks failed, a reviewer asked for changes, or the PR conflicts with its base: the prompt for the
    next push to the same PR."""

    task: Task
    context: TaskContext = Field(default_factory=TaskContext)
    kind: FollowupKind
    pr_url: str
    head_sha: str
    failing_checks: list[FailingCheck] = Field(default_factory=list)
    review_body: str | None = None
    review_comments: list[str] = Field(default_factory=list)
    # resolve_conflicts: the branch the PR targets, the commits that landed there since the PR branched
    # (the newest few of `base_commits_total`), and the files both sides changed (where the conflicts are,
    # as far as GitHub's comparisons tell; empty when it could not say).
    base_ref: str | None = None
    base_commits: list[CommitSummary] = Field(default_factory=list)
    base_commits_total: int = 0
    conflicting_files: list[str] = Field(default_factory=list)
    # Earlier follow-ups on this PR, oldest first, so the agent does not repeat a fix that did not work.
    previous_followups: list[str] = Field(default_factory=list)
    max_context_size: int = Field(default=8000, ge=500, le=200_000)
