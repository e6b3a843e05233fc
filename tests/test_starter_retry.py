"""`starter.py retry`: the update when awaiting_retry, its refusal otherwise, a new run after a failed run."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus

from cli.task_workflows import start_task
from models.status import TaskPhase, TaskStatus
from models.task import WorkflowInput
from settings import Settings
from tests.scripted_services import ScriptedServices, task_input
from tests.starter_process import running, starter, unique  # noqa: F401 (starter is a fixture)
from tests.waiting import wait_until


async def start(client: Client, task_queue: str, task_id: str, **options) -> str:
    handle = await start_task(client, Settings(task_queue=task_queue), WorkflowInput.model_validate(task_input(task_id, **options)))
    return handle.id


async def phase_is(client: Client, workflow_id: str, phase: TaskPhase) -> None:
    async def check() -> bool:
        status = await client.get_workflow_handle(workflow_id).query("status", result_type=TaskStatus)
        return status.phase is phase

    await wait_until(check, timeout=30, what=f"phase {phase.value}")


async def test_retry_while_awaiting_retry_starts_a_fresh_attempt(client, starter, task_queue):
    services = ScriptedServices(attempts=["failed", "pr"])
    task_id = unique()
    async with running(services.workers(client, task_queue)):
        workflow_id = await start(client, task_queue, task_id, max_attempts=1)
        await phase_is(client, workflow_id, TaskPhase.AWAITING_RETRY)
        done = await starter("retry", task_id)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"retrying {task_id}")
        await phase_is(client, workflow_id, TaskPhase.TRACKING_PR)
        await client.get_workflow_handle(workflow_id).terminate("test done")
    assert len(services.created) == 2


async def test_retry_in_another_phase_is_refused_with_the_reason(client, starter, task_queue):
    services = ScriptedServices(attempts=["hang"])
    task_id = unique()
    async with running(services.workers(client, task_queue)):
        workflow_id = await start(client, task_queue, task_id)
        await phase_is(client, workflow_id, TaskPhase.PROCESSING)
        done = await starter("retry", task_id)
        await client.get_workflow_handle(workflow_id).terminate("test done")
    assert done.returncode == 1
    assert f"task {task_id} is processing, not awaiting_retry" in done.stderr


async def test_retry_after_a_terminated_run_starts_a_new_run_from_the_original_input(client, starter, task_queue):
    task_id = unique()
    workflow_id = await start(client, task_queue, task_id, max_attempts=4)
    first = await client.get_workflow_handle(workflow_id).describe()
    await client.get_workflow_handle(workflow_id).terminate("operator mistake")
    done = await starter("retry", workflow_id)
    assert done.returncode == 0, done.stderr
    assert "the last run terminated; started a new run" in done.stdout
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert latest.status is WorkflowExecutionStatus.RUNNING and latest.run_id != first.run_id
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (raw,) = await client.data_converter.decode(history.events[0].workflow_execution_started_event_attributes.input.payloads)
    assert raw["task"]["id"] == task_id and raw["options"]["max_attempts"] == 4
    await client.get_workflow_handle(workflow_id).terminate("test done")


async def test_retry_of_a_task_with_an_outcome_is_refused(client, starter, task_queue):
    services = ScriptedServices(pr_state="closed", merged=True)
    task_id = unique()
    async with running(services.workers(client, task_queue)):
        workflow_id = await start(client, task_queue, task_id)
        await client.get_workflow_handle(workflow_id).result()
    done = await starter("retry", task_id)
    assert done.returncode == 1
    assert f"task {task_id} already finished: merged (merged)" in done.stderr
    assert (await starter("retry", unique())).returncode == 1
