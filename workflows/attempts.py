"""Getting a pull request: attempts (prompt, agent run, PR opened) until one opens a PR, then waiting for a retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.agent import AgentTimedOut, run_to_end, start_run
from workflows.calls import CallFailed, TaskFinished, call
from workflows.pr_reads import read_pull_request
from workflows.running_task import RunningTask
from workflows.slot_holding import QUEUED_PATCH, RATE_LIMIT_WAIT, hold_repository_slot, release_repository_slot

with workflow.unsafe.imports_passed_through():
    from activities.prompts import PromptActivities
    from models.codegen import AgentRun, PullRequestRef, RunState, StartRunInput
    from models.github import PullRequestRead
    from models.prompt import PromptInput, PromptOptions
    from models.status import AgentRunRecord, AttemptOutcome, AttemptRecord, ErrorInfo, Reason, TaskPhase

# Between rounds of reading a new PR while GitHub does not answer (each round is COUNTED_RETRY's attempts).
OPENED_PR_READ_PAUSE = timedelta(minutes=1)
OPENED_PR_READ_MAX_PAUSE = timedelta(minutes=30)


@dataclass
class FailedAttempt:
    reason: Reason
    message: str


async def obtain_pull_request(task: RunningTask) -> PullRequestRead:
    """Attempts until one opens a PR, read from GitHub; when they run out, wait for a `retry` update."""
    options = task.input.options
    while True:
        outcome = await _run_attempts(task, options.max_attempts)
        if isinstance(outcome, PullRequestRead):
            return outcome
        # No attempt runs until a person asks for one: the repository's slot goes to another task meanwhile.
        await release_repository_slot(task)
        task.set_phase(TaskPhase.AWAITING_RETRY, codegen_status="failed")
        task.state.status.error = ErrorInfo(reason=outcome.reason, message=outcome.message)
        task.note("awaiting retry", f"all attempts failed; send the retry update within {options.retry_window}")
        task.publish()
        task.state.retry_requested = False
        if not await task.wait(lambda: task.state.retry_requested, options.retry_window):
            raise TaskFinished(outcome.reason, f"no retry within {options.retry_window}; last failure: {outcome.message}")
        task.state.status.error = None
        task.note("retry requested")


async def _run_attempts(task: RunningTask, budget: int) -> PullRequestRead | FailedAttempt:
    """Up to `budget` attempts, pausing longer before each: the PR once one opens it, else the last failure."""
    outcome = await _attempt(task)
    for index in range(1, budget):
        if isinstance(outcome, PullRequestRead):
            break
        pause = task.input.options.attempt_backoff * (2 ** (index - 1))
        task.set_phase(TaskPhase.RETRYING, codegen_status="retrying")
        task.note("backing off", f"next attempt in {pause}")
        task.publish()
        await workflow.sleep(pause)
        outcome = await _attempt(task)
    return outcome


async def _attempt(task: RunningTask) -> PullRequestRead | FailedAttempt:
    status = task.state.status
    status.attempt += 1
    record = AttemptRecord(number=status.attempt, started_at=workflow.now())
    status.attempts.append(record)
    try:
        return await _attempt_steps(task, record)
    except CallFailed as failed:
        # Retries ran out (service down for longer than CALL_BUDGET): a failed attempt, not a lost task.
        return _attempt_failed(task, record, "failed", Reason.SERVICE_UNAVAILABLE, failed.message)


async def _attempt_steps(task: RunningTask, record: AttemptRecord) -> PullRequestRead | FailedAttempt:
    state, input, options = task.state, task.input, task.input.options
    # Asked before the prompt's local activity: a patch marker right after one fails the replay.
    queues = task.patched(QUEUED_PATCH)
    # Not published: rendering takes milliseconds, and each upsert is a visibility write.
    task.set_phase(TaskPhase.GENERATING_PROMPT, codegen_status="pending")
    began = workflow.now()
    prompt = await call(
        PromptActivities.generate_prompt,
        PromptInput(
            task=input.task,
            context=input.context,
            options=PromptOptions(
                max_context_size=options.max_context_size,
                include_code_examples=options.include_code_examples,
                enhance_with_best_practices=options.enhance_with_best_practices,
            ),
            previous_failures=[a.error for a in state.status.attempts if a.error],
            built_on=input.built_on,
        ),
        local=True,
        start_to_close_timeout=timedelta(seconds=30),
    )
    state.prompt_s += (workflow.now() - began).total_seconds()

    if queues:
        await hold_repository_slot(task)
        task.queue("agent_rate", RATE_LIMIT_WAIT)
    else:
        task.set_phase(TaskPhase.PROCESSING, codegen_status="processing")
    task.publish()
    try:
        run = await _start(task, record, prompt.content)
    except TaskFinished as refused:
        # Refused for good (no repository connected, a bad key): the outcome still says which Codegen answered.
        state.status.mock_mode = any(isinstance(d, dict) and d.get("mock_mode") for d in refused.details)
        raise
    except CallFailed:
        # Codegen may have created the run without the answer reaching us: the next attempt looks for it first.
        state.unanswered_create_at = state.unanswered_create_at or record.started_at
        raise
    state.unanswered_create_at = None
    task.set_phase(TaskPhase.PROCESSING, codegen_status="processing")
    state.status.mock_mode = run.mock_mode
    record.agent_run_id = run.id
    state.status.agent_runs.append(AgentRunRecord(id=run.id, web_url=run.web_url, status=run.status, attempt=record.number))
    task.note("agent run started", run.web_url or f"run {run.id}")
    task.publish()

    try:
        run = await run_to_end(task, run)
    except AgentTimedOut:
        message = f"agent run {run.id} did not finish within {options.agent_timeout}"
        return _attempt_failed(task, record, "timed_out", Reason.AGENT_TIMEOUT, message)
    state.status.agent_runs[-1].status = run.status

    if run.state is RunState.PAUSED:
        message = f"agent run {run.id} still waits for input after being told to proceed: {run.web_url or 'no link given'}"
        return _attempt_failed(task, record, "paused", Reason.AGENT_PAUSED, message)
    if run.state is RunState.FAILED:
        detail = run.result or run.summary or "no detail given"
        return _attempt_failed(task, record, "failed", Reason.CODEGEN_FAILED, f"agent run {run.id} ended {run.status}: {detail}")
    opened = next((pr.ref for pr in run.pull_requests if pr.ref), None)
    if opened is None:
        return _attempt_failed(task, record, "no_pr", Reason.NO_PR, f"agent run {run.id} completed without opening a pull request")

    record.outcome, record.finished_at = "pr_opened", workflow.now()
    state.status.agent_summary = run.summary or run.result
    read = await _read_opened_pull_request(task, opened)
    state.pr_opened_at = workflow.now()
    state.pr_run_id = run.id
    return read


async def _start(task: RunningTask, record: AttemptRecord, prompt: str) -> AgentRun:
    input, options = task.input, task.input.options
    return await start_run(
        task,
        StartRunInput(
            task_id=task.state.status.task_id,
            workflow_id=workflow.info().workflow_id,
            attempt=record.number,
            prompt=prompt,
            repository=input.context.repository,
            metadata=_scenario_metadata(input.task.metadata),
            model=options.agent_model,
            first_execution_run_id=workflow.info().first_execution_run_id,
            known_run_ids=[run.id for run in task.state.status.agent_runs],
            unanswered_since=task.state.unanswered_create_at,
        )
    )


async def _read_opened_pull_request(task: RunningTask, ref: PullRequestRef) -> PullRequestRead:
    """The agent's new PR, read until GitHub answers or pr_timeout passes: failing the attempt on a
    GitHub outage would start a second agent, and a second PR."""
    pr_timeout = task.input.options.pr_timeout
    deadline = workflow.now() + pr_timeout
    pause = OPENED_PR_READ_PAUSE
    while True:
        try:
            return await read_pull_request(ref)
        except CallFailed as failed:
            if workflow.now() + pause >= deadline:
                message = f"GitHub did not answer for {ref.key} within {pr_timeout}: {failed.message}"
                raise TaskFinished(Reason.SERVICE_UNAVAILABLE, message) from failed
            task.note("PR read failed; retrying", failed.message)
            await workflow.sleep(pause)
            pause = min(pause * 2, OPENED_PR_READ_MAX_PAUSE)


def _attempt_failed(task: RunningTask, record: AttemptRecord, outcome: AttemptOutcome, reason: Reason, message: str) -> FailedAttempt:
    record.outcome, record.finished_at, record.error = outcome, workflow.now(), message
    task.state.status.error = ErrorInfo(reason=reason, message=message)
    task.note(f"attempt {record.number} {outcome.replace('_', ' ')}", message)
    return FailedAttempt(reason, message)


def _scenario_metadata(task_metadata: dict[str, Any]) -> dict[str, Any]:
    """Only the fake reads `scenario` (fault injection per task); the real API just stores it."""
    return {"scenario": task_metadata["scenario"]} if "scenario" in task_metadata else {}
