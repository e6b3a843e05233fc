"""What the agent should be asked to fix next, and when a person must act: pure rules over the task's state.

Plain functions of the state, the options and the time, so `tests/test_followup_policy.py` checks them
without a server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from workflows.pr_tracking import checks_settled, failing_checks

with workflow.unsafe.imports_passed_through():
    from models.followup import FollowupKind
    from models.github import ReviewState
    from models.status import ErrorInfo, Reason, TaskState
    from models.task import TaskOptions

# Codegen's own review agent: its reviews are Codegen's business, never a follow-up of ours.
CODEGEN_REVIEW_BOTS = frozenset({"codegen-sh[bot]", "codegen[bot]"})


def review_key(review: ReviewState) -> str:
    """Which review a follow-up addressed: a reviewer's newer review is a new request."""
    return f"{review.reviewer}@{review.submitted_at.isoformat() if review.submitted_at else review.body}"


def counted_reviews(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset()) -> list[ReviewState]:
    """Each reviewer's latest review, but the PR author's (the agent) and the ignored accounts'."""
    assert state.status.pr is not None
    ignored = {*options.ignored_reviewers, *ignored_bots, state.status.pr.author}
    return [review for review in state.status.reviews if review.reviewer not in ignored]


def unaddressed_review(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset()) -> ReviewState | None:
    """A changes-requested review no follow-up has addressed yet."""
    for review in counted_reviews(state, options, ignored_bots):
        if review.state == "changes_requested" and review_key(review) not in state.handled_reviews:
            return review
    return None


def followup_head(kind: FollowupKind, head_sha: str) -> str:
    """How `TaskState.followup_heads` names a follow-up: its kind and the head it was sent on."""
    return f"{kind}@{head_sha}"


def _last_followup_on_head(state: TaskState) -> bool:
    """The latest follow-up was sent on the current head: nothing has been pushed since."""
    assert state.status.pr is not None
    return bool(state.followup_heads) and state.followup_heads[-1].endswith(f"@{state.status.pr.head_sha}")


def awaiting_agent_push(state: TaskState, settle: timedelta, now: datetime, *, ladder: bool = False) -> bool:
    """A follow-up just ended on the current head: its commit usually lands within the settle window.

    `ladder`: any follow-up's (the rule before it: a fix_checks follow-up's only).
    """
    ended = state.followup_ended_at
    assert state.status.pr is not None
    on_head = _last_followup_on_head(state) if ladder else state.status.pr.head_sha in state.followed_shas
    return ended is not None and on_head and now - ended < settle


def pushed_nothing(state: TaskState, *, ladder: bool) -> bool:
    """The latest follow-up ended and the head is still the one it was sent on: asking again would repeat it."""
    return ladder and state.followup_ended_at is not None and _last_followup_on_head(state)


def due_followup(
    state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset(), *, ladder: bool = False
) -> FollowupKind | None:
    """What the agent should be asked to fix next, if the budget allows.

    `ladder` (workflows since the merge ladder): a conflict with the base is one more thing to fix, first,
    as resolving it makes a new head whose checks run again; a head never gets two follow-ups of one kind,
    and none at all once a follow-up on it pushed nothing.
    """
    if state.status.followups >= options.max_followups or pushed_nothing(state, ladder=ladder):
        return None
    pr = state.status.pr
    assert pr is not None

    def fresh(kind: FollowupKind) -> bool:
        return not ladder or followup_head(kind, pr.head_sha) not in state.followup_heads

    if ladder and pr.against_base == "conflicts" and fresh("resolve_conflicts"):
        return "resolve_conflicts"
    if checks_settled(state) and failing_checks(state) and pr.head_sha not in state.followed_shas:
        return "fix_checks"
    return "address_review" if unaddressed_review(state, options, ignored_bots) and fresh("address_review") else None


def attention_needed(
    state: TaskState, options: TaskOptions, due: FollowupKind | None, ignored_bots: frozenset[str] = frozenset(), *, ladder: bool = False
) -> ErrorInfo | None:
    """Why a person must act: failures remain that no follow-up will handle, or GitHub refused a write; None when none do."""
    if due is not None:
        return None
    assert state.status.pr is not None
    refused = state.write_refused
    if ladder and refused is not None and refused.head_sha == state.status.pr.head_sha:
        return ErrorInfo(reason=refused.reason, message=refused.message)
    problem = _remaining_problem(state, options, ignored_bots, ladder=ladder)
    if problem is None:
        return None
    if pushed_nothing(state, ladder=ladder):
        return ErrorInfo(
            reason=Reason.FOLLOWUP_PUSHED_NOTHING,
            message=f"follow-up {state.status.followups} ended without a new commit on the PR; {problem.message}",
        )
    return problem


def _remaining_problem(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str], *, ladder: bool) -> ErrorInfo | None:
    assert state.status.pr is not None
    spent = f"after {state.status.followups} follow-up(s)"
    if ladder and state.status.pr.against_base == "conflicts":
        return ErrorInfo(reason=Reason.MERGE_CONFLICT, message=f"the PR conflicts with {state.status.pr.base_ref} {spent}")
    failing = failing_checks(state) if checks_settled(state) else []
    if failing:
        names = ", ".join(c.name for c in failing)
        return ErrorInfo(reason=Reason.CHECKS_FAILING, message=f"checks failing {spent}: {names}")
    review = unaddressed_review(state, options, ignored_bots)
    if review:
        return ErrorInfo(reason=Reason.CHANGES_REQUESTED, message=f"changes requested by {review.reviewer} {spent}")
    return None
