"""The agent's runs as the task sees them: start one for an attempt, resume it for a follow-up, wait for
it to end (telling it once to proceed when it waits for input), find one Codegen started on the PR by
itself, and stop the agents on a PR."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.calls import call
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from activities.codegen import CodegenActivities
    from models.codegen import (
        ActiveRunQuery,
        AgentRun,
        ResumeRunInput,
        RunState,
        StartRunInput,
        StopAgentInput,
        StopAgentResult,
        WaitRunInput,
        codegen_api_task_queue,
    )

# Starting or resuming an agent heartbeats once it takes a while: a worker dying mid-call is noticed
# after this long, not after the minute the call may take.
AGENT_CALL_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# What a paused run (a plan waiting for approval, a question) is told, once.
PROCEED_INSTRUCTION = (
    "Proceed without waiting for confirmation: nobody will answer questions or approve plans here. "
    "Make the changes you judge best and open the pull request."
)


async def start_run(input: StartRunInput) -> AgentRun:
    return await call(CodegenActivities.start_agent_run, input, **_starting_agent_work())


async def resume_run(input: ResumeRunInput) -> AgentRun:
    return await call(CodegenActivities.resume_agent_run, input, **_starting_agent_work())


def _starting_agent_work() -> dict[str, Any]:
    """On the rate-limited queue, so every worker together keeps to Codegen's creation limit."""
    return {
        "task_queue": codegen_api_task_queue(workflow.info().task_queue),
        "start_to_close_timeout": timedelta(minutes=1),
        "schedule_to_close_timeout": timedelta(minutes=30),
        "heartbeat_timeout": AGENT_CALL_HEARTBEAT_TIMEOUT,
    }


async def run_to_end(task: RunningTask, run_id: int) -> AgentRun:
    """The run once it has ended; PAUSED when it still waits for input after being told once to proceed.

    CallFailed with a TimeoutError cause means agent_timeout passed.
    """
    run = await wait_for_run(task, run_id)
    if run.state is not RunState.PAUSED:
        return run
    task.state.status.agent_runs[-1].status = run.status
    task.note("agent waiting for input", run.web_url or f"run {run.id}")
    task.publish()
    options = task.input.options
    await resume_run(
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
    return await wait_for_run(task, run.id, paused_grace=options.agent_pause_timeout)


async def wait_for_run(task: RunningTask, run_id: int, paused_grace: timedelta = timedelta(0)) -> AgentRun:
    """Until the run ends or waits for input; CallFailed with a TimeoutError cause means agent_timeout passed."""
    timeout = task.input.options.agent_timeout + paused_grace
    poll = 1.0 if task.state.status.mock_mode else 15.0
    began = workflow.now()
    try:
        return await call(
            CodegenActivities.wait_for_agent_run,
            WaitRunInput(run_id=run_id, poll_interval_seconds=poll, paused_grace_seconds=paused_grace.total_seconds()),
            start_to_close_timeout=timeout,
            schedule_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=poll * 4 + 30),
        )
    finally:
        task.state.agent_s += (workflow.now() - began).total_seconds()


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
