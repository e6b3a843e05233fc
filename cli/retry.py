"""`starter.py retry ID`: the `retry` update for a task waiting for one, a new run after a failed run, or,
for a graph's task that ended unmerged, its graph's `retry_task`."""

from __future__ import annotations

import argparse

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
)

from cli import exit_codes
from cli.connection import run_with_client
from cli.graphs import act_on_task
from cli.output import fail
from cli.task_workflows import TaskLookupError, find_task, start_task, web_ui_url
from cli.updates import send_update
from models.errors import describe_validation_error
from models.names import GRAPH_ID, UPDATE_GRAPH_RETRY, UPDATE_RETRY, WORKFLOW_ID_PREFIX
from models.status import TaskOutcome
from models.task import WorkflowInput
from settings import Settings

# Runs that ended without an outcome: a bug, a terminate, a timeout. They start over; an outcome is final.
RESTARTABLE = frozenset({
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
    WorkflowExecutionStatus.CANCELED,
})


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `retry` subcommand."""
    parser = subparsers.add_parser("retry", help="retry a task waiting in awaiting_retry, or restart a failed run")
    parser.add_argument("id", metavar="ID", help="task id or workflow id")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def retry(client: Client, settings: Settings) -> int:
        return await retry_task(client, settings, args.id)

    return run_with_client(retry)


async def retry_task(client: Client, settings: Settings, reference: str) -> int:
    """Update, restart or refuse, depending on where the task's latest run is."""
    try:
        description = await find_task(client, settings, reference)
    except TaskLookupError as error:
        return fail(str(error), exit_codes.FAILURE)
    workflow_id = description.id
    handle = client.get_workflow_handle(workflow_id, run_id=description.run_id, result_type=TaskOutcome)
    if description.status is WorkflowExecutionStatus.RUNNING:
        return await send_update(handle, UPDATE_RETRY, what="the retry update")
    if description.status in RESTARTABLE:
        return await _restart(client, settings, workflow_id, description.status)
    if description.typed_search_attributes.get(GRAPH_ID):
        # A graph's task that ended unmerged runs again in its graph, whose dependents then wait for it.
        return await act_on_task(client, settings, reference, UPDATE_GRAPH_RETRY)
    outcome = await handle.result(follow_runs=False)
    return fail(
        f"task {outcome.task_id} already finished: {outcome.status} ({outcome.reason.value}); "
        "submit it with --again to start over",
        exit_codes.FAILURE,
    )


async def _restart(client: Client, settings: Settings, workflow_id: str, status: WorkflowExecutionStatus) -> int:
    """A new run with the same id from the input in the last run's first history event."""
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        break
    (raw_input,) = await client.data_converter.decode(payloads)
    try:
        # Carried state belongs to the run that failed; the new run starts from the task itself.
        original = WorkflowInput.model_validate(raw_input).model_copy(update={"carried_state": None})
        if original.task.id is None:  # started by hand without one: the workflow id names the task
            task_id = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
            original = original.model_copy(update={"task": original.task.model_copy(update={"id": task_id})})
    except ValidationError as error:
        return fail(
            "\n".join([f"the last run of {workflow_id} was started with invalid input; submit a corrected task:",
                       *describe_validation_error(error)]),
            exit_codes.INVALID_INPUT,
        )
    # The same workflow id, also for a task started by hand under another id than codegen-task-<task id>.
    new_run = await start_task(client, settings, original, workflow_id=workflow_id)
    print(f"the last run {status.name.lower()}; started a new run {new_run.result_run_id} of {workflow_id}")
    print(f"  {web_ui_url(settings, workflow_id)}")
    return exit_codes.OK
