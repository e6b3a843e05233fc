"""`starter.py status ID`: a task's live state (the `status` query), or its outcome once finished."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from cli import exit_codes
from cli.connection import run_with_client
from cli.graphs import find_graph, show_graph
from cli.output import fail, print_json
from cli.task_view import render_outcome, render_status
from cli.task_workflows import TaskLookupError, find_task, web_ui_url
from models import names
from models.status import TaskOutcome, TaskStatus
from settings import Settings

# A running workflow with no worker polling never answers; don't hang the terminal on it.
QUERY_TIMEOUT = timedelta(seconds=5)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `status` subcommand."""
    parser = subparsers.add_parser("status", help="a task's live state, or its outcome once finished; or a graph's tasks")
    parser.add_argument("id", metavar="ID", help="task id (bug-214), workflow id (codegen-task-bug-214), or graph id")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def status(client: Client, settings: Settings) -> int:
        return await show(client, settings, args.id, as_json=args.json)

    return run_with_client(status)


async def show(client: Client, settings: Settings, reference: str, *, as_json: bool) -> int:
    """Print the task's state; exit 1 when there is no such task, or the task id names several workflows."""
    try:
        description = await find_task(client, settings, reference)
    except TaskLookupError as error:
        graph = await find_graph(client, reference)
        if graph is not None:
            return await show_graph(client, settings, graph, as_json=as_json)
        return fail(str(error), exit_codes.FAILURE)
    workflow_id = description.id
    answer = await read_task(client, description)
    url = web_ui_url(settings, workflow_id)
    if as_json:
        print_json(answer | {"url": url})
    elif "outcome" in answer:
        print(render_outcome(TaskOutcome.model_validate(answer["outcome"]), url))
    elif answer.get("status"):
        print(render_status(TaskStatus.model_validate(answer["status"]), url))
    else:
        print(f"{workflow_id}: {answer['execution_status']}  {url}")
        for key, value in answer.items():
            if key in ("search_attributes", "error", "note") and value:
                print(f"  {key}: {value}")
    return exit_codes.OK


async def read_task(client: Client, description: WorkflowExecutionDescription) -> dict[str, Any]:
    """`{workflow_id, run_id, execution_status}` plus `status` (running), `outcome` (completed) or `error`.

    A running task whose worker does not answer the query is described by its search attributes.
    """
    answer: dict[str, Any] = {
        "workflow_id": description.id,
        "run_id": description.run_id,
        "execution_status": description.status.name if description.status else "UNKNOWN",
    }
    handle = client.get_workflow_handle(description.id, run_id=description.run_id, result_type=TaskOutcome)
    if description.status is WorkflowExecutionStatus.RUNNING:
        try:
            status = await handle.query(names.QUERY_STATUS, result_type=TaskStatus, rpc_timeout=QUERY_TIMEOUT)
            return answer | {"status": status.model_dump(mode="json")}
        except (WorkflowQueryFailedError, RPCError) as error:
            attributes = {key.name: description.typed_search_attributes.get(key) for key in names.SEARCH_ATTRIBUTES}
            return answer | {
                "status": None,
                "search_attributes": {name: value for name, value in attributes.items() if value is not None},
                "note": f"no worker answered the status query ({error}); is worker.py running?",
            }
    try:
        outcome = await handle.result(follow_runs=False)
    except WorkflowFailureError as error:
        return answer | {"error": str(error.cause or error)}
    return answer | {"outcome": outcome.model_dump(mode="json")}
