"""The service's writes to the PR (merge_when_green): bring its branch up to date with its base, and merge it with
`sha` set to exactly the head that passed. GitHub's refusals become the task's next step: a moved head is read
and judged again, a conflict goes to the agent, a refusal only a person can lift puts the task in needs_attention.

`merge_policy` decides which write is due; this module makes it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows import merge_policy
from workflows.calls import CallFailed, call
from workflows.pr_reads import read_and_apply
from workflows.pr_tracking import pr_finished
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from activities.github import GitHubActivities
    from activities.http_errors import HttpErrorType
    from models.github import MergeInput, UpdateBranchInput
    from models.status import PullRequestState, Reason, WriteRefusal

# Writes run as ordinary activities, not local ones: a local activity's result is lost with a workflow task the
# server refuses (a signal landing as the task completes), and a merge made twice is a merge refused the second time.
WRITE_TIMEOUT = timedelta(seconds=30)


async def write(task: RunningTask, kind: merge_policy.WriteKind) -> bool:
    """Make the due write; False when GitHub could not be reached (the next round tries again)."""
    pr = task.state.status.pr
    assert pr is not None
    if kind == "update_branch":
        return await _update_branch(task, pr)
    return await _merge(task, pr)


async def _update_branch(task: RunningTask, pr: PullRequestState) -> bool:
    state, head = task.state, pr.head_sha
    state.updated_heads.append(head)
    try:
        result = await call(
            GitHubActivities.update_pull_request_branch,
            UpdateBranchInput(ref=pr.ref, expected_head_sha=head),
            start_to_close_timeout=WRITE_TIMEOUT,
        )
    except CallFailed as failed:
        refusal = failed.type
        if refusal == HttpErrorType.HEAD_CHANGED:
            task.note("branch update refused: the head moved", failed.message)
            return await read_and_apply(task)
        if refusal == HttpErrorType.MERGE_CONFLICT:
            # GitHub could not merge the base in: the agent must resolve it (the ladder's next rung).
            pr.mergeable, pr.mergeable_state = False, "dirty"
            task.record(f"branch update refused: {pr.head_ref} conflicts with {pr.base_ref}")
            return True
        if refusal == HttpErrorType.MISSING_PERMISSION:
            _refused(task, head, Reason.MISSING_PERMISSION, f"updating the branch with {pr.base_ref} {_needs(failed)}: {failed.message}")
            return True
        state.updated_heads.remove(head)
        task.note("branch update failed", failed.message)
        return False
    # The new head arrives with its push (a synchronize webhook, or the next read); mergeability with it.
    pr.mergeable, pr.mergeable_state = None, None
    state.mergeability_asked = True
    task.record(f"branch brought up to date with {pr.base_ref}" if result.updated else f"branch already up to date with {pr.base_ref}")
    return True


async def _merge(task: RunningTask, pr: PullRequestState) -> bool:
    """Merge `pr` at the head judged green, once GitHub's own read agrees: never on what signals left behind alone."""
    state, options, head = task.state, task.input.options, pr.head_sha
    state.merge_tried_heads.append(head)
    if not await read_and_apply(task):
        state.merge_tried_heads.remove(head)
        return False
    current = state.status.pr
    assert current is not None
    if current.head_sha != head or not merge_policy.merge_ready(state, options, task.ignored_bots):
        if current.head_sha == head:
            state.merge_tried_heads.remove(head)
        task.note("merge deferred", "GitHub's read differs from what the task knew; judging again")
        return True
    try:
        result = await call(
            GitHubActivities.merge_pull_request,
            MergeInput(ref=current.ref, sha=head, method=options.merge_method, title=current.title or None),
            start_to_close_timeout=WRITE_TIMEOUT,
        )
    except CallFailed as failed:
        return await _merge_refused(task, current, failed)
    current.status, current.merged_at, current.merge_commit_sha = "merged", workflow.now(), result.sha
    state.status.merged_by = "service"
    task.record(f"merged by the service: {options.merge_method} of {head[:7]} as {result.sha[:7]}")
    return True


async def _merge_refused(task: RunningTask, pr: PullRequestState, failed: CallFailed) -> bool:
    refusal, head = failed.type, pr.head_sha
    if refusal == HttpErrorType.HEAD_CHANGED:
        task.note("merge refused: the head moved since it passed", failed.message)
        return await read_and_apply(task)
    if refusal == HttpErrorType.MISSING_PERMISSION:
        _refused(task, head, Reason.MISSING_PERMISSION, f"merging {_needs(failed)}: {failed.message}")
        return True
    if refusal == HttpErrorType.NOT_MERGEABLE:
        return await _not_mergeable(task, failed)
    task.state.merge_tried_heads.remove(head)
    task.note("merge failed", failed.message)
    return False


async def _not_mergeable(task: RunningTask, failed: CallFailed) -> bool:
    """A 405. The base may have moved between the read and the merge (the PR now conflicts or is behind), or a
    person merged it meanwhile: GitHub's read tells those apart from a refusal only a person lifts."""
    if not await read_and_apply(task) or pr_finished(task.state):
        return True
    pr = task.state.status.pr
    assert pr is not None
    if failed.detail("blocker") == "behind" and pr.head_sha not in task.state.updated_heads:
        pr.mergeable_state = "behind"
        task.record(f"merge refused: {pr.head_ref} must be up to date with {pr.base_ref} first")
        return True
    if pr.against_base is not None:
        # The ladder takes it from here: a conflict goes to the agent, a branch behind is updated.
        task.note("merge refused", failed.message)
        return True
    if merge_policy.mergeability_undecided(pr) and task.state.merge_tried_heads.count(pr.head_sha) < merge_policy.MERGE_TRIES_PER_HEAD:
        task.note("merge refused while GitHub computes mergeability; judging again", failed.message)
        return True
    _refused(task, pr.head_sha, Reason.MERGE_BLOCKED, f"GitHub refused the merge of {pr.head_sha[:7]}: {failed.message}")
    return True


def _refused(task: RunningTask, head_sha: str, reason: Reason, message: str) -> None:
    """A refusal only a person can lift: needs_attention until the head moves (or the person merges)."""
    task.state.write_refused = WriteRefusal(head_sha=head_sha, reason=reason, message=message)
    task.record(f"GitHub refused: {reason.value}")


def _needs(failed: CallFailed) -> str:
    needs = failed.detail("needs")
    return f"needs a token with {needs}" if needs else "needs write access to the repository"
