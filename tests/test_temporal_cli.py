"""The Temporal CLI is a first-class client: start, query and list work with the documented names."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.status import TaskPhase
from tests.fault_harness import temporal_cli
from tests.scripted_services import ScriptedServices
from tests.waiting import wait_until


async def test_start_query_and_list_from_the_cli(dev_env: WorkflowEnvironment, client: Client, task_queue: str):
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    workflow_id = f"codegen-task-{task_id}"
    task = {"task": {"id": task_id, "title": "Fix login redirect", "type": "bug_fix"}, "context": {"repository": "acme/api"}}
    async with AsyncExitStack() as stack:
        for worker in ScriptedServices().workers(client, task_queue):
            await stack.enter_async_context(worker)
        await temporal_cli(
            dev_env,
            "workflow", "start", "--type", "CodegenTaskWorkflow", "--task-queue", task_queue,
            "--workflow-id", workflow_id, "--input", json.dumps(task),
        )  # fmt: skip

        async def tracking() -> bool:
            answer = await temporal_cli(dev_env, "workflow", "query", "--workflow-id", workflow_id, "--name", "status", "--output", "json")
            return json.loads(answer)["queryResult"][0]["phase"] == TaskPhase.TRACKING_PR

        await wait_until(tracking, what="the CLI query to report tracking_pr")

        async def listed() -> bool:
            found = await temporal_cli(dev_env, "workflow", "list", "--query", f"TaskType='bug_fix' AND TaskId='{task_id}'", "--output", "json")
            return workflow_id in found

        await wait_until(listed, what="the CLI list to find the task by TaskType")
        await client.get_workflow_handle(workflow_id).terminate("test done")


async def test_invalid_input_from_the_cli_fails_the_workflow_at_once(dev_env: WorkflowEnvironment, client: Client, task_queue: str):
    workflow_id = f"codegen-task-cli-bad-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        for worker in ScriptedServices().workers(client, task_queue):
            await stack.enter_async_context(worker)
        await temporal_cli(
            dev_env,
            "workflow", "start", "--type", "CodegenTaskWorkflow", "--task-queue", task_queue,
            "--workflow-id", workflow_id, "--input", '{"task": {"title": "x", "type": "chore", "colour": 1}}',
        )  # fmt: skip
        with pytest.raises(WorkflowFailureError) as failed:
            await client.get_workflow_handle(workflow_id).result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput"
    assert "task.type" in cause.message and "task.colour" in cause.message
