"""The agent's runs as the task sees them: start one for an attempt, resume it for a follow-up, wait for it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.calls import call
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from activities.codegen import CodegenActivities
    from models.codegen import AgentRun, ResumeRunInput, StartRunInput, WaitRunInput, codegen_api_task_queue

# Starting or resuming an agent heartbeats once it takes a while: a worker dying mid-call is noticed
# after this long, not after the minute the call may take.
AGENT_CALL_HEARTBEAT_TIMEOUT = timedelta(seconds=15)


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


async def wait_for_run(task: RunningTask, run_id: int) -> AgentRun:
    """Until the run ends; CallFailed with a TimeoutError cause means agent_timeout passed."""
    timeout = task.input.options.agent_timeout
    poll = 1.0 if task.state.status.mock_mode else 15.0
    began = workflow.now()
    try:
        return await call(
            CodegenActivities.wait_for_agent_run,
            WaitRunInput(run_id=run_id, poll_interval_seconds=poll),
            start_to_close_timeout=timeout,
            schedule_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=poll * 4 + 30),
        )
    finally:
        task.state.agent_s += (workflow.now() - began).total_seconds()
