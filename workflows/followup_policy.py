"""What the agent should be asked to fix next, and when a person must act: pure rules over the task's state.

Plain functions of the state, the options and the time, so `tests/test_followup_policy.py` checks them
without a server.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow

from workflows.pr_tracking import checks_settled, failing_checks

with workflow.unsafe.imports_passed_through():
    from models.github import ReviewState
    from models.status import ErrorInfo, Reason, TaskState
    from models.task import TaskOptions

FollowupKind = Literal["fix_checks", "address_review"]
# Codegen's own review agent: its reviews are Codegen's business, never a follow-up of ours.
CODEGEN_REVIEW_BOTS = frozenset({"codegen-sh[bot]", "codegen[bot]"})


def review_key(review: ReviewState) -> str:
    """Which review a follow-up addressed: a reviewer's newer review is a new request."""
    return f"{review.reviewer}@{review.submitted_at.isoformat() if review.submitted_at else review.body}"


def unaddressed_review(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset()) -> ReviewState | None:
    """A changes-requested review no follow-up has addressed yet (the PR's author, the agent, never counts)."""
    assert state.status.pr is not None
    ignored = {*options.ignored_reviewers, *ignored_bots, state.status.pr.author}
    for review in state.status.reviews:
        if review.state == "changes_requested" and review.reviewer not in ignored and review_key(review) not in state.handled_reviews:
            return review
    return None


def awaiting_agent_push(state: TaskState, settle: timedelta, now: datetime) -> bool:
    """A follow-up just ended on the current head: its commit usually lands within the settle window."""
    ended = state.followup_ended_at
    assert state.status.pr is not None
    return ended is not None and state.status.pr.head_sha in state.followed_shas and now - ended < settle


def due_followup(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset()) -> FollowupKind | None:
    """What the agent should be asked to fix next, if the budget allows."""
    if state.status.followups >= options.max_followups:
        return None
    assert state.status.pr is not None
    if checks_settled(state) and failing_checks(state) and state.status.pr.head_sha not in state.followed_shas:
        return "fix_checks"
    return "address_review" if unaddressed_review(state, options, ignored_bots) else None


def attention_needed(
    state: TaskState, options: TaskOptions, due: FollowupKind | None, ignored_bots: frozenset[str] = frozenset()
) -> ErrorInfo | None:
    """Why a person must act: failures remain that no follow-up will handle; None when none do."""
    if due is not None:
        return None
    spent = f"after {state.status.followups} follow-up(s)"
    failing = failing_checks(state) if checks_settled(state) else []
    if failing:
        names = ", ".join(c.name for c in failing)
        return ErrorInfo(reason=Reason.CHECKS_FAILING, message=f"checks failing {spent}: {names}")
    review = unaddressed_review(state, options, ignored_bots)
    if review:
        return ErrorInfo(reason=Reason.CHANGES_REQUESTED, message=f"changes requested by {review.reviewer} {spent}")
    return None
