"""`starter.py priority TASK N`: change a task's priority (1 first, 5 last).

The task takes it at once (its `set_priority` update): its place in its repository's line for a slot moves,
and every request for an agent it makes from then on carries it. Then the workflow's own priority is set on
the server, which requeues the task's waiting requests that inherit it (a request for an agent run in the
creation queue, normally) at the new priority. A request that carries a priority of its own (the task's,
when the workflow was started without one) keeps it: the command says which happened.
"""

from __future__ import annotations

import argparse

from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.common.v1 import Priority, WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionOptionsRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import fail
from cli.task_workflows import TaskLookupError, find_task
from cli.updates import send_update
from models.names import UPDATE_PRIORITY
from settings import Settings

CREATION_ACTIVITIES = ("start_agent_run", "resume_agent_run")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `priority` subcommand."""
    parser = subparsers.add_parser("priority", help="change a task's priority (1 first … 5 last)")
    parser.add_argument("id", metavar="TASK", help="task id or workflow id")
    parser.add_argument("priority", type=_priority, metavar="N", help="1 (first) to 5 (last)")
    parser.set_defaults(run=run)


def _priority(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise argparse.ArgumentTypeError(f"a priority is a whole number from 1 (first) to 5 (last), not {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    async def priority(client: Client, settings: Settings) -> int:
        return await change_priority(client, settings, args.id, args.priority)

    return run_with_client(priority)


async def change_priority(client: Client, settings: Settings, reference: str, priority: int) -> int:
    try:
        description = await find_task(client, settings, reference)
    except TaskLookupError as error:
        return fail(str(error), exit_codes.FAILURE)
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return fail(f"task {reference} is not running ({description.status.name.lower() if description.status else 'unknown'})", exit_codes.FAILURE)
    handle = client.get_workflow_handle(description.id)
    updated = await send_update(handle, UPDATE_PRIORITY, priority)
    if updated != exit_codes.OK:
        return updated
    try:
        await client.workflow_service.update_workflow_execution_options(
            UpdateWorkflowExecutionOptionsRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=description.id),
                workflow_execution_options=WorkflowExecutionOptions(priority=Priority(priority_key=priority)),
                update_mask=FieldMask(paths=["priority.priority_key"]),
            )
        )
    except RPCError as error:
        print(f"the Temporal server cannot change the workflow's own priority ({error.message}): a request it has queued keeps its priority")
        return exit_codes.OK
    creating = await _queued_creation(handle)
    if creating is not None:
        kept = creating.priority.priority_key
        print(
            f"its request for an agent run in the creation queue keeps priority {kept}, which the task gave it itself (started "
            "without a priority of its own); the new one applies from its next request"
            if kept and kept != priority
            else f"its request for an agent run in the creation queue moves to priority {priority}"
        )
    return exit_codes.OK


async def _queued_creation(handle: WorkflowHandle) -> PendingActivityInfo | None:
    """The task's request to create or resume an agent run while it still waits in the queue."""
    described = await handle.describe()
    return next(
        (
            pending
            for pending in described.raw_description.pending_activities
            if pending.activity_type.name in CREATION_ACTIVITIES and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        ),
        None,
    )
