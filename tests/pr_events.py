"""A task's state with an open PR, and the webhook payloads and GitHub reads that move it: builders for
the plain tests of the PR rules and the follow-up policy."""


from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from models.codegen import PullRequestRef
from models.github import CheckRunInfo, PullRequestInfo, PullRequestRead, ReviewState
from models.signals import CheckResult, PrEvent, Review
from models.status import PullRequestState, TaskPhase, TaskState, TaskStatus
from workflows.pr_tracking import (
    apply_check,
    apply_github_read,
    apply_pr_event,
    apply_review,
    current_checks,
    verdict,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
REF = PullRequestRef(owner="acme", repo="api", number=7)
KEY = REF.key  # acme/api#7
OTHER_KEY = "acme/api#8"
AUTHOR = "codegen-bot"


def sha(n: int) -> str:
    """A 40-hex commit sha whose 7-char short form is `000000n`."""
    return f"{n:07x}" + "abcdef0123" * 3 + "abc"


HEAD = sha(1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# ---- builders -------------------------------------------------------------------------------


def make_state(head: str = HEAD, author: str | None = AUTHOR, status: str = "open") -> TaskState:
    """A task tracking PR acme/api#7, opened by `author`, with `head` as its head commit."""
    pr = PullRequestState(
        ref=REF,
        url=f"https://github.com/acme/api/pull/{REF.number}",
        title="Add rate limiting",
        head_sha=head,
        head_ref="codegen/t",
        base_ref="main",
        status=status,  # type: ignore[arg-type]
        author=author,
    )
    task_status = TaskStatus(
        task_id="t",
        workflow_id="codegen-task-t",
        title="Add rate limiting",
        task_type="feature",
        phase=TaskPhase.TRACKING_PR,
        codegen_status="completed",
        attempt=1,
        max_attempts=3,
        pr=pr,
        started_at=T0,
    )
    return TaskState(status=task_status, pr_opened_at=T0, pr_run_id=101)


_deliveries = iter(range(10**9))


def check(
    name: str,
    conclusion: str | None = "success",
    *,
    on: str = HEAD,
    minute: float | None = 1,
    status: str = "completed",
    url: str | None = None,
) -> CheckResult:
    return CheckResult(
        delivery_id=f"d-{next(_deliveries)}",
        head_sha=on,
        name=name,
        status=status,
        conclusion=conclusion if status == "completed" else None,
        completed_at=at(minute) if (minute is not None and status == "completed") else None,
        details_url=url or f"https://github.com/acme/api/runs/{name}",
    )


def running(name: str, *, on: str = HEAD, url: str | None = None) -> CheckResult:
    return check(name, None, on=on, minute=None, status="in_progress", url=url)


def pr_event(
    action: str, *, head: str | None = None, merged: bool = False, key: str = KEY, minute: float = 5
) -> PrEvent:
    return PrEvent(
        delivery_id=f"d-{next(_deliveries)}",
        action=action,  # type: ignore[arg-type]
        pr_key=key,
        merged=merged,
        head_sha=head,
        occurred_at=at(minute),
    )


def review(
    reviewer: str, state: str, *, minute: float = 3, key: str | None = KEY, body: str | None = None, on: str | None = None
) -> Review:
    """A review delivery; `on`: the head it was given on (None: the delivery did not say)."""
    return Review(
        delivery_id=f"d-{next(_deliveries)}",
        review_id=int(minute * 1000),
        state=state,  # type: ignore[arg-type]
        reviewer=reviewer,
        body=body,
        submitted_at=at(minute),
        pr_key=key,
        head_sha=on,
    )


def listed(reviewer: str, state: str, *, minute: float = 3, body: str | None = None) -> ReviewState:
    """A review as a GitHub read lists it: the same review as `review(reviewer, state, minute=minute)`."""
    return ReviewState(
        id=int(minute * 1000), reviewer=reviewer, state=state, submitted_at=at(minute), body=body  # type: ignore[arg-type]
    )


def run_info(
    name: str,
    conclusion: str | None = "success",
    *,
    on: str = HEAD,
    minute: float | None = 1,
    status: str = "completed",
) -> CheckRunInfo:
    return CheckRunInfo(
        name=name,
        head_sha=on,
        status=status,
        conclusion=conclusion if status == "completed" else None,
        completed_at=at(minute) if (minute is not None and status == "completed") else None,
        details_url=f"https://github.com/acme/api/runs/{name}",
    )


def read(
    *checks: CheckRunInfo,
    head: str = HEAD,
    state: str = "open",
    merged: bool = False,
    draft: bool = False,
    title: str = "Add rate limiting",
    author: str | None = AUTHOR,
    reviews: Sequence[ReviewState] = (),
) -> PullRequestRead:
    info = PullRequestInfo(
        ref=REF,
        html_url=f"https://github.com/acme/api/pull/{REF.number}",
        title=title,
        state=state,  # type: ignore[arg-type]
        merged=merged,
        merged_at=at(9) if merged else None,
        draft=draft,
        head_sha=head,
        head_ref="codegen/t",
        base_ref="main",
        author=author,
    )
    return PullRequestRead(pr=info, checks=list(checks), reviews=list(reviews))


Event = CheckResult | PrEvent | Review | PullRequestRead


def apply(state: TaskState, event: Event) -> Any:
    """Apply one event through its rule; check the status invariant after it.

    A `closed` goes through `apply_pr_event`, which ends the PR at once: the rule of tasks started before
    the confirm-close-with-github patch. Newer tasks only note it (`report_close`) until a GitHub read
    agrees, and the read's rule (`apply_github_read`) is what ends them; both have tests of their own.
    """
    if isinstance(event, CheckResult):
        result: Any = apply_check(state, event)
    elif isinstance(event, PrEvent):
        result = apply_pr_event(state, event)
    elif isinstance(event, Review):
        result = apply_review(state, event)
    else:
        result = apply_github_read(state, event)
    assert_in_step(state)
    return result


def apply_all(state: TaskState, events: Sequence[Event]) -> list[Any]:
    return [apply(state, e) for e in events]


def assert_in_step(state: TaskState) -> None:
    assert state.status.checks == current_checks(state)
    assert state.status.verdict == verdict(state)


def shown(state: TaskState) -> list[tuple[str, str, str | None]]:
    """The head's checks as (name, status, conclusion), as the status query shows them."""
    return [(c.name, c.status, c.conclusion) for c in state.status.checks]


def shas_kept(state: TaskState) -> set[str]:
    return {c.head_sha for c in state.all_checks}
