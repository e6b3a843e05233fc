"""The agent's runs as the task sees them: start one for an attempt, resume it for a follow-up, wait for
it to end (telling it once to proceed when it waits for input), find one Codegen started on the PR by
itself, and stop the agents on a PR."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from temporalio import exceptions, workflow

from workflows.calls import COUNTED_RETRY, LOOK_RETRY, CallFailed, call
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from activities.codegen import CodegenActivities
    from activities.run_watcher import RunWatchActivities
    from models.codegen import (
        ActiveRunQuery,
        AgentRun,
        ResumeRunInput,
        RunState,
        StartRunInput,
        StopAgentInput,
        StopAgentResult,
        WaitRunInput,
        WatchRunInput,
        codegen_api_task_queue,
    )
    from models.task import temporal_priority

# Patch id: workflows that waited for their runs in a polling activity (a slot held per waiting task,
# one read per task every 15 s) replay as they ran.
WATCHED_RUNS_PATCH = "watched-agent-runs"
# A waiting task looks at its run itself when the worker's watcher has said nothing for a while: after a
# worker restart (the watcher forgot it), or with the run beyond the pages a sweep reads. The look
# answers from the watcher's recent sighting when there is one, so it costs no read in the usual case.
# The first look comes soon, then ever less often: a thousand long runs must not wake their tasks
# every few seconds.
RUN_LOOK_FIRST = timedelta(minutes=1)
RUN_LOOK_MAX = timedelta(minutes=10)
MOCK_RUN_LOOK_FIRST = timedelta(seconds=5)
MOCK_RUN_LOOK_MAX = timedelta(minutes=1)

# Starting or resuming an agent heartbeats once it takes a while: a worker dying mid-call is noticed
# after this long, not after the minutes the call may take.
AGENT_CALL_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# A try may wait for read slots (the look for an earlier try's run) before it creates: generous, so that a
# busy read budget never times out a try whose create is in flight (its retry would make a second run).
AGENT_CALL_TIMEOUT = timedelta(minutes=10)
# What a paused run (a plan waiting for approval, a question) is told, once.
PROCEED_INSTRUCTION = (
    "Proceed without waiting for confirmation: nobody will answer questions or approve plans here. "
    "Make the changes you judge best and open the pull request."
)


async def start_run(task: RunningTask, input: StartRunInput) -> AgentRun:
    return await call(CodegenActivities.start_agent_run, input, **_starting_agent_work(task))


async def resume_run(task: RunningTask, input: ResumeRunInput) -> AgentRun:
    return await call(CodegenActivities.resume_agent_run, input, **_starting_agent_work(task))


def _starting_agent_work(task: RunningTask) -> dict[str, Any]:
    """On the rate-limited queue, so every worker together keeps to Codegen's creation limit.

    With a deep backlog a slot can take hours to come: waiting for one is no failure, so no deadline
    counts it (a schedule-to-close timeout would). Tries are counted instead.
    The task's priority and repository order the queue. The repository is always set here; the priority
    key only where the workflow's own differs (started by `temporal workflow start` without one, or changed
    by `starter.py priority`): a request that inherits it is requeued by the server at the workflow's new
    priority when `starter.py priority` changes that, while one with its own key keeps it.
    """
    wanted = temporal_priority(task.input, task.priority)
    inherited = workflow.info().priority.priority_key
    return {
        "task_queue": codegen_api_task_queue(workflow.info().task_queue),
        "priority": wanted if wanted.priority_key != inherited else dataclasses.replace(wanted, priority_key=None),
        "start_to_close_timeout": AGENT_CALL_TIMEOUT,
        "schedule_to_close_timeout": None,
        "retry_policy": COUNTED_RETRY,
        "heartbeat_timeout": AGENT_CALL_HEARTBEAT_TIMEOUT,
    }


class AgentTimedOut(Exception):
    """The run did not end within agent_timeout (and any grace after being told to proceed)."""


async def run_to_end(task: RunningTask, run: AgentRun) -> AgentRun:
    """The run once it has ended; PAUSED when it still waits for input after being told once to proceed.

    AgentTimedOut when agent_timeout passes first.
    """
    run = await wait_for_run(task, run)
    if run.state is not RunState.PAUSED:
        return run
    task.state.status.agent_runs[-1].status = run.status
    task.note("agent waiting for input", run.web_url or f"run {run.id}")
    task.publish()
    options = task.input.options
    resumed = await resume_run(
        task,
        ResumeRunInput(
            run_id=run.id,
            prompt=PROCEED_INSTRUCTION,
            task_id=task.state.status.task_id,
            workflow_id=workflow.info().workflow_id,
            followup=0,
            model=options.agent_model,
        )
    )
    task.note("agent told to proceed", f"it may wait for input up to {options.agent_pause_timeout} more")
    return await wait_for_run(task, resumed, paused_grace=options.agent_pause_timeout)


async def wait_for_run(task: RunningTask, run: AgentRun, paused_grace: timedelta = timedelta(0)) -> AgentRun:
    """Until the run ends or waits for input; AgentTimedOut when agent_timeout (plus `paused_grace`) passes.

    Right after a resume Codegen may still say PAUSED: with `paused_grace`, a run not seen in another
    status since the wait began ends the wait as PAUSED only once it has been PAUSED that long.
    """
    timeout = task.input.options.agent_timeout + paused_grace
    began = workflow.now()
    try:
        if task.patched(WATCHED_RUNS_PATCH):
            return await _watched_until_it_ends(task, run, began + timeout, paused_grace)
        return await _polled_until_it_ends(task, run.id, timeout, paused_grace)
    finally:
        # A run evicted from the worker's cache mid-wait is torn down outside the workflow's loop: no clock, no state.
        if workflow.in_workflow():
            task.state.agent_s += (workflow.now() - began).total_seconds()


async def _watched_until_it_ends(task: RunningTask, run: AgentRun, deadline: datetime, paused_grace: timedelta) -> AgentRun:
    """Waits holding no activity slot: the worker's run watcher signals a change, and the task's own
    timer looks at the run when the watcher has said nothing for a while."""
    mock = task.state.status.mock_mode
    look_every, look_max = (MOCK_RUN_LOOK_FIRST, MOCK_RUN_LOOK_MAX) if mock else (RUN_LOOK_FIRST, RUN_LOOK_MAX)
    task.awaited_run_id, task.run_news = run.id, None
    await _look_at(task, run, read=False)
    latest, seen_other = run, False
    paused_since = workflow.now() if paused_grace and run.state is RunState.PAUSED else None
    while True:
        now = workflow.now()
        if now >= deadline:
            raise AgentTimedOut(f"agent run {run.id} did not end by {deadline.isoformat(timespec='seconds')}")
        wait = min(look_every, deadline - now)
        if paused_since is not None:
            wait = max(min(wait, paused_since + paused_grace - now), timedelta(seconds=1))
        if await task.wait(lambda: task.run_news is not None, wait):
            latest, task.run_news = task.run_news or latest, None
        else:
            latest = await _look_at(task, latest, read=True) or latest
            look_every = min(look_every * 2, look_max)
        if latest.state in (RunState.COMPLETE, RunState.FAILED):
            return latest
        if latest.state is not RunState.PAUSED:
            seen_other, paused_since = True, None
            continue
        if not paused_grace or seen_other:
            return latest
        paused_since = paused_since or workflow.now()
        if workflow.now() - paused_since >= paused_grace:
            return latest


async def _look_at(task: RunningTask, run: AgentRun, *, read: bool) -> AgentRun | None:
    """Register the run with the worker's watcher and, with `read`, see it as it is now; None when Codegen
    could not be read (the next look tries again)."""
    try:
        sighting = await call(
            RunWatchActivities.watch_agent_run,
            WatchRunInput(run_id=run.id, workflow_id=workflow.info().workflow_id, status=run.status, created_at=run.created_at, read=read),
            local=True,
            start_to_close_timeout=timedelta(minutes=1),
            schedule_to_close_timeout=timedelta(minutes=3),
            retry_policy=LOOK_RETRY,
        )
    except CallFailed as failed:
        task.note("agent run not read", failed.message)
        return None
    return sighting.run


async def _polled_until_it_ends(task: RunningTask, run_id: int, timeout: timedelta, paused_grace: timedelta) -> AgentRun:
    """How runs were waited for before the watcher: an activity polling the run, holding a slot."""
    poll = 1.0 if task.state.status.mock_mode else 15.0
    try:
        return await call(
            CodegenActivities.wait_for_agent_run,
            WaitRunInput(run_id=run_id, poll_interval_seconds=poll, paused_grace_seconds=paused_grace.total_seconds()),
            start_to_close_timeout=timeout,
            schedule_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=poll * 4 + 30),
        )
    except CallFailed as failed:
        if isinstance(failed.cause, exceptions.TimeoutError):
            raise AgentTimedOut(failed.message) from failed
        raise


async def find_active_run(task: RunningTask) -> AgentRun | None:
    """A run already working on the task's PR: Codegen's checks auto-fixer, or its reply to a comment."""
    pr = task.state.status.pr
    assert pr is not None
    result = await call(
        CodegenActivities.find_active_run_on_pr,
        # From the task's start: Codegen's fixer may wake on the PR before this workflow has read it.
        ActiveRunQuery(pr_url=pr.url, created_after=task.state.status.started_at),
        start_to_close_timeout=timedelta(minutes=1),
    )
    return result.run


async def stop_agents_on_pr(task: RunningTask, run_id: int) -> StopAgentResult:
    return await call(CodegenActivities.stop_agent_on_pr, StopAgentInput(run_id=run_id), start_to_close_timeout=timedelta(minutes=1))
