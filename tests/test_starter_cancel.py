"""`starter.py cancel`: the task ends cancelled with its PR left open; refusals; a request no worker has taken yet."""

from __future__ import annotations

from temporalio.client import Client

from cli.task_workflows import start_task
from models.status import TaskOutcome, TaskPhase, TaskStatus
from models.task import WorkflowInput
from settings import Settings
from tests.scripted_services import ScriptedServices, task_input
from tests.starter_process import running, starter, unique  # noqa: F401 (starter is a fixture)
from tests.waiting import wait_until


async def start(client: Client, task_queue: str, task_id: str) -> str:
    handle = await start_task(client, Settings(task_queue=task_queue), WorkflowInput.model_validate(task_input(task_id)))
    return handle.id


async def test_cancel_ends_a_task_tracking_its_pr_and_says_the_pr_stays_open(client, starter, task_queue):
    services = ScriptedServices()
    task_id = unique()
    async with running(services.workers(client, task_queue)):
        workflow_id = await start(client, task_queue, task_id)

        async def tracking() -> bool:
            status = await client.get_workflow_handle(workflow_id).query("status", result_type=TaskStatus)
            return status.phase is TaskPhase.TRACKING_PR

        await wait_until(tracking, timeout=30, what="phase tracking_pr")
        done = await starter("cancel", task_id)
        again = await starter("cancel", workflow_id)

    assert done.returncode == 0, done.stderr
    assert "Outcome    failed (cancelled) the workflow was cancelled" in done.stdout
    assert "The PR stays open: Codegen confirmed its agents on it stopped; close it on GitHub if it is not wanted (https://github.com/acme/api/pull/7)" in done.stdout
    outcome = await client.get_workflow_handle(workflow_id, result_type=TaskOutcome).result()
    assert (outcome.status, outcome.reason.value, outcome.pr.status) == ("failed", "cancelled", "open")
    assert again.returncode == 1
    assert again.stderr == f"task {workflow_id} is not running (completed): nothing to cancel\n"


async def test_cancel_of_an_unknown_task_exits_1(starter):
    done = await starter("cancel", "no-such-task")
    assert done.returncode == 1
    assert done.stderr == "no task no-such-task (workflow codegen-task-no-such-task not found, and no task workflow has TaskId 'no-such-task')\n"


async def test_a_cancel_no_worker_takes_in_time_is_kept_until_one_does(client, starter, task_queue):
    task_id = unique()
    workflow_id = await start(client, task_queue, task_id)
    done = await starter("cancel", task_id, "--wait", "1", "--json")
    assert done.returncode == 3
    assert "is worker.py running? The task ends when one picks it up" in done.stderr

    services = ScriptedServices()
    async with running(services.workers(client, task_queue)):
        outcome = await client.get_workflow_handle(workflow_id, result_type=TaskOutcome).result()
    assert (outcome.status, outcome.reason.value) == ("failed", "cancelled")
    assert services.created == []  # cancelled before its first step: no agent run started
