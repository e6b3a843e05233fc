"""When the service writes to the PR (merge_when_green): bring its branch up to date, or merge exactly the head that
passed. Pure rules over the task's state, like `followup_policy`, so `tests/test_merge_policy.py` checks them
without a server.
"""

from __future__ import annotations

from typing import Literal

from temporalio import workflow

from workflows.followup_policy import counted_reviews
from workflows.pr_tracking import checks_settled, verdict

with workflow.unsafe.imports_passed_through():
    from models.status import PullRequestState, TaskState
    from models.task import TaskOptions, TaskType

WriteKind = Literal["update_branch", "merge"]
# A head is merged at most this often: a second time only after GitHub refused the first while it was still
# computing mergeability (its read then said neither clean nor what stands in the way).
MERGE_TRIES_PER_HEAD = 2
# States in which GitHub has not said yet whether the PR merges cleanly.
_UNDECIDED = frozenset({None, "unknown"})
# States in which no merge can succeed until something changes on the PR.
_UNMERGEABLE = frozenset({"dirty", "behind", "draft"})


def merge_applies(options: TaskOptions, task_type: TaskType) -> bool:
    """merge_when_green is on for this task: the service may write to its PR (update its branch, merge it)."""
    return options.merge_when_green and (not options.merge_when_green_types or task_type in options.merge_when_green_types)


def approvals_on_head(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset()) -> int:
    """Approvals given on the current head: one given on an earlier head approved other code."""
    assert state.status.pr is not None
    head = state.status.pr.head_sha
    return sum(r.state == "approved" and r.commit_id == head for r in counted_reviews(state, options, ignored_bots))


def changes_requested(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset()) -> bool:
    return any(r.state == "changes_requested" for r in counted_reviews(state, options, ignored_bots))


def mergeability_undecided(pr: PullRequestState) -> bool:
    """GitHub has not said yet whether the PR merges cleanly (it computes that in the background after a change)."""
    return pr.mergeable is None or pr.mergeable_state in _UNDECIDED


def mergeability_pending(state: TaskState, options: TaskOptions, task_type: TaskType) -> bool:
    """GitHub is still computing whether the open PR merges, and the task wants to know soon: a base moved
    under it, or it may merge the PR itself."""
    pr = state.status.pr
    assert pr is not None
    return pr.status == "open" and mergeability_undecided(pr) and (state.mergeability_asked or merge_applies(options, task_type))


def merge_ready(state: TaskState, options: TaskOptions, ignored_bots: frozenset[str] = frozenset()) -> bool:
    """Every check on the head completed and passed, GitHub says the PR merges cleanly, the required approvals
    are on this head and nobody asks for changes: merging now merges exactly what was checked and approved."""
    pr = state.status.pr
    assert pr is not None
    return (
        pr.status == "open"
        and checks_settled(state)
        and verdict(state) == "passing"
        and pr.mergeable is True
        and pr.mergeable_state not in _UNDECIDED | _UNMERGEABLE
        and approvals_on_head(state, options, ignored_bots) >= options.required_approvals
        and not changes_requested(state, options, ignored_bots)
    )


def due_write(state: TaskState, options: TaskOptions, task_type: TaskType, ignored_bots: frozenset[str] = frozenset()) -> WriteKind | None:
    """The write the PR needs now, if the task may write: each head is updated once, and merged at most
    MERGE_TRIES_PER_HEAD times."""
    pr = state.status.pr
    assert pr is not None
    if not merge_applies(options, task_type) or pr.status != "open":
        return None
    refused = state.write_refused
    if refused is not None and refused.head_sha == pr.head_sha:
        return None
    if pr.mergeable_state == "behind" and pr.head_sha not in state.updated_heads:
        return "update_branch"
    if merge_ready(state, options, ignored_bots) and state.merge_tried_heads.count(pr.head_sha) < MERGE_TRIES_PER_HEAD:
        return "merge"
    return None
