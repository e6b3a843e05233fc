"""The PR rules (`workflows/pr_tracking.py`) as plain functions: tables of events -> verdict and timeline.

No server, no event loop: each case builds a `TaskState` with an open PR, applies webhook payloads and
GitHub reads in order, and checks what the `status` query would show. After every event the state must
keep `status.checks` / `status.verdict` equal to `current_checks()` / `verdict()`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.github import FAILING_CONCLUSIONS, PASSING_CONCLUSIONS, PullRequestRead
from models.signals import CheckResult
from models.status import TaskState
from models.task import TaskOptions
from tests.pr_events import (
    AUTHOR,
    HEAD,
    OTHER_KEY,
    Event,
    apply,
    apply_all,
    assert_in_step,
    at,
    check,
    listed,
    make_state,
    pr_event,
    read,
    review,
    run_info,
    running,
    sha,
    shas_kept,
    shown,
)
from workflows.followup_policy import unaddressed_review
from workflows.pr_tracking import (
    KEPT_SHAS,
    apply_review,
    checks_settled,
    failing_checks,
    open_pull_request,
    pr_finished,
    report_close,
)

# ---- verdict: events -> verdict and the head's checks ---------------------------------------

VERDICT_CASES = [
    ("no checks yet", [], "pending", []),
    ("one success", [check("test")], "passing", [("test", "completed", "success")]),
    (
        "neutral and skipped count as passing",
        [check("a", "neutral"), check("b", "skipped"), check("c")],
        "passing",
        [("a", "completed", "neutral"), ("b", "completed", "skipped"), ("c", "completed", "success")],
    ),
    (
        "a running check keeps it pending",
        [check("lint"), running("test")],
        "pending",
        [("lint", "completed", "success"), ("test", "in_progress", None)],
    ),
    (
        "a failure beats a running check",
        [check("lint", "failure"), running("test")],
        "failing",
        [("lint", "completed", "failure"), ("test", "in_progress", None)],
    ),
    ("completed without a conclusion is not passing", [check("test", None)], "pending", [("test", "completed", None)]),
    (
        "an unknown conclusion is neither",
        [check("lint"), check("test", "mystery")],
        "pending",
        [("lint", "completed", "success"), ("test", "completed", "mystery")],
    ),
    (
        "latest result per name: failure then a later success",
        [check("test", "failure", minute=1), check("test", minute=2)],
        "passing",
        [("test", "completed", "success")],
    ),
    (
        "latest result per name: success then a later failure",
        [check("test", minute=1), check("test", "failure", minute=2)],
        "failing",
        [("test", "completed", "failure")],
    ),
    (
        "a late delivery of an older failure does not undo a newer success",
        [check("test", minute=2), check("test", "failure", minute=1)],
        "passing",
        [("test", "completed", "success")],
    ),
    (
        "a late delivery of an older success does not undo a newer failure",
        [check("test", "failure", minute=2), check("test", minute=1)],
        "failing",
        [("test", "completed", "failure")],
    ),
    (
        "in progress after completed does not undo it",
        [check("test", minute=1), running("test")],
        "passing",
        [("test", "completed", "success")],
    ),
    (
        "in progress then completed",
        [running("test"), check("test", "failure")],
        "failing",
        [("test", "completed", "failure")],
    ),
    ("checks on another sha are not the head's", [check("test", "failure", on=sha(9))], "pending", []),
    (
        "a stale failure does not fail the head",
        [check("test", "failure", on=sha(0)), check("test", on=HEAD)],
        "passing",
        [("test", "completed", "success")],
    ),
    ("a new push starts the checks over", [check("test"), pr_event("synchronize", head=sha(2))], "pending", []),
    (
        "results before the push that made them count",
        [check("test", on=sha(2)), check("lint", "skipped", on=sha(2)), pr_event("synchronize", head=sha(2))],
        "passing",
        [("lint", "completed", "skipped"), ("test", "completed", "success")],
    ),
    (
        "a failure before its push counts",
        [check("test"), check("test", "failure", on=sha(2)), pr_event("synchronize", head=sha(2))],
        "failing",
        [("test", "completed", "failure")],
    ),
    (
        "a synchronize to the current head changes nothing",
        [check("test"), pr_event("synchronize", head=HEAD)],
        "passing",
        [("test", "completed", "success")],
    ),
    (
        "a synchronize without a sha changes nothing",
        [check("test"), pr_event("synchronize")],
        "passing",
        [("test", "completed", "success")],
    ),
    (
        "a GitHub read's checks merge like webhooks",
        [check("lint"), read(run_info("test", "failure"))],
        "failing",
        [("lint", "completed", "success"), ("test", "completed", "failure")],
    ),
    (
        "a read's older result does not undo a webhook's newer one",
        [check("test", minute=3), read(run_info("test", "failure", minute=2))],
        "passing",
        [("test", "completed", "success")],
    ),
    (
        "a read's running check does not undo a completed one",
        [check("test", "failure"), read(run_info("test", status="in_progress"))],
        "failing",
        [("test", "completed", "failure")],
    ),
    (
        "a read that moves the head shows that head's checks",
        [check("test"), read(run_info("test", "timed_out", on=sha(2)), head=sha(2))],
        "failing",
        [("test", "completed", "timed_out")],
    ),
    (
        "reviews do not touch the checks",
        [check("test"), review("alice", "changes_requested")],
        "passing",
        [("test", "completed", "success")],
    ),
]


@pytest.mark.parametrize(
    ("events", "expected_verdict", "expected_checks"), [c[1:] for c in VERDICT_CASES], ids=[c[0] for c in VERDICT_CASES]
)
def test_verdict_after_events(
    events: list[Event], expected_verdict: str, expected_checks: list[tuple[str, str, str | None]]
) -> None:
    state = make_state()
    apply_all(state, events)
    assert state.status.verdict == expected_verdict
    assert shown(state) == expected_checks


@pytest.mark.parametrize("conclusion", sorted(FAILING_CONCLUSIONS))
def test_every_failing_conclusion_fails_the_head(conclusion: str) -> None:
    state = make_state()
    apply_all(state, [check("lint"), check("test", conclusion)])
    assert state.status.verdict == "failing"
    assert [c.name for c in failing_checks(state)] == ["test"]
    assert checks_settled(state)


@pytest.mark.parametrize("conclusion", sorted(PASSING_CONCLUSIONS))
def test_every_passing_conclusion_passes(conclusion: str) -> None:
    state = make_state()
    apply(state, check("test", conclusion))
    assert state.status.verdict == "passing"
    assert failing_checks(state) == []


def test_conclusion_sets_are_disjoint() -> None:
    assert not FAILING_CONCLUSIONS & PASSING_CONCLUSIONS


def test_settled_only_when_every_head_check_completed() -> None:
    state = make_state()
    assert not checks_settled(state)  # nothing known yet
    apply(state, running("test"))
    assert not checks_settled(state)
    apply(state, check("lint", "failure"))
    assert not checks_settled(state)
    apply(state, check("test"))
    assert checks_settled(state)
    apply(state, pr_event("synchronize", head=sha(2)))
    assert not checks_settled(state)


# ---- timeline lines: what each event says, None when nothing changed -------------------------

LINE_CASES = [
    ("a check result", [check("test", "failure")], ["check test: failure on 0000001"]),
    ("a running check", [running("test")], ["check test: in_progress on 0000001"]),
    ("a redelivered check says nothing", [check("test")] * 2, ["check test: success on 0000001", None]),
    (
        "a late older result says nothing",
        [check("t", minute=2), check("t", "failure", minute=1)],
        ["check t: success on 0000001", None],
    ),
    ("a late running check says nothing", [check("t"), running("t")], ["check t: success on 0000001", None]),
    (
        "a rerun's new result replaces it",
        [check("t", "failure", minute=1), check("t", minute=4)],
        ["check t: failure on 0000001", "check t: success on 0000001"],
    ),
    ("a push", [pr_event("synchronize", head=sha(2))], ["new commit 0000002: checks start over"]),
    (
        "a redelivered push says nothing",
        [pr_event("synchronize", head=sha(2))] * 2,
        ["new commit 0000002: checks start over", None],
    ),
    ("merged", [pr_event("closed", merged=True)], ["PR merged"]),
    ("closed", [pr_event("closed")], ["PR closed"]),
    (
        "draft and back",
        [pr_event("converted_to_draft"), pr_event("ready_for_review")],
        ["PR converted to draft", "PR ready for review"],
    ),
    ("ready for review when already open says nothing", [pr_event("ready_for_review")], [None]),
    ("reopened when already open says nothing", [pr_event("reopened")], [None]),
    (
        "after a merge nothing moves the PR",
        [
            pr_event("closed", merged=True),
            pr_event("reopened"),
            pr_event("synchronize", head=sha(2)),
            pr_event("closed"),
            pr_event("converted_to_draft"),
        ],
        ["PR merged", None, None, None, None],
    ),
    (
        "after a close nothing moves the PR",
        [pr_event("closed"), pr_event("reopened"), pr_event("closed", merged=True)],
        ["PR closed", None, None],
    ),
    (
        "another PR's events are ignored",
        [
            pr_event("closed", merged=True, key=OTHER_KEY),
            pr_event("synchronize", head=sha(2), key=OTHER_KEY),
            pr_event("converted_to_draft", key=OTHER_KEY),
        ],
        [None, None, None],
    ),
    ("a review", [review("alice", "changes_requested")], ["review by alice: changes requested"]),
    ("another PR's review is ignored", [review("alice", "approved", key=OTHER_KEY)], [None]),
    ("a review without a PR key counts", [review("alice", "approved", key=None)], ["review by alice: approved"]),
    ("a read that changes nothing", [read()], [[]]),
    ("a read with a check", [read(run_info("test", "failure"))], [["reconcile: check test: failure"]]),
    ("the same read twice", [read(run_info("test"))] * 2, [["reconcile: check test: success"], []]),
    ("a read that finds the PR merged", [read(state="closed", merged=True)], [["reconcile: PR merged"]]),
    ("a read that finds a new head", [read(head=sha(3))], [["reconcile: head moved to 0000003"]]),
    ("a read that finds it draft", [read(draft=True)], [["reconcile: PR draft"]]),
    (
        "a read after a merge does not move the PR",
        [pr_event("closed", merged=True), read(head=sha(3), state="open")],
        ["PR merged", []],
    ),
]


@pytest.mark.parametrize(("events", "expected_lines"), [c[1:] for c in LINE_CASES], ids=[c[0] for c in LINE_CASES])
def test_timeline_lines(events: list[Event], expected_lines: list[Any]) -> None:
    assert apply_all(make_state(), events) == expected_lines


# ---- redelivery and finality change nothing ----------------------------------------------------

REDELIVERED = [
    ("a check", [check("lint"), check("test", "failure")]),
    ("a running check", [running("test")]),
    ("a push", [check("test", on=sha(2)), pr_event("synchronize", head=sha(2))]),
    ("a close", [pr_event("closed")]),
    ("a draft", [pr_event("converted_to_draft")]),
    ("a read", [read(run_info("test"), run_info("lint", "failure"), head=sha(2))]),
]


@pytest.mark.parametrize("events", [c[1] for c in REDELIVERED], ids=[c[0] for c in REDELIVERED])
def test_redelivering_the_last_event_changes_nothing(events: list[Event]) -> None:
    state = make_state()
    apply_all(state, events)
    before = state.model_copy(deep=True)
    assert apply(state, events[-1]) in (None, [])
    assert state == before


@pytest.mark.parametrize("merged", [True, False], ids=["merged", "closed"])
def test_a_finished_pr_stays_finished(merged: bool) -> None:
    state = make_state()
    apply_all(state, [check("test"), pr_event("closed", merged=merged, minute=8)])
    assert pr_finished(state)
    pr_before = state.status.pr.model_copy(deep=True)  # type: ignore[union-attr]
    lines = apply_all(
        state,
        [
            pr_event("reopened"),
            pr_event("ready_for_review"),
            pr_event("synchronize", head=sha(2)),
            pr_event("closed", merged=not merged),
            read(head=sha(3), state="open"),
            read(head=sha(3), state="closed", merged=not merged),
        ],
    )
    assert lines == [None, None, None, None, [], []]
    assert state.status.pr == pr_before
    assert state.status.pr.merged_at == (at(8) if merged else None)  # type: ignore[union-attr]
    assert state.status.verdict == "passing"


def test_a_read_after_the_merge_still_merges_head_checks() -> None:
    """Current behaviour: the PR is frozen once finished, but a read's checks are still recorded."""
    state = make_state()
    apply(state, pr_event("closed", merged=True))
    assert apply(state, read(run_info("test", "failure"))) == ["reconcile: check test: failure"]
    assert state.status.pr.status == "merged"  # type: ignore[union-attr]
    assert state.status.verdict == "failing"


def test_events_for_another_pr_change_nothing() -> None:
    state = make_state()
    apply(state, check("test"))
    before = state.model_copy(deep=True)
    others: list[Event] = [
        pr_event("closed", merged=True, key=OTHER_KEY),
        pr_event("synchronize", head=sha(2), key=OTHER_KEY),
        pr_event("converted_to_draft", key=OTHER_KEY),
        review("alice", "changes_requested", key=OTHER_KEY),
    ]
    for event in others:
        assert apply(state, event) is None
    assert state == before


# ---- GitHub reads --------------------------------------------------------------------------


def test_a_read_wins_for_the_pr_but_keeps_known_title_and_author() -> None:
    state = make_state()
    apply(state, check("test", on=sha(2)))
    lines = apply(state, read(head=sha(2), draft=True, title="", author=None))
    assert lines == ["reconcile: head moved to 0000002", "reconcile: PR draft"]
    pr = state.status.pr
    assert pr is not None
    assert (pr.head_sha, pr.status, pr.title, pr.author) == (sha(2), "draft", "Add rate limiting", AUTHOR)
    assert state.status.verdict == "passing"  # the early result on the new head counts


def test_a_read_finding_the_pr_merged_finishes_it() -> None:
    state = make_state()
    apply(state, read(state="closed", merged=True))
    assert pr_finished(state)
    assert state.status.pr.merged_at == at(9)  # type: ignore[union-attr]
    assert apply(state, pr_event("reopened")) is None


def without_pr() -> TaskState:
    """A task whose agent has not opened its PR yet."""
    state = make_state()
    state.status.pr = None
    return state


def test_open_pull_request_starts_tracking_from_the_first_read() -> None:
    state = without_pr()
    lines = open_pull_request(
        state, read(run_info("lint", on=sha(4)), run_info("test", on=sha(4), status="in_progress"), head=sha(4))
    )
    assert lines == ["reconcile: check lint: success", "reconcile: check test: in_progress"]
    assert state.status.pr is not None and state.status.pr.head_sha == sha(4)
    assert state.status.pr.author == AUTHOR
    assert shown(state) == [("lint", "completed", "success"), ("test", "in_progress", None)]
    assert state.status.verdict == "pending"
    assert_in_step(state)


def test_open_pull_request_keeps_results_that_arrived_first() -> None:
    """Results recorded before the PR was known count once it is: the first read merges, not replaces."""
    state = make_state()
    apply(state, check("test", "failure", minute=5))
    state.status.pr = None
    open_pull_request(state, read(run_info("test", minute=2), run_info("lint")))
    assert shown(state) == [("lint", "completed", "success"), ("test", "completed", "failure")]
    assert state.status.verdict == "failing"


# ---- checks kept for at most KEPT_SHAS shas ------------------------------------------------------


def test_checks_kept_for_at_most_kept_shas_and_always_the_head() -> None:
    state = make_state()
    apply(state, check("test", "failure"))
    others = list(range(2, 2 + KEPT_SHAS + 3))
    for n in others:
        apply(state, check("test", on=sha(n)))
        assert len(shas_kept(state)) <= KEPT_SHAS
        assert HEAD in shas_kept(state)
    # Besides the head, the most recently reported shas are the ones kept.
    assert shas_kept(state) == {HEAD, *(sha(n) for n in others[-(KEPT_SHAS - 1) :])}
    assert state.status.verdict == "failing"


def test_pushes_prune_old_shas() -> None:
    state = make_state()
    apply(state, check("test"))
    for n in range(2, 2 + KEPT_SHAS + 2):
        apply(state, check("test", "failure" if n % 2 else "success", on=sha(n)))
        apply(state, pr_event("synchronize", head=sha(n)))
        assert len(shas_kept(state)) <= KEPT_SHAS
        assert state.status.checks and state.status.checks[0].head_sha == sha(n)
    assert HEAD not in shas_kept(state)


def test_a_result_for_a_future_push_survives_fewer_than_kept_shas_late_stale_ones() -> None:
    state = make_state()
    apply(state, check("test", "failure", on=sha(2)))
    # Late results for other old shas: room for KEPT_SHAS - 2 of them besides the head and the early one.
    apply_all(state, [check("lint", on=sha(100 + n)) for n in range(KEPT_SHAS - 2)])
    apply(state, pr_event("synchronize", head=sha(2)))
    assert shown(state) == [("test", "completed", "failure")]


def test_too_many_late_stale_results_evict_a_future_push_result() -> None:
    """Documented limit: the shas kept are the head and the most recently *reported* ones."""
    state = make_state()
    apply(state, check("test", "failure", on=sha(2)))
    apply_all(state, [check("lint", on=sha(100 + n)) for n in range(KEPT_SHAS - 1)])
    apply(state, pr_event("synchronize", head=sha(2)))
    assert shown(state) == []
    assert state.status.verdict == "pending"


# ---- reviews ---------------------------------------------------------------------------------

REVIEW_CASES = [
    ("one review", [review("alice", "changes_requested")], [("alice", "changes_requested")]),
    (
        "an approval after changes requested clears them",
        [review("alice", "changes_requested", minute=1), review("alice", "approved", minute=2)],
        [("alice", "approved")],
    ),
    (
        "changes requested after an approval",
        [review("alice", "approved", minute=1), review("alice", "changes_requested", minute=2)],
        [("alice", "changes_requested")],
    ),
    (
        "each reviewer's latest review is kept",
        [
            review("alice", "changes_requested", minute=1),
            review("bob", "approved", minute=2),
            review("alice", "approved", minute=3),
        ],
        [("bob", "approved"), ("alice", "approved")],
    ),
    (
        "a dismissal replaces the review",
        [review("alice", "changes_requested", minute=1), review("alice", "dismissed", minute=2)],
        [("alice", "dismissed")],
    ),
    (
        "another PR's review leaves the reviews alone",
        [review("alice", "changes_requested"), review("alice", "approved", key=OTHER_KEY)],
        [("alice", "changes_requested")],
    ),
]


@pytest.mark.parametrize(("events", "expected"), [c[1:] for c in REVIEW_CASES], ids=[c[0] for c in REVIEW_CASES])
def test_latest_review_per_reviewer(events: list[Event], expected: list[tuple[str, str]]) -> None:
    state = make_state()
    apply_all(state, events)
    assert [(r.reviewer, r.state) for r in state.status.reviews] == expected


def test_review_keeps_id_time_and_body() -> None:
    state = make_state()
    apply(state, review("alice", "changes_requested", minute=4, body="Please add tests"))
    [kept] = state.status.reviews
    assert (kept.id, kept.submitted_at, kept.body) == (4000, at(4), "Please add tests")


def test_a_reordered_review_delivery_does_not_revive_an_older_review() -> None:
    """alice requested changes at minute 1 and approved at minute 2, but the approval was delivered first:
    her newer approval stands (submission time, not delivery order)."""
    state = make_state()
    late = review("alice", "changes_requested", minute=1)
    apply_all(state, [review("alice", "approved", minute=2)])
    assert apply(state, late) is None
    assert [(r.reviewer, r.state, r.submitted_at) for r in state.status.reviews] == [("alice", "approved", at(2))]


def test_before_reviews_in_order_the_last_delivery_won() -> None:
    """The rule tasks started under before the `reviews-in-order` patch keep when they replay."""
    state = make_state()
    for event in (review("alice", "approved", minute=2), review("alice", "changes_requested", minute=1)):
        apply_review(state, event, in_order=False)
    assert [(r.reviewer, r.state) for r in state.status.reviews] == [("alice", "changes_requested")]


def test_reordered_push_delivery_last_delivery_wins_today() -> None:
    """Documented current behaviour: pushes carry no order the rules compare, so a late `synchronize`
    for an older commit moves the head back (a force-push back looks the same). The next GitHub read
    puts it right."""
    state = make_state()
    apply_all(state, [pr_event("synchronize", head=sha(3), minute=3), pr_event("synchronize", head=sha(2), minute=2)])
    assert state.status.pr.head_sha == sha(2)  # type: ignore[union-attr]
    apply(state, read(head=sha(3)))
    assert state.status.pr.head_sha == sha(3)  # type: ignore[union-attr]


def test_a_redelivered_review_says_nothing() -> None:
    state = make_state()
    alice, bob = review("alice", "changes_requested", minute=1), review("bob", "changes_requested", minute=2)
    apply_all(state, [alice, bob])
    before = state.model_copy(deep=True)
    assert apply(state, alice) is None
    assert state == before


# ---- reviews from GitHub reads ---------------------------------------------------------------

# (events, the reviews kept, whose change request a follow-up is owed, the last event's lines)
READ_REVIEW_CASES = [
    (
        "a change request whose delivery never came is found by the next read",
        [read(reviews=[listed("alice", "changes_requested", minute=1)])],
        [("alice", "changes_requested")],
        "alice",
        ["reconcile: review by alice: changes requested"],
    ),
    (
        "a read lists every review: each reviewer's latest by submission time counts, whatever the order",
        [read(reviews=[listed("alice", "approved", minute=2), listed("bob", "changes_requested", minute=3), listed("alice", "changes_requested", minute=1)])],
        [("alice", "approved"), ("bob", "changes_requested")],
        "bob",
        ["reconcile: review by alice: approved", "reconcile: review by bob: changes requested"],
    ),
    (
        "the same read again changes nothing",
        [read(reviews=[listed("alice", "changes_requested", minute=1)])] * 2,
        [("alice", "changes_requested")],
        "alice",
        [],
    ),
    (
        "a review already delivered changes nothing when a read lists it",
        [review("alice", "changes_requested", minute=1), read(reviews=[listed("alice", "changes_requested", minute=1)])],
        [("alice", "changes_requested")],
        "alice",
        [],
    ),
    (
        "a superseded change request never revives, even in a read that lists only it",
        [review("alice", "approved", minute=2), read(reviews=[listed("alice", "changes_requested", minute=1)])],
        [("alice", "approved")],
        None,
        [],
    ),
    (
        "a comment after a change request in the same read does not withdraw it",
        [read(reviews=[listed("alice", "changes_requested", minute=1), listed("alice", "commented", minute=2)])],
        [("alice", "changes_requested")],
        "alice",
        ["reconcile: review by alice: changes requested"],
    ),
    (
        "a dismissal whose delivery never came is found by the next read",
        [review("alice", "changes_requested", minute=1), read(reviews=[listed("alice", "dismissed", minute=1)])],
        [("alice", "dismissed")],
        None,
        ["reconcile: review by alice: dismissed"],
    ),
    (
        "a missed approval after a delivered change request clears it",
        [review("alice", "changes_requested", minute=1), read(reviews=[listed("alice", "changes_requested", minute=1), listed("alice", "approved", minute=2)])],
        [("alice", "approved")],
        None,
        ["reconcile: review by alice: approved"],
    ),
]


@pytest.mark.parametrize(
    ("events", "expected", "owed", "lines"), [c[1:] for c in READ_REVIEW_CASES], ids=[c[0] for c in READ_REVIEW_CASES]
)
def test_reads_refresh_reviews_in_order(events: list[Event], expected: list[tuple[str, str]], owed: str | None, lines: list[str]) -> None:
    state = make_state()
    last = apply_all(state, events)[-1]
    assert [(r.reviewer, r.state) for r in state.status.reviews] == expected
    due = unaddressed_review(state, TaskOptions())
    assert (due.reviewer if due else None) == owed
    assert last == lines


def test_a_read_recorded_before_reads_had_reviews_leaves_the_reviews_alone() -> None:
    state = make_state()
    apply(state, review("alice", "changes_requested", minute=1))
    recorded = read().model_dump(mode="json")
    del recorded["reviews"]
    old = PullRequestRead.model_validate(recorded)
    assert old.reviews == [] and apply(state, old) == []
    assert [(r.reviewer, r.state) for r in state.status.reviews] == [("alice", "changes_requested")]


# ---- properties ------------------------------------------------------------------------------

NAMES = ["build", "lint", "test"]
CONCLUSIONS = sorted(PASSING_CONCLUSIONS | FAILING_CONCLUSIONS) + [None]
# Head and one other sha: fewer than KEPT_SHAS, so nothing is pruned and order cannot matter.
SHAS = [HEAD, sha(2)]

# (name, sha index, conclusion or "running"): the i-th completed one completes at minute i, so times are distinct.
result_spec = st.tuples(
    st.sampled_from(NAMES), st.integers(0, len(SHAS) - 1), st.sampled_from([*CONCLUSIONS, "running"])
)


def results_from(specs: list[tuple[str, int, str | None]]) -> list[CheckResult]:
    return [
        running(name, on=SHAS[s]) if conclusion == "running" else check(name, conclusion, on=SHAS[s], minute=i)
        for i, (name, s, conclusion) in enumerate(specs)
    ]


def final_checks(state: TaskState) -> tuple[str, list[Any], list[Any]]:
    all_checks = sorted((c.model_dump() for c in state.all_checks), key=lambda c: (c["head_sha"], c["name"]))
    return state.status.verdict, [c.model_dump() for c in state.status.checks], all_checks


@settings(max_examples=50, deadline=None)
@given(data=st.data(), specs=st.lists(result_spec, max_size=10))
def test_check_order_does_not_matter(data: st.DataObject, specs: list[tuple[str, int, str | None]]) -> None:
    results = results_from(specs)
    shuffled = data.draw(st.permutations(results))
    in_order, reordered = make_state(), make_state()
    apply_all(in_order, results)
    apply_all(reordered, shuffled)
    assert final_checks(reordered) == final_checks(in_order)
    # And the push that follows sees the same thing either way.
    apply(in_order, pr_event("synchronize", head=sha(2)))
    apply(reordered, pr_event("synchronize", head=sha(2)))
    assert final_checks(reordered) == final_checks(in_order)


# Any webhook or read, including running checks whose details change and PR events of every kind.
event_spec = st.one_of(
    result_spec.map(lambda s: ("check", s)),
    st.tuples(st.sampled_from(NAMES), st.integers(0, 1)).map(lambda s: ("running_url", s)),
    st.tuples(
        st.sampled_from(["closed", "reopened", "synchronize", "ready_for_review", "converted_to_draft"]),
        st.booleans(),
        st.integers(0, 1),
    ).map(lambda s: ("pr", s)),
    st.tuples(st.sampled_from(NAMES), st.sampled_from(CONCLUSIONS), st.integers(0, 1)).map(lambda s: ("read", s)),
)


def events_from(specs: list[tuple[str, Any]]) -> list[Event]:
    events: list[Event] = []
    for i, (kind, spec) in enumerate(specs):
        if kind == "check":
            events.extend(
                results_from([spec]) if spec[2] == "running" else [check(spec[0], spec[2], on=SHAS[spec[1]], minute=i)]
            )
        elif kind == "running_url":
            events.append(running(spec[0], url=f"https://ci.test/{spec[1]}"))
        elif kind == "pr":
            action, merged, s = spec
            events.append(pr_event(action, merged=merged, head=SHAS[s] if action == "synchronize" else None))
        else:
            name, conclusion, s = spec
            events.append(read(run_info(name, conclusion, minute=i), head=SHAS[s]))
    return events


@settings(max_examples=50, deadline=None)
@given(specs=st.lists(event_spec, max_size=10))
def test_each_event_redelivered_at_once_changes_nothing(specs: list[tuple[str, Any]]) -> None:
    state = make_state()
    for event in events_from(specs):
        apply(state, event)
        before = state.model_copy(deep=True)
        assert apply(state, event) in (None, [])
        assert state == before


@settings(max_examples=50, deadline=None)
@given(specs=st.lists(result_spec, max_size=10))
def test_check_results_redelivered_change_nothing(specs: list[tuple[str, int, str | None]]) -> None:
    results = results_from(specs)
    once, twice = make_state(), make_state()
    apply_all(once, results)
    apply_all(twice, results)
    assert apply_all(twice, results) == [None] * len(results)
    assert twice == once


@settings(max_examples=50, deadline=None)
@given(specs=st.lists(event_spec, max_size=10))
def test_any_sequence_redelivered_gives_the_state_of_once(specs: list[tuple[str, Any]]) -> None:
    events = events_from(specs)
    once, twice = make_state(), make_state()
    apply_all(once, events)
    apply_all(twice, events)
    apply_all(twice, events)
    assert twice == once


def test_a_reported_close_waits_for_github_to_confirm_it() -> None:
    state = make_state()
    line = report_close(state, pr_event("closed", merged=True))
    assert line == "webhook: PR merged; confirming with GitHub"
    assert state.reported_close is not None and not pr_finished(state) and state.status.pr.status == "open"
    # About another PR, or once the PR has ended: nothing to confirm.
    assert report_close(make_state(), pr_event("closed", key=OTHER_KEY)) is None
    assert report_close(make_state(status="merged"), pr_event("closed")) is None
