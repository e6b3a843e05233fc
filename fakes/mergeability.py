"""Whether the fake's PR can merge, as GitHub reports it (`mergeable`, `mergeable_state`) and enforces it (405).

Both answers come from the same facts: a conflict with the base, how far behind the base the branch is,
the scenario's branch protection (approvals, required checks, up to date) and merge queue.
`mergeable_state` values are GitHub's (GraphQL `MergeStateStatus` documents them): clean, behind,
blocked, dirty, draft, unstable, unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakes.world import CheckRun, PullRequest

PASSING = frozenset({"success", "neutral", "skipped"})

# GitHub's answers to a merge it refuses. The first (conflicts) and the merge queue's are GitHub's own
# words (REST docs' 405 example; reports from merge-queue users); the protection ones are close to
# GitHub's but not verified word for word, so a client should act on the status, not the text.
NOT_MERGEABLE = "Pull Request is not mergeable"
MERGE_QUEUE_REQUIRED = "Changes must be made through the merge queue"
NOT_UP_TO_DATE = "Head branch is not up to date with the base branch."


@dataclass(frozen=True)
class MergeStatus:
    mergeable: bool | None
    state: str


def merge_status(pr: PullRequest, checks: dict[str, CheckRun]) -> MergeStatus:
    """What GitHub's PR document says; `checks` are the latest run per name on the head."""
    if pr.state != "open" or not pr.mergeable_known:
        # Closed PRs, and open ones right after a change: GitHub computes mergeability in the background.
        return MergeStatus(None, "unknown")
    if pr.conflicting:
        return MergeStatus(False, "dirty")
    if pr.draft:
        return MergeStatus(True, "draft")
    if _unmet_rules(pr, checks):
        return MergeStatus(True, "blocked")
    if is_behind(pr):
        return MergeStatus(True, "behind")
    if pr.scenario.branch_protection is not None and any(run.conclusion not in PASSING for run in checks.values()):
        # Checks that are not required but not green either; without protection the fake leaves checks out of it.
        return MergeStatus(True, "unstable")
    return MergeStatus(True, "clean")


def merge_refusal(pr: PullRequest, checks: dict[str, CheckRun]) -> str | None:
    """Why the merge endpoint answers 405, or None when it would merge."""
    if pr.state != "open" or pr.conflicting:
        return NOT_MERGEABLE
    if pr.scenario.merge_queue:
        return MERGE_QUEUE_REQUIRED
    unmet = _unmet_rules(pr, checks)
    if unmet:
        return unmet[0]
    protection = pr.scenario.branch_protection
    if protection is not None and protection.require_up_to_date and is_behind(pr):
        return NOT_UP_TO_DATE
    return None


def is_behind(pr: PullRequest) -> bool:
    return pr.base_sha != pr.repo.base_sha


def _unmet_rules(pr: PullRequest, checks: dict[str, CheckRun]) -> list[str]:
    """The protection rules a merge would break, but being up to date: GitHub reports that one as `behind`."""
    protection = pr.scenario.branch_protection
    if protection is None:
        return []
    blockers = []
    wanted = protection.required_approvals
    if _approvals(pr) < wanted:
        blockers.append(f"At least {wanted} approving review{' is' if wanted == 1 else 's are'} required by reviewers with write access.")
    for name in protection.required_checks:
        run = checks.get(name)
        if run is None or run.status != "completed":
            blockers.append(f'Required status check "{name}" is expected.')
        elif run.conclusion not in PASSING:
            blockers.append(f'Required status check "{name}" is failing.')
    return blockers


def _approvals(pr: PullRequest) -> int:
    """Reviewers whose latest approving-or-not review approves (comments do not change a reviewer's verdict)."""
    verdicts = {review.login: review.state for review in pr.reviews if review.state != "COMMENTED"}
    return sum(state == "APPROVED" for state in verdicts.values())
