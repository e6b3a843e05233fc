"""The pull request's state as webhooks and GitHub reads move it: pure, deterministic rules.

Every rule reads or changes the task's `TaskState` (the PR, its reviews and its checks live there),
so they run the same in a workflow and in plain tests (`tests/test_pr_tracking.py`). Each `apply_*`
returns a timeline line, or None when nothing changed; `status.checks` and `status.verdict` are kept
in step with every change, so the state is always what the `status` query shows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.github import (
        FAILING_CONCLUSIONS,
        PASSING_CONCLUSIONS,
        CheckRunInfo,
        PRState,
        PullRequestInfo,
        PullRequestRead,
        ReviewState,
    )
    from models.signals import BasePush, CheckResult, PrEvent, Review
    from models.status import CheckState, PullRequestState, TaskState, Verdict


# Checks kept for this many recent head shas: results can arrive before the push that made them.
KEPT_SHAS = 3
# Sorts a review without a submission time first (GitHub gives one to every submitted review).
_NEVER = datetime.min.replace(tzinfo=UTC)
_STATUS_AFTER: dict[str, PRState] = {"reopened": "open", "ready_for_review": "open", "converted_to_draft": "draft"}


def pr_state_from(info: PullRequestInfo) -> PullRequestState:
    return PullRequestState(
        ref=info.ref,
        url=info.html_url,
        title=info.title,
        head_sha=info.head_sha,
        head_ref=info.head_ref,
        base_ref=info.base_ref,
        status=info.status,
        merged_at=info.merged_at,
        merge_commit_sha=info.merge_commit_sha,
        author=info.author,
        mergeable=info.mergeable,
        mergeable_state=info.mergeable_state,
    )


def open_pull_request(state: TaskState, read: PullRequestRead) -> list[str]:
    """Start tracking the PR the agent opened, from GitHub's first read of it."""
    state.status.pr = pr_state_from(read.pr)
    return apply_github_read(state, read)


def _pr(state: TaskState) -> PullRequestState:
    assert state.status.pr is not None, "the task has no pull request yet"
    return state.status.pr


def pr_finished(state: TaskState) -> bool:
    return _pr(state).status in ("merged", "closed")


def current_checks(state: TaskState) -> list[CheckState]:
    head = _pr(state).head_sha
    return sorted((c for c in state.all_checks if c.head_sha == head), key=lambda c: c.name)


def verdict(state: TaskState) -> Verdict:
    current = current_checks(state)
    if any(c.conclusion in FAILING_CONCLUSIONS for c in current):
        return "failing"
    if current and all(c.status == "completed" and c.conclusion in PASSING_CONCLUSIONS for c in current):
        return "passing"
    return "pending"


def checks_settled(state: TaskState) -> bool:
    """Every known check on the head has completed (GitHub may still add more)."""
    current = current_checks(state)
    return bool(current) and all(c.status == "completed" for c in current)


def failing_checks(state: TaskState) -> list[CheckState]:
    return [c for c in current_checks(state) if c.conclusion in FAILING_CONCLUSIONS]


def apply_pr_event(state: TaskState, event: PrEvent) -> str | None:
    pr = _pr(state)
    if event.pr_key != pr.ref.key or pr_finished(state):
        return None
    if event.action == "closed":
        pr.status = "merged" if event.merged else "closed"
        if event.merged:
            pr.merged_at = event.occurred_at
        return f"PR {pr.status}"
    if event.action == "synchronize" and event.head_sha and event.head_sha != pr.head_sha:
        pr.head_sha = event.head_sha
        # GitHub computes the new head's mergeability afresh.
        pr.mergeable, pr.mergeable_state = None, None
        _prune_checks(state)
        _refresh(state)
        return f"new commit {event.head_sha[:7]}: checks start over"
    new_status = _STATUS_AFTER.get(event.action)
    if new_status and new_status != pr.status:
        pr.status = new_status
        return f"PR {event.action.replace('_', ' ')}"
    return None


def report_close(state: TaskState, event: PrEvent) -> str | None:
    """A webhook says the PR closed: kept for a GitHub read to confirm, since a signed delivery can still
    be about another head, or plain wrong, while GitHub shows the PR open."""
    if event.pr_key != _pr(state).ref.key or pr_finished(state):
        return None
    state.reported_close = event
    return f"webhook: PR {'merged' if event.merged else 'closed'}; confirming with GitHub"


def apply_base_push(state: TaskState, push: BasePush) -> str | None:
    """Commits landed on the PR's base branch: the PR may now be behind it, or conflict, until GitHub says."""
    pr = _pr(state)
    if pr_finished(state) or push.repository.lower() != pr.ref.repository.lower() or push.branch != pr.base_ref:
        return None
    pr.mergeable, pr.mergeable_state = None, None
    state.mergeability_asked = True
    return f"{pr.base_ref} moved to {push.after[:7]}: mergeability to be read"


def apply_check(state: TaskState, result: CheckResult) -> str | None:
    if not _record_check(state, _check_state(result, result.output_summary)):
        return None
    _refresh(state)
    return f"check {result.name}: {result.conclusion or result.status} on {result.head_sha[:7]}"


def apply_review(state: TaskState, review: Review, *, in_order: bool = True) -> str | None:
    """Each reviewer's latest review by submission time counts, as on GitHub: a redelivery or a late
    delivery of an older review changes nothing, and a comment does not withdraw an approval or a
    change request (only a newer verdict or a dismissal does).

    `in_order=False` is the rule before that (the last delivery wins), for tasks that started under it.
    """
    if review.pr_key and review.pr_key != _pr(state).ref.key:
        return None
    incoming = ReviewState(
        id=review.review_id,
        reviewer=review.reviewer,
        state=review.state,
        submitted_at=review.submitted_at,
        body=review.body,
        commit_id=review.head_sha,
    )
    if not _record_review(state, incoming, in_order=in_order):
        return None
    return f"review by {review.reviewer}: {review.state.replace('_', ' ')}"


def apply_github_read(state: TaskState, read: PullRequestRead, *, with_mergeability: bool = False) -> list[str]:
    """A reconcile: GitHub's own view wins for the PR; its checks merge like webhook results, and its
    reviews like review deliveries, so a delivery that never came is found here.

    `with_mergeability`: a change in whether the PR merges cleanly counts as a change (workflows from before
    the merge ladder kept it without acting on it).
    """
    changes = []
    known, fresh = _pr(state), pr_state_from(read.pr)
    if not pr_finished(state) and fresh.status == "open" and with_mergeability:
        changes += _mergeability_change(state, fresh)
    if not pr_finished(state) and (fresh.status, fresh.head_sha) != (known.status, known.head_sha):
        if fresh.head_sha != known.head_sha:
            changes.append(f"reconcile: head moved to {fresh.head_sha[:7]}")
        if fresh.status != known.status:
            changes.append(f"reconcile: PR {fresh.status}")
        fresh.title = fresh.title or known.title
        fresh.author = fresh.author or known.author
        state.status.pr = fresh
        _prune_checks(state)
    elif not pr_finished(state):
        known.mergeable, known.mergeable_state = fresh.mergeable, fresh.mergeable_state
    for run in read.checks:
        if _record_check(state, _check_state(run, run.output_summary)):
            changes.append(f"reconcile: check {run.name}: {run.conclusion or run.status}")
    _refresh(state)
    return changes + _apply_read_reviews(state, read.reviews)


def _mergeability_change(state: TaskState, fresh: PullRequestState) -> list[str]:
    """The line a read's new mergeability is worth; GitHub's `null` while it computes settles the ask only once known."""
    known = _pr(state)
    if fresh.mergeable is None:
        return []
    state.mergeability_asked = False
    if (fresh.mergeable, fresh.mergeable_state) == (known.mergeable, known.mergeable_state):
        return []
    return [f"reconcile: PR {fresh.against_base_words() or f'mergeable ({fresh.mergeable_state})'}"]


def _apply_read_reviews(state: TaskState, reviews: list[ReviewState]) -> list[str]:
    """The read's reviews, oldest first, through the in-order rule (always: a read lists every review the PR
    ever had, which the last-delivery-wins rule would replay each time); one line per reviewer whose review changed."""
    before = {r.reviewer: r for r in state.status.reviews}
    for review in sorted(reviews, key=lambda r: r.submitted_at or _NEVER):
        _record_review(state, review, in_order=True)
    return [
        f"reconcile: review by {r.reviewer}: {r.state.replace('_', ' ')}" for r in state.status.reviews if before.get(r.reviewer) is not r
    ]


def _record_review(state: TaskState, incoming: ReviewState, *, in_order: bool) -> bool:
    """`incoming` becomes its reviewer's review unless, in order, the one recorded still stands; whether it did."""
    known = next((r for r in state.status.reviews if r.reviewer == incoming.reviewer), None)
    if in_order and known is not None and _review_stands(known, incoming):
        return False
    state.status.reviews = [r for r in state.status.reviews if r.reviewer != incoming.reviewer]
    state.status.reviews.append(incoming)
    return True


def _review_stands(known: ReviewState, incoming: ReviewState) -> bool:
    """Whether the reviewer's recorded review still stands against `incoming`."""
    if (known.id, known.state, known.submitted_at) == (incoming.id, incoming.state, incoming.submitted_at):
        return True  # the same review again
    if known.submitted_at and incoming.submitted_at and incoming.submitted_at < known.submitted_at:
        return True  # delivered late: a newer one is already known
    return incoming.state == "commented" and known.state in ("approved", "changes_requested")


def _refresh(state: TaskState) -> None:
    state.status.checks = current_checks(state)
    state.status.verdict = verdict(state)


def _record_check(state: TaskState, incoming: CheckState) -> bool:
    for index, known in enumerate(state.all_checks):
        if known.head_sha == incoming.head_sha and known.name == incoming.name:
            if known == incoming or _older(incoming, known):
                return False
            state.all_checks[index] = incoming
            return True
    state.all_checks.append(incoming)
    _prune_checks(state)
    return any(c is incoming for c in state.all_checks)


def _prune_checks(state: TaskState) -> None:
    recent: list[str] = [_pr(state).head_sha]
    for check in reversed(state.all_checks):
        if check.head_sha not in recent and len(recent) < KEPT_SHAS:
            recent.append(check.head_sha)
    state.all_checks = [c for c in state.all_checks if c.head_sha in recent]


def _check_state(check: CheckResult | CheckRunInfo, summary: str | None) -> CheckState:
    """A webhook's check result and a GitHub read share the fields that matter."""
    return CheckState(
        name=check.name,
        head_sha=check.head_sha,
        status=check.status,
        conclusion=check.conclusion,
        completed_at=check.completed_at,
        details_url=check.details_url,
        summary=summary,
    )


def _older(incoming: CheckState, known: CheckState) -> bool:
    """A late delivery of an earlier result must not undo a newer one."""
    if known.status == "completed" and incoming.status != "completed":
        return True
    if incoming.completed_at and known.completed_at:
        return incoming.completed_at < known.completed_at
    return False
