"""The pull request's state as webhooks and GitHub reads move it: pure, deterministic logic.

Kept apart from the workflow class so the rules (latest check per name, stale shas ignored,
merge and close are final) are plain functions with plain tests.
"""

from __future__ import annotations

from models.github import FAILING_CONCLUSIONS, PASSING_CONCLUSIONS, CheckRunInfo, PullRequestInfo, PullRequestRead
from models.signals import CheckResult, PrEvent, Review
from models.status import CheckState, PullRequestState, ReviewState, Verdict

# Checks kept for this many recent head shas: results can arrive before the push that made them.
KEPT_SHAS = 3


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
        author=info.author,
    )


class PullRequestTracker:
    """Applies events to one PR's state; every `apply_*` returns a timeline line, or None if nothing changed."""

    def __init__(self, pr: PullRequestState, checks: list[CheckState], reviews: list[ReviewState]) -> None:
        self.pr = pr
        self.checks = checks  # across the last KEPT_SHAS shas
        self.reviews = reviews  # latest per reviewer

    @property
    def finished(self) -> bool:
        return self.pr.status in ("merged", "closed")

    def current_checks(self) -> list[CheckState]:
        return sorted((c for c in self.checks if c.head_sha == self.pr.head_sha), key=lambda c: c.name)

    def verdict(self) -> Verdict:
        current = self.current_checks()
        if any(c.conclusion in FAILING_CONCLUSIONS for c in current):
            return "failing"
        if current and all(c.status == "completed" and c.conclusion in PASSING_CONCLUSIONS for c in current):
            return "passing"
        return "pending"

    def checks_settled(self) -> bool:
        """Every known check on the head has completed (GitHub may still add more)."""
        current = self.current_checks()
        return bool(current) and all(c.status == "completed" for c in current)

    def failing_checks(self) -> list[CheckState]:
        return [c for c in self.current_checks() if c.conclusion in FAILING_CONCLUSIONS]

    def apply_pr_event(self, event: PrEvent) -> str | None:
        if event.pr_key != self.pr.ref.key or self.finished:
            return None
        if event.action == "closed":
            self.pr.status = "merged" if event.merged else "closed"
            if event.merged:
                self.pr.merged_at = event.occurred_at
            return f"PR {self.pr.status}"
        if event.action == "synchronize" and event.head_sha and event.head_sha != self.pr.head_sha:
            self.pr.head_sha = event.head_sha
            self._prune_checks()
            return f"new commit {event.head_sha[:7]}: checks start over"
        new_status = {"reopened": "open", "ready_for_review": "open", "converted_to_draft": "draft"}.get(event.action)
        if new_status and new_status != self.pr.status:
            self.pr.status = new_status
            return f"PR {event.action.replace('_', ' ')}"
        return None

    def apply_check(self, result: CheckResult) -> str | None:
        if not self._record_check(_check_state(result, result.output_summary)):
            return None
        return f"check {result.name}: {result.conclusion or result.status} on {result.head_sha[:7]}"

    def apply_review(self, review: Review) -> str | None:
        if review.pr_key and review.pr_key != self.pr.ref.key:
            return None
        self.reviews = [r for r in self.reviews if r.reviewer != review.reviewer]
        self.reviews.append(
            ReviewState(
                id=review.review_id, reviewer=review.reviewer, state=review.state, submitted_at=review.submitted_at, body=review.body
            )
        )
        return f"review by {review.reviewer}: {review.state.replace('_', ' ')}"

    def apply_github_read(self, read: PullRequestRead) -> list[str]:
        """A reconcile: GitHub's own view wins for the PR; its checks merge like webhook results."""
        changes = []
        fresh = pr_state_from(read.pr)
        if not self.finished and (fresh.status, fresh.head_sha) != (self.pr.status, self.pr.head_sha):
            if fresh.head_sha != self.pr.head_sha:
                changes.append(f"reconcile: head moved to {fresh.head_sha[:7]}")
            if fresh.status != self.pr.status:
                changes.append(f"reconcile: PR {fresh.status}")
            fresh.title = fresh.title or self.pr.title
            fresh.author = fresh.author or self.pr.author
            self.pr = fresh
            self._prune_checks()
        for run in read.checks:
            if self._record_check(_check_state(run, run.output_summary)):
                changes.append(f"reconcile: check {run.name}: {run.conclusion or run.status}")
        return changes

    def _record_check(self, incoming: CheckState) -> bool:
        for index, known in enumerate(self.checks):
            if known.head_sha == incoming.head_sha and known.name == incoming.name:
                if known == incoming or _older(incoming, known):
                    return False
                self.checks[index] = incoming
                return True
        self.checks.append(incoming)
        self._prune_checks()
        return any(c is incoming for c in self.checks)

    def _prune_checks(self) -> None:
        recent: list[str] = [self.pr.head_sha]
        for check in reversed(self.checks):
            if check.head_sha not in recent and len(recent) < KEPT_SHAS:
                recent.append(check.head_sha)
        self.checks = [c for c in self.checks if c.head_sha in recent]


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
