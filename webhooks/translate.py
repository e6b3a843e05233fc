"""What a verified GitHub delivery means for the task workflows: one signal and where to send it, or a reason not to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from pydantic import BaseModel

from models.bounds import CHECK_SUMMARY_CHARS, CHECK_TITLE_CHARS, REVIEW_BODY_CHARS, bounded
from models.github import REVIEW_STATES
from models.names import SIGNAL_BASE_PUSHED, SIGNAL_CHECK_RESULT, SIGNAL_PR_EVENT, SIGNAL_REVIEW
from models.signals import BasePush, CheckResult, PrEvent, Review
from webhooks.payloads import (
    CheckRunEvent,
    CheckSuiteEvent,
    LinkedPullRequest,
    PullRequest,
    PullRequestEvent,
    PullRequestReviewEvent,
    PushEvent,
    Repository,
    StatusEvent,
)

PR_ACTIONS = frozenset({"closed", "reopened", "synchronize", "ready_for_review", "converted_to_draft"})
# Commit statuses that are final; `pending` is not a result.
STATUS_CONCLUSIONS = {"success": "success", "failure": "failure", "error": "failure"}
BRANCH_REF_PREFIX = "refs/heads/"
TASK_ID_LINE = re.compile(r"^[ \t>*_]*Task-ID:[ \t*_]*([A-Za-z0-9._-]{1,128})", re.IGNORECASE | re.MULTILINE)
# Free text from a payload (a review's body, a check's summary) is cut (models.bounds) before it becomes
# a signal: a signal over gRPC's 4 MB is refused on every redelivery, and the workflow keeps every signal
# in its history.


@dataclass(frozen=True)
class Target:
    """How to find the workflows a delivery is for: its PR's, most specific first, or those of a base branch."""

    repository: str
    pr_keys: tuple[str, ...] = ()
    head_sha: str | None = None
    # From the PR body's `Task-ID:` line, for PRs the workflow has not published yet.
    task_id: str | None = None
    # A push names no PR: it is for every running task whose PR targets this branch of `repository`.
    base_ref: str | None = None


@dataclass(frozen=True)
class SignalOrder:
    signal: str
    payload: PrEvent | CheckResult | Review | BasePush
    target: Target


@dataclass(frozen=True)
class Ignored:
    reason: str


@dataclass(frozen=True)
class Filters:
    """Deliveries the operator chose to drop: repositories outside the allow-list, bot reviewers."""

    allowed_repositories: list[str] = field(default_factory=list)
    ignored_reviewers: list[str] = field(default_factory=list)

    def allows_repository(self, full_name: str) -> bool:
        name = full_name.lower()
        return not self.allowed_repositories or any(
            fnmatchcase(name, pattern.lower()) for pattern in self.allowed_repositories
        )

    def ignores_reviewer(self, login: str) -> bool:
        return login.lower() in {reviewer.lower() for reviewer in self.ignored_reviewers}


def pr_key(repository: Repository, number: int) -> str:
    return f"{repository.full_name}#{number}"


def web_host(repository: Repository) -> str | None:
    """The lower-case host (and port, if any) of the repository's web address: github.com, an Enterprise host,
    mock-github.invalid for the fake. A task takes events only from its own PR's host, so a mock PR's event
    never reaches a real task, nor a real one a mock task. None when the delivery names no web address."""
    if not repository.html_url:
        return None
    netloc = urlsplit(repository.html_url).netloc.rpartition("@")[2]
    return netloc.lower() or None


def task_id_in(pull_request: PullRequest) -> str | None:
    """The task id from a `Task-ID: <id>` line in the PR body, if there is one."""
    match = TASK_ID_LINE.search(pull_request.body or "")
    return match.group(1) if match else None


def translate(event: str, delivery_id: str, payload: BaseModel, filters: Filters) -> SignalOrder | Ignored:
    """The signal a handled event becomes, or why it is ignored (repository, action, reviewer, pending)."""
    repository: Repository = payload.repository  # type: ignore[attr-defined]
    if not filters.allows_repository(repository.full_name):
        return Ignored(f"repository {repository.full_name} is not in ALLOWED_REPOSITORIES")
    order = _order(event, delivery_id, payload, filters)
    if isinstance(order, SignalOrder):
        # Every signal carries its web host: a task takes events only from its own PR's host.
        order.payload.host = web_host(repository)
    return order


def _order(event: str, delivery_id: str, payload: BaseModel, filters: Filters) -> SignalOrder | Ignored:
    match payload:
        case PullRequestEvent():
            return _pull_request(delivery_id, payload)
        case CheckRunEvent():
            return _check_run(delivery_id, payload)
        case CheckSuiteEvent():
            return _check_suite(delivery_id, payload)
        case StatusEvent():
            return _status(delivery_id, payload)
        case PullRequestReviewEvent():
            return _review(delivery_id, payload, filters)
        case PushEvent():
            return _push(delivery_id, payload)
    return Ignored(f"event {event} is not handled")


def _pull_request(delivery_id: str, event: PullRequestEvent) -> SignalOrder | Ignored:
    if event.action not in PR_ACTIONS:
        return Ignored(f"pull_request action {event.action} is not handled")
    pr = event.pull_request
    head_sha = event.after if event.action == "synchronize" and event.after else pr.head.sha
    key = pr_key(event.repository, event.number)
    signal = PrEvent(
        delivery_id=delivery_id,
        action=event.action,  # type: ignore[arg-type]
        pr_key=key,
        merged=bool(pr.merged),
        head_sha=head_sha,
        occurred_at=pr.merged_at or pr.closed_at or pr.updated_at,
    )
    target = Target(event.repository.full_name, (key,), head_sha, task_id_in(pr))
    return SignalOrder(SIGNAL_PR_EVENT, signal, target)


def _linked_keys(repository: Repository, linked: list[LinkedPullRequest]) -> tuple[str, ...]:
    # pull_requests[] can list PRs of other repositories that share the branch name.
    return tuple(pr_key(repository, pr.number) for pr in linked if pr.base.repo.id == repository.id)


def _check_run(delivery_id: str, event: CheckRunEvent) -> SignalOrder | Ignored:
    if event.action != "completed":
        return Ignored(f"check_run action {event.action} is not handled")
    run = event.check_run
    signal = CheckResult(
        delivery_id=delivery_id,
        head_sha=run.head_sha,
        name=run.name,
        status=run.status,
        conclusion=run.conclusion,
        completed_at=run.completed_at,
        details_url=run.details_url or run.html_url,
        output_summary=bounded(run.output.summary, CHECK_SUMMARY_CHARS) or bounded(run.output.title, CHECK_TITLE_CHARS),
    )
    target = Target(event.repository.full_name, _linked_keys(event.repository, run.pull_requests), run.head_sha)
    return SignalOrder(SIGNAL_CHECK_RESULT, signal, target)


def _check_suite(delivery_id: str, event: CheckSuiteEvent) -> SignalOrder | Ignored:
    if event.action != "completed":
        return Ignored(f"check_suite action {event.action} is not handled")
    suite = event.check_suite
    if suite.latest_check_runs_count:
        # Its runs' own check_run deliveries report them; the suite would be a second, summary check.
        return Ignored(f"check_suite with {suite.latest_check_runs_count} check runs: each run reports itself")
    # One check for a suite with no runs, prefixed so it never shadows a check run with the app's name.
    signal = CheckResult(
        delivery_id=delivery_id,
        head_sha=suite.head_sha,
        name=f"suite:{suite.app.slug or suite.app.name}",
        status=suite.status or "completed",
        conclusion=suite.conclusion,
        completed_at=suite.updated_at,
        details_url=suite.url,
    )
    target = Target(event.repository.full_name, _linked_keys(event.repository, suite.pull_requests), suite.head_sha)
    return SignalOrder(SIGNAL_CHECK_RESULT, signal, target)


def _status(delivery_id: str, event: StatusEvent) -> SignalOrder | Ignored:
    conclusion = STATUS_CONCLUSIONS.get(event.state)
    if conclusion is None:
        return Ignored(f"status {event.context} is {event.state}, not a final result")
    signal = CheckResult(
        delivery_id=delivery_id,
        head_sha=event.sha,
        name=event.context,
        conclusion=conclusion,
        completed_at=event.updated_at,
        details_url=event.target_url,
        output_summary=bounded(f"{event.state}: {event.description}" if event.description else event.state, CHECK_SUMMARY_CHARS),
    )
    # Statuses name no pull request: the commit is the only way to the workflow.
    return SignalOrder(SIGNAL_CHECK_RESULT, signal, Target(event.repository.full_name, (), event.sha))


def _review(delivery_id: str, event: PullRequestReviewEvent, filters: Filters) -> SignalOrder | Ignored:
    if event.action not in ("submitted", "dismissed"):
        return Ignored(f"pull_request_review action {event.action} is not handled")
    review = event.review
    if filters.ignores_reviewer(review.user.login):
        return Ignored(f"reviewer {review.user.login} is in IGNORED_REVIEWERS")
    state = "dismissed" if event.action == "dismissed" else review.state.lower()
    if state not in REVIEW_STATES:
        return Ignored(f"review state {state} is not handled")
    key = pr_key(event.repository, event.pull_request.number)
    signal = Review(
        delivery_id=delivery_id,
        review_id=review.id,
        state=state,  # type: ignore[arg-type]
        reviewer=review.user.login,
        body=bounded(review.body, REVIEW_BODY_CHARS),
        head_sha=review.commit_id,
        submitted_at=review.submitted_at,
        pr_key=key,
    )
    target = Target(
        event.repository.full_name, (key,), event.pull_request.head.sha, task_id_in(event.pull_request)
    )
    return SignalOrder(SIGNAL_REVIEW, signal, target)


def _push(delivery_id: str, event: PushEvent) -> SignalOrder | Ignored:
    if not event.ref.startswith(BRANCH_REF_PREFIX):
        return Ignored(f"push to {event.ref} is not to a branch")
    branch = event.ref.removeprefix(BRANCH_REF_PREFIX)
    if event.deleted:
        return Ignored(f"push deleted branch {branch}")
    if _is_zero_sha(event.after):
        return Ignored(f"push to branch {branch} leaves no commit (after is all zeros)")
    signal = BasePush(
        delivery_id=delivery_id,
        repository=event.repository.full_name,
        branch=branch,
        # A push that created the branch had nothing before it.
        before=None if _is_zero_sha(event.before) else event.before,
        after=event.after,
    )
    return SignalOrder(SIGNAL_BASE_PUSHED, signal, Target(event.repository.full_name, base_ref=branch))


def _is_zero_sha(sha: str) -> bool:
    """GitHub's all-zero SHA, on the side of a push where the ref did not exist (40 zeros; 64 for SHA-256)."""
    return set(sha) == {"0"}
