"""Reading the PR from GitHub, GitHub's view applied to the task: the reconcile's safety net for lost webhooks,
and the fresh look a write to the PR first takes."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.calls import CallFailed, call
from workflows.pr_tracking import apply_github_read
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from activities.github import GitHubActivities
    from models.codegen import PullRequestRef
    from models.github import PullRequestRead


async def read_pull_request(ref: PullRequestRef) -> PullRequestRead:
    return await call(GitHubActivities.read_pull_request, ref, local=True, start_to_close_timeout=timedelta(seconds=30))


async def reconcile(task: RunningTask) -> bool:
    """Read the PR, its checks and reviews; True if anything changed."""
    changes = await _read(task)
    return bool(changes)


async def read_and_apply(task: RunningTask) -> bool:
    """Read the PR and apply what GitHub shows; False when GitHub could not be read."""
    return await _read(task) is not None


async def _read(task: RunningTask) -> list[str] | None:
    """The changes a read brought, recorded; None when GitHub could not be read (webhooks may still come)."""
    assert task.state.status.pr is not None
    try:
        read = await read_pull_request(task.state.status.pr.ref)
    except CallFailed as failed:
        task.note("reconcile failed", failed.message)
        return None
    changes = apply_github_read(task.state, read, with_mergeability=task.ladder)
    for change in changes:
        task.record(change)
    return changes
