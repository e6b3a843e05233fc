"""Following the PR until it is merged or closed: signals as they come, follow-ups when due, the service's own
writes when due (merge_when_green), a GitHub read when quiet, expiry at pr_timeout, and continue-as-new when the
history grows long."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

from workflows import followup_policy as policy
from workflows import merge_policy
from workflows.calls import CallFailed, TaskFinished
from workflows.followups import follow_up
from workflows.merging import write
from workflows.pr_reads import read_pull_request, reconcile
from workflows.pr_tracking import apply_github_read, pr_finished, verdict
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from models.followup import FollowupKind
    from models.status import Reason, TaskPhase

# Patch id: workflows that sent follow-ups without looking for a Codegen run already on the PR, and
# answered reviews by Codegen's review bot, replay as they ran.
ONE_FIXER_PATCH = "one-fixer-per-head"
MOCK_RECONCILE_INTERVAL = timedelta(seconds=3)
MOCK_RECONCILE_MAX_INTERVAL = timedelta(seconds=15)
REAL_RECONCILE_INTERVAL = timedelta(minutes=10)
REAL_FOLLOWUP_SETTLE = timedelta(seconds=60)
MOCK_FOLLOWUP_SETTLE = timedelta(seconds=2)
# GitHub computes mergeability in the background after a change: the first re-read this soon, then doubling.
REAL_MERGEABILITY_REREAD = timedelta(seconds=5)
MOCK_MERGEABILITY_REREAD = timedelta(seconds=1)


async def follow_pull_request(task: RunningTask) -> None:
    """Until merged or closed: apply signals as they come, send failures back to the agent, read GitHub when quiet."""
    state, options = task.state, task.input.options
    mock_defaults = state.status.mock_mode
    base = options.reconcile_interval or (MOCK_RECONCILE_INTERVAL if mock_defaults else REAL_RECONCILE_INTERVAL)
    ceiling = MOCK_RECONCILE_MAX_INTERVAL if mock_defaults and options.reconcile_interval is None else options.reconcile_max_interval
    settle = options.followup_settle or (MOCK_FOLLOWUP_SETTLE if mock_defaults else REAL_FOLLOWUP_SETTLE)
    assert state.pr_opened_at is not None
    deadline = state.pr_opened_at + options.pr_timeout
    reread_base = MOCK_MERGEABILITY_REREAD if mock_defaults else REAL_MERGEABILITY_REREAD
    interval, reread = base, reread_base
    next_read: asyncio.Future[None] | None = None
    read_at = workflow.now()
    # After a write GitHub could not take, the next one waits for news or the next read.
    hold_writes = False
    task.one_fixer = task.patched(ONE_FIXER_PATCH)
    task_type = task.input.task.type
    while not pr_finished(state):
        # While GitHub cannot say, the task goes on as before (expiry included) and asks again next round.
        if state.reported_close is not None and await _confirm_close(task):
            continue
        if state.status.iterations_to_green is None and verdict(state) == "passing":
            state.status.iterations_to_green = state.status.followups
        due = policy.due_followup(state, options, task.ignored_bots, ladder=task.ladder)
        if due is None and policy.awaiting_agent_push(state, settle, workflow.now(), ladder=task.ladder):
            # The follow-up's commit usually lands right after its run ends: give it the settle window.
            task.changed = False
            await task.wait(lambda: task.changed, settle)
            continue
        writing = None
        if task.ladder and due is None and not hold_writes:
            writing = merge_policy.due_write(state, options, task_type, task.ignored_bots)
        _show_attention(task, due)
        task.publish()
        if workflow.info().is_continue_as_new_suggested():
            await _continue_as_new(task)
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            raise TaskFinished(Reason.EXPIRED, f"the PR was neither merged nor closed within {options.pr_timeout}")
        task.changed = False
        if due == "fix_checks":
            # Late checks may still arrive; any change means judging again.
            if not await task.wait(lambda: task.changed, min(settle, remaining)):
                await follow_up(task, due)
            continue
        if due is not None:
            await follow_up(task, due)
            continue
        if writing is not None:
            hold_writes = not await write(task, writing)
            continue
        wait_for = min(interval, remaining)
        if task.ladder and merge_policy.mergeability_pending(state, options, task_type):
            # GitHub answered null while computing whether the PR merges: ask again shortly.
            wait_for = min(wait_for, reread)
            if next_read is not None and read_at > workflow.now() + wait_for:
                next_read = None
        if next_read is None:
            # One timer per read, kept while signals come and go (restarting it on each signal
            # cost two timer commands per webhook): webhooks flowing make reads less needed, not more.
            next_read = asyncio.ensure_future(workflow.sleep(wait_for))
            read_at = workflow.now() + wait_for
        await workflow.wait_condition(_changed_or_done(task, next_read))
        if task.changed:
            interval, hold_writes = base, False
            continue
        next_read, hold_writes = None, False
        if workflow.now() >= deadline:
            continue
        interval = base if await reconcile(task) else min(interval * 2, ceiling)
        reread = reread * 2 if task.ladder and merge_policy.mergeability_pending(state, options, task_type) else reread_base


def _changed_or_done(task: RunningTask, timer: asyncio.Future[None]) -> Callable[[], bool]:
    return lambda: task.changed or timer.done()


def _show_attention(task: RunningTask, due: FollowupKind | None) -> None:
    """needs_attention when failures remain that no follow-up will handle, or GitHub refused a write: a person must act."""
    error = policy.attention_needed(task.state, task.input.options, due, task.ignored_bots, ladder=task.ladder)
    task.state.status.error = error
    if error is None:
        task.set_phase(TaskPhase.TRACKING_PR)
        return
    if task.state.status.phase is not TaskPhase.NEEDS_ATTENTION:
        task.note("needs attention", error.message)
    task.set_phase(TaskPhase.NEEDS_ATTENTION)


async def _confirm_close(task: RunningTask) -> bool:
    """Ends the task only if GitHub shows the PR closed too; False when GitHub could not be read."""
    state = task.state
    assert state.status.pr is not None and state.reported_close is not None
    try:
        read = await read_pull_request(state.status.pr.ref)
    except CallFailed as failed:
        task.note("close not confirmed yet", failed.message)
        return False
    for change in apply_github_read(state, read, with_mergeability=task.ladder):
        task.record(change)
    if not pr_finished(state):
        reported = "merged" if state.reported_close.merged else "closed"
        task.note("close not confirmed", f"a webhook said {reported}; GitHub shows the PR {state.status.pr.status} at {state.status.pr.head_sha[:7]}")
    state.reported_close = None
    return True


async def _continue_as_new(task: RunningTask) -> None:
    """A fresh history, carrying the whole state: the next run resumes exactly where this one stopped."""
    await workflow.wait_condition(workflow.all_handlers_finished)
    next_input = task.input.model_copy(update={"carried_state": task.state.model_dump(mode="json")})
    workflow.continue_as_new(next_input.model_dump(mode="json"))
