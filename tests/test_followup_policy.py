"""The follow-up policy (`workflows/followup_policy.py`) as plain functions: state -> due follow-up, attention.

Each case builds the task's state from webhook payloads through the PR rules (as the workflow does),
plus what earlier follow-ups left behind (followed shas, handled reviews, the count), and asks the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from models.status import ErrorInfo, Reason, TaskState
from models.task import TaskOptions
from tests.pr_events import AUTHOR, HEAD, Event, apply_all, at, check, make_state, pr_event, review, running, sha
from workflows.followup_policy import (
    attention_needed,
    awaiting_agent_push,
    due_followup,
    review_key,
    unaddressed_review,
)

OPTIONS = TaskOptions(max_followups=3, ignored_reviewers=["lint-bot"])


@dataclass
class Scenario:
    events: Sequence[Event] = ()
    followups: int = 0
    followed: list[str] = field(default_factory=list)
    # (reviewer, minute) of reviews earlier follow-ups addressed.
    handled: list[tuple[str, float]] = field(default_factory=list)
    options: TaskOptions = field(default_factory=lambda: OPTIONS)

    def state(self) -> TaskState:
        state = make_state()
        apply_all(state, self.events)
        state.status.followups = self.followups
        state.followed_shas = list(self.followed)
        state.handled_reviews = [f"{reviewer}@{at(minute).isoformat()}" for reviewer, minute in self.handled]
        return state


FAILING = [check("lint"), check("test", "failure")]
CHANGES = [review("alice", "changes_requested", minute=3, body="Please add tests")]

# (id, scenario, due follow-up, (attention reason, message) or None)
CASES = [
    ("nothing known yet", Scenario(), None, None),
    ("all green", Scenario([check("lint"), check("test")]), None, None),
    ("failing checks, settled", Scenario(FAILING), "fix_checks", None),
    ("failing but one still running: wait", Scenario([check("lint", "failure"), running("test")]), None, None),
    (
        "every failing conclusion counts",
        Scenario([check("test", "timed_out"), check("e2e", "cancelled")]),
        "fix_checks",
        None,
    ),
    (
        "failing head already sent to the agent",
        Scenario(FAILING, followups=1, followed=[HEAD]),
        None,
        (Reason.CHECKS_FAILING, "checks failing after 1 follow-up(s): test"),
    ),
    (
        "a failure only on an old sha",
        Scenario([check("test", "failure"), pr_event("synchronize", head=sha(2))], followed=[HEAD]),
        None,
        None,
    ),
    (
        "the agent's push fails again",
        Scenario(
            [check("test", "failure"), pr_event("synchronize", head=sha(2)), check("test", "failure", on=sha(2))],
            followups=1,
            followed=[HEAD],
        ),
        "fix_checks",
        None,
    ),
    (
        "a late older failure after a rerun passed",
        Scenario([check("test", minute=5), check("test", "failure", minute=1)]),
        None,
        None,
    ),
    ("changes requested", Scenario(CHANGES), "address_review", None),
    ("changes requested by the PR's author never count", Scenario([review(AUTHOR, "changes_requested")]), None, None),
    ("changes requested by an ignored reviewer", Scenario([review("lint-bot", "changes_requested")]), None, None),
    ("a review already addressed", Scenario(CHANGES, followups=1, handled=[("alice", 3)]), None, None),
    (
        "a newer review by the same reviewer is a new request",
        Scenario(
            [review("alice", "changes_requested", minute=3), review("alice", "changes_requested", minute=6)],
            followups=1,
            handled=[("alice", 3)],
        ),
        "address_review",
        None,
    ),
    (
        "an approval after changes requested clears them",
        Scenario([review("alice", "changes_requested", minute=3), review("alice", "approved", minute=4)]),
        None,
        None,
    ),
    ("a comment is no request", Scenario([review("bob", "commented")]), None, None),
    ("an approval is no request", Scenario([review("bob", "approved")]), None, None),
    ("failing checks come before a review", Scenario([*FAILING, *CHANGES]), "fix_checks", None),
    (
        "the review after the head's checks were followed",
        Scenario([*FAILING, *CHANGES], followups=1, followed=[HEAD]),
        "address_review",
        None,
    ),
    (
        "budget spent with failing checks",
        Scenario(FAILING, followups=3),
        None,
        (Reason.CHECKS_FAILING, "checks failing after 3 follow-up(s): test"),
    ),
    (
        "budget spent with changes requested",
        Scenario(CHANGES, followups=3),
        None,
        (Reason.CHANGES_REQUESTED, "changes requested by alice after 3 follow-up(s)"),
    ),
    (
        "failing checks are named before changes requested",
        Scenario([*FAILING, *CHANGES], followups=3),
        None,
        (Reason.CHECKS_FAILING, "checks failing after 3 follow-up(s): test"),
    ),
    (
        "every failing check is named",
        Scenario([check("e2e", "failure"), check("lint"), check("test", "stale")], followups=3),
        None,
        (Reason.CHECKS_FAILING, "checks failing after 3 follow-up(s): e2e, test"),
    ),
    (
        "no follow-ups allowed at all",
        Scenario(FAILING, options=TaskOptions(max_followups=0)),
        None,
        (Reason.CHECKS_FAILING, "checks failing after 0 follow-up(s): test"),
    ),
    ("budget spent but nothing fails", Scenario([check("test")], followups=3), None, None),
    (
        "budget spent, checks still running",
        Scenario([check("test", "failure"), running("lint")], followups=3),
        None,
        None,
    ),
    ("budget spent, the review was addressed", Scenario(CHANGES, followups=3, handled=[("alice", 3)]), None, None),
]


@pytest.mark.parametrize(("scenario", "due", "attention"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_due_followup_and_attention(scenario: Scenario, due: str | None, attention: tuple[Reason, str] | None) -> None:
    state = scenario.state()
    assert due_followup(state, scenario.options) == due
    expected = ErrorInfo(reason=attention[0], message=attention[1]) if attention else None
    assert attention_needed(state, scenario.options, due_followup(state, scenario.options)) == expected


@pytest.mark.parametrize("due", ["fix_checks", "address_review"])
def test_no_attention_while_a_followup_is_due(due: str) -> None:
    state = Scenario([*FAILING, *CHANGES], followups=3).state()
    assert attention_needed(state, OPTIONS, due) is None  # type: ignore[arg-type]
    assert attention_needed(state, OPTIONS, None) is not None


def test_after_each_followup_the_same_request_is_not_sent_twice() -> None:
    """Walk the budget as the workflow does: each follow-up marks what it sent; nothing is sent twice."""
    state = Scenario([*FAILING, *CHANGES]).state()
    sent = []
    while (due := due_followup(state, OPTIONS)) is not None:
        sent.append(due)
        state.status.followups += 1
        if due == "fix_checks":
            state.followed_shas.append(state.status.pr.head_sha)  # type: ignore[union-attr]
        else:
            review = unaddressed_review(state, OPTIONS)
            assert review is not None
            state.handled_reviews.append(review_key(review))
    assert sent == ["fix_checks", "address_review"]
    assert attention_needed(state, OPTIONS, None) == ErrorInfo(
        reason=Reason.CHECKS_FAILING, message="checks failing after 2 follow-up(s): test"
    )


def test_the_first_unaddressed_review_is_the_one_addressed() -> None:
    state = Scenario(
        [
            review("lint-bot", "changes_requested", minute=1),
            review("alice", "changes_requested", minute=2),
            review("bob", "changes_requested", minute=3),
        ],
        handled=[("alice", 2)],
    ).state()
    found = unaddressed_review(state, OPTIONS)
    assert found is not None and (found.reviewer, found.submitted_at) == ("bob", at(3))


def test_review_key_names_reviewer_and_time_or_body() -> None:
    state = Scenario([review("alice", "changes_requested", minute=3)]).state()
    assert review_key(state.status.reviews[0]) == f"alice@{at(3).isoformat()}"
    untimed = state.status.reviews[0].model_copy(update={"submitted_at": None, "body": "Please add tests"})
    assert review_key(untimed) == "alice@Please add tests"


def test_a_pr_without_a_known_author_still_ignores_the_ignored_reviewers() -> None:
    state = Scenario([review("lint-bot", "changes_requested"), review(AUTHOR, "changes_requested")]).state()
    state.status.pr.author = None  # type: ignore[union-attr]
    assert due_followup(state, OPTIONS) == "address_review"  # the author is only known by the PR
    assert unaddressed_review(state, OPTIONS).reviewer == AUTHOR  # type: ignore[union-attr]


def test_a_comment_after_changes_requested_keeps_the_request() -> None:
    state = Scenario([review("alice", "changes_requested", minute=3), review("alice", "commented", minute=4)]).state()
    assert due_followup(state, OPTIONS) == "address_review"


# ---- waiting for the agent's push after a follow-up ------------------------------------------

SETTLE = timedelta(seconds=60)

AWAITING_CASES = [
    ("no follow-up has ended", None, [HEAD], 10, False),
    ("just ended on the current head", 0, [HEAD], 10, True),
    ("just inside the window", 0, [HEAD], 59.9, True),
    ("the window has passed", 0, [HEAD], 60, False),
    ("long after", 0, [HEAD], 3600, False),
    ("the agent already pushed: head not followed", 0, [sha(0)], 10, False),
    ("ended, but no check follow-up on this head", 0, [], 10, False),
]


@pytest.mark.parametrize(
    ("ended", "followed", "seconds_later", "expected"),
    [c[1:] for c in AWAITING_CASES],
    ids=[c[0] for c in AWAITING_CASES],
)
def test_awaiting_agent_push(ended: float | None, followed: list[str], seconds_later: float, expected: bool) -> None:
    state = Scenario(FAILING, followups=1, followed=followed).state()
    ended_at = at(10)
    state.followup_ended_at = ended_at if ended is not None else None
    assert awaiting_agent_push(state, SETTLE, ended_at + timedelta(seconds=seconds_later)) is expected


def test_a_push_ends_the_wait() -> None:
    state = Scenario(FAILING, followups=1, followed=[HEAD]).state()
    state.followup_ended_at = at(10)
    now = at(10) + timedelta(seconds=5)
    assert awaiting_agent_push(state, SETTLE, now)
    apply_all(state, [pr_event("synchronize", head=sha(2))])
    assert not awaiting_agent_push(state, SETTLE, now)
