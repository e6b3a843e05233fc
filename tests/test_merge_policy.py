"""The merge ladder's rules as plain functions (`workflows/merge_policy.py`, and the conflict rung of
`workflows/followup_policy.py`): what the service writes, what goes to the agent, and when a person must act."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.signals import BasePush
from models.status import Reason, TaskState, WriteRefusal
from models.task import TaskOptions, TaskType
from tests.pr_events import AUTHOR, HEAD, apply_all, at, check, make_state, pr_event, review, running, sha
from workflows.followup_policy import attention_needed, awaiting_agent_push, due_followup, followup_head, pushed_nothing
from workflows.merge_policy import approvals_on_head, due_write, merge_applies, merge_ready, mergeability_pending
from workflows.pr_tracking import apply_base_push

MERGING = TaskOptions(merge_when_green=True, followup_settle=timedelta(seconds=60))
FEATURE = TaskType.FEATURE


def green_and_approved(*, mergeable_state: str | None = "clean", mergeable: bool | None = True) -> TaskState:
    state = make_state()
    apply_all(state, [check("lint"), check("test"), review("alice", "approved", on=HEAD)])
    assert state.status.pr is not None
    state.status.pr.mergeable, state.status.pr.mergeable_state = mergeable, mergeable_state
    return state


def test_a_green_approved_clean_head_is_merged():
    state = green_and_approved()
    assert merge_ready(state, MERGING) and due_write(state, MERGING, FEATURE) == "merge"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda s: apply_all(s, [running("e2e")]), "a check still running"),
        (lambda s: apply_all(s, [check("e2e", "failure")]), "a check failed"),
        (lambda s: apply_all(s, [pr_event("synchronize", head=sha(2)), check("lint", on=sha(2)), check("test", on=sha(2))]), "the approval was on the old head"),
        (lambda s: apply_all(s, [review("bob", "changes_requested", minute=4)]), "someone asks for changes"),
        (lambda s: setattr(s.status.pr, "mergeable", None), "GitHub is still computing mergeability"),
        (lambda s: setattr(s.status.pr, "mergeable_state", "unknown"), "GitHub said unknown"),
        (lambda s: setattr(s.status.pr, "mergeable_state", "draft"), "a draft"),
        (lambda s: s.merge_tried_heads.extend([HEAD, HEAD]), "a merge was already tried twice on this head"),
    ],
)
def test_no_merge_on_pending_stale_or_disputed_evidence(change, why):
    state = green_and_approved()
    change(state)
    assert due_write(state, MERGING, FEATURE) is None, why


def test_a_head_gets_a_second_merge_only_once():
    # The first try was refused while GitHub computed mergeability (merging.py lets it stand as one try).
    state = green_and_approved()
    state.merge_tried_heads.append(HEAD)
    assert due_write(state, MERGING, FEATURE) == "merge"
    state.merge_tried_heads.append(HEAD)
    assert due_write(state, MERGING, FEATURE) is None


def test_approvals_count_per_head_without_the_author_or_ignored_reviewers():
    state = make_state()
    options = TaskOptions(merge_when_green=True, required_approvals=2, ignored_reviewers=["bot"])
    apply_all(state, [review(AUTHOR, "approved", on=HEAD), review("bot", "approved", on=HEAD), review("alice", "approved", on=HEAD)])
    assert approvals_on_head(state, options) == 1
    apply_all(state, [review("carol", "approved", on=sha(9))])  # given on another head
    assert approvals_on_head(state, options) == 1
    apply_all(state, [review("dave", "approved", minute=5, on=HEAD)])
    assert approvals_on_head(state, options) == 2


def test_zero_required_approvals_merges_on_green_alone():
    state = make_state()
    apply_all(state, [check("test")])
    assert state.status.pr is not None
    state.status.pr.mergeable, state.status.pr.mergeable_state = True, "clean"
    assert due_write(state, MERGING.model_copy(update={"required_approvals": 0}), FEATURE) == "merge"


def test_merge_when_green_is_off_by_default_and_can_be_limited_to_task_types():
    assert not merge_applies(TaskOptions(), FEATURE)
    only_docs = TaskOptions(merge_when_green=True, merge_when_green_types=[TaskType.DOCUMENTATION, TaskType.TESTING])
    assert merge_applies(only_docs, TaskType.DOCUMENTATION) and not merge_applies(only_docs, FEATURE)
    assert due_write(green_and_approved(), TaskOptions(), FEATURE) is None


def test_a_branch_behind_is_updated_once_per_head():
    state = green_and_approved(mergeable_state="behind")
    assert due_write(state, MERGING, FEATURE) == "update_branch"
    state.updated_heads.append(HEAD)
    assert due_write(state, MERGING, FEATURE) is None
    apply_all(state, [pr_event("synchronize", head=sha(2))])
    assert state.status.pr is not None and state.status.pr.mergeable is None  # the new head: GitHub computes again
    state.status.pr.mergeable, state.status.pr.mergeable_state = True, "behind"
    assert due_write(state, MERGING, FEATURE) == "update_branch"


def test_a_refused_write_stands_until_the_head_moves():
    state = green_and_approved()
    state.write_refused = WriteRefusal(head_sha=HEAD, reason=Reason.MERGE_BLOCKED, message="GitHub refused the merge: merge queue")
    assert due_write(state, MERGING, FEATURE) is None
    error = attention_needed(state, MERGING, None, ladder=True)
    assert error is not None and (error.reason, error.message) == (Reason.MERGE_BLOCKED, "GitHub refused the merge: merge queue")
    apply_all(state, [pr_event("synchronize", head=sha(2))])
    assert attention_needed(state, MERGING, None, ladder=True) is None


def test_a_base_push_makes_mergeability_unknown_and_asked_for():
    state = green_and_approved()
    push = BasePush(delivery_id="p", repository="ACME/api", branch="main", before="a", after="b" * 40)
    assert apply_base_push(state, push) == "main moved to bbbbbbb: mergeability to be read"
    assert state.status.pr is not None and state.status.pr.mergeable is None and state.mergeability_asked
    assert mergeability_pending(state, TaskOptions(), FEATURE)  # asked for, even without merge_when_green
    other = make_state()
    assert apply_base_push(other, push.model_copy(update={"branch": "release"})) is None and not other.mergeability_asked


def test_a_conflict_goes_to_the_agent_first_and_once_per_head():
    state = green_and_approved(mergeable_state="dirty", mergeable=False)
    apply_all(state, [check("test", "failure", minute=2)])
    assert state.status.pr is not None and state.status.pr.against_base == "conflicts"
    assert due_followup(state, MERGING, ladder=True) == "resolve_conflicts"
    assert due_followup(state, MERGING) == "fix_checks", "workflows from before the ladder never see conflicts"
    state.followup_heads.append(followup_head("resolve_conflicts", HEAD))
    state.status.followups = 1
    assert due_followup(state, MERGING, ladder=True) == "fix_checks"


def test_a_conflict_with_the_budget_spent_is_a_merge_conflict():
    state = green_and_approved(mergeable_state="dirty", mergeable=False)
    state.status.followups = 3
    assert due_followup(state, MERGING, ladder=True) is None
    error = attention_needed(state, MERGING, None, ladder=True)
    assert error is not None and (error.reason, error.message) == (Reason.MERGE_CONFLICT, "the PR conflicts with main after 3 follow-up(s)")


def test_a_follow_up_that_pushed_nothing_ends_the_loop_once_the_settle_window_passes():
    state = make_state()
    apply_all(state, [check("test", "failure"), review("alice", "changes_requested", minute=2)])
    state.followed_shas.append(HEAD)
    state.followup_heads.append(followup_head("fix_checks", HEAD))
    state.status.followups, state.followup_ended_at = 1, at(10)
    assert awaiting_agent_push(state, timedelta(seconds=60), at(10), ladder=True)
    assert not awaiting_agent_push(state, timedelta(seconds=60), at(12), ladder=True)
    # A review is waiting and budget is left, but the same head gets nothing more.
    assert pushed_nothing(state, ladder=True) and due_followup(state, MERGING, ladder=True) is None
    error = attention_needed(state, MERGING, None, ladder=True)
    assert error is not None and error.reason is Reason.FOLLOWUP_PUSHED_NOTHING
    assert error.message == "follow-up 1 ended without a new commit on the PR; checks failing after 1 follow-up(s): test"
    # Before the ladder the review went to the agent on the same head.
    assert due_followup(state, MERGING) == "address_review"
    # Once the agent (or anyone) pushes, the loop goes on.
    apply_all(state, [pr_event("synchronize", head=sha(2))])
    assert not pushed_nothing(state, ladder=True) and due_followup(state, MERGING, ladder=True) == "address_review"


def test_merge_when_green_types_are_task_types_named_plainly():
    assert TaskOptions(merge_when_green_types="documentation,testing").merge_when_green_types == [TaskType.DOCUMENTATION, TaskType.TESTING]
    with pytest.raises(ValueError, match=r"expected task types, as a list or separated by commas \(documentation,testing\); valid types: implementation, "):
        TaskOptions(merge_when_green_types=["docs"])
