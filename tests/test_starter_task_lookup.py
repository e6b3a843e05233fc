"""A task started under another workflow id than codegen-task-<task id> is found by its task id.

`temporal workflow start --workflow-id codegen-task-X` with task id `Y` lists as `Y`; `status Y`,
`watch Y`, `retry Y` and `cancel Y` find it through the TaskId search attribute. Visibility is
eventually consistent, so every first lookup is polled with a deadline.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cli.task_workflows import start_task
from models.names import WORKFLOW_NAME
from models.task import WorkflowInput
from settings import Settings
from tests.scripted_services import ScriptedServices, task_input
from tests.starter_process import Finished, Starter, running, starter, unique  # noqa: F401 (starter is a fixture)
from tests.waiting import wait_until

VISIBILITY_DEADLINE_S = 30


async def found(starter: Starter, *args: str) -> Finished:
    """`starter.py <args>` once it finds the task (exit other than 1 "no task"), polled with a deadline."""

    async def attempt() -> Finished | None:
        done = await starter(*args)
        return None if done.stderr.startswith("no task ") else done

    return await wait_until(attempt, timeout=VISIBILITY_DEADLINE_S, interval=0.3, what=f"starter.py {' '.join(args)} to find the task")


async def test_a_task_started_by_hand_under_another_workflow_id_is_found_by_its_task_id(client, starter, task_queue):
    services = ScriptedServices(attempts=["hang"])
    task_id, workflow_id = unique("y"), f"codegen-task-{unique('x')}"
    async with running(services.workers(client, task_queue)):
        # As `temporal workflow start` does it: no search attributes at start, the workflow sets TaskId.
        await client.start_workflow(WORKFLOW_NAME, task_input(task_id), id=workflow_id, task_queue=task_queue)

        status = await found(starter, "status", task_id, "--json")
        assert status.returncode == 0, status.stderr
        assert status.json()["workflow_id"] == workflow_id
        human = await starter("status", task_id)
        assert human.returncode == 0 and f"Workflow   {workflow_id}  " in human.stdout, human.stdout

        refused = await starter("retry", task_id)
        assert refused.returncode == 1 and f"task {task_id} is " in refused.stderr and "not awaiting_retry" in refused.stderr

        cancelled = await starter("cancel", task_id, "--json")
        assert cancelled.returncode == 0, cancelled.stderr
        assert (cancelled.json()["workflow_id"], cancelled.json()["reason"]) == (workflow_id, "cancelled")

    watched = await starter("watch", task_id)
    assert watched.returncode == 1  # ended, not merged
    assert watched.stdout.startswith(f"watching {workflow_id}  "), watched.stdout
    assert "Outcome    failed (cancelled)" in watched.stdout


async def test_retry_by_task_id_restarts_the_workflow_it_was_started_as(client, starter, task_queue):
    task_id, workflow_id = unique("y"), f"codegen-task-{unique('x')}"
    settings = Settings(task_queue=task_queue)
    # As `temporal workflow start --search-attribute TaskId=...` does it: findable with no worker running.
    await start_task(client, settings, WorkflowInput.model_validate(task_input(task_id)), workflow_id=workflow_id)
    first = await client.get_workflow_handle(workflow_id).describe()
    await client.get_workflow_handle(workflow_id).terminate("operator mistake")
    await found(starter, "status", task_id)

    done = await starter("retry", task_id)
    assert done.returncode == 0, done.stderr
    assert "the last run terminated; started a new run" in done.stdout and f"of {workflow_id}\n" in done.stdout
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert latest.status is WorkflowExecutionStatus.RUNNING and latest.run_id != first.run_id
    # No second workflow under the derived id (a direct read: visibility may not show one yet).
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(f"codegen-task-{task_id}").describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    await client.get_workflow_handle(workflow_id).terminate("test done")


async def test_a_task_id_several_workflows_carry_is_refused_with_their_ids(client, starter, task_queue):
    task_id = unique("y")
    settings = Settings(task_queue=task_queue)
    workflow_ids = sorted(f"codegen-task-{unique('x')}" for _ in range(2))
    for workflow_id in workflow_ids:
        await start_task(client, settings, WorkflowInput.model_validate(task_input(task_id)), workflow_id=workflow_id)

    async def both_listed() -> Finished | None:
        done = await starter("status", task_id)
        return done if all(workflow_id in done.stderr for workflow_id in workflow_ids) else None

    try:
        status = await wait_until(both_listed, timeout=VISIBILITY_DEADLINE_S, interval=0.3, what="both workflows named")
        assert status.returncode == 1 and status.stdout == ""
        [line] = status.stderr.splitlines()
        assert line.startswith(f"task {task_id} is ambiguous: 2 workflows have TaskId '{task_id}': ")
        assert line.endswith("; name one by its workflow id")
        for command in ("watch", "retry", "cancel"):
            done = await starter(command, task_id)
            assert done.returncode == 1 and done.stderr.startswith(f"task {task_id} is ambiguous: 2 workflows"), (command, done.stderr)
        # Named by workflow id, each is found.
        for workflow_id in workflow_ids:
            assert (await starter("status", workflow_id)).returncode == 0
    finally:
        for workflow_id in workflow_ids:
            await client.get_workflow_handle(workflow_id).terminate("test done")
