"""`starter.py cancel ID`: stop a running task; it ends `failed` (`cancelled`) with what it had. Or stop a graph:
its running tasks are cancelled the same way, and those yet to start never do.

The cancellation is a request recorded by Temporal: if no worker is running, the task ends as soon as
one is. The PR, if one was opened, stays open on GitHub.
"""

from __future__ import annotations

import argparse
import asyncio

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowFailureError

from cli import exit_codes
from cli.connection import run_with_client
from cli.graphs import find_graph, show_graph
from cli.output import fail, print_json
from cli.task_view import render_outcome
from cli.task_workflows import TaskLookupError, find_task, web_ui_url
from models.status import Reason, TaskOutcome
from settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `cancel` subcommand."""
    parser = subparsers.add_parser("cancel", help="stop a running task; it ends failed (cancelled), its PR left open")
    parser.add_argument("id", metavar="ID", help="task id or workflow id")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS", help="how long to wait for the outcome (default 30)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def cancel(client: Client, settings: Settings) -> int:
        return await cancel_task(client, settings, args.id, wait=args.wait, as_json=args.json)

    return run_with_client(cancel)


async def cancel_task(client: Client, settings: Settings, reference: str, *, wait: float, as_json: bool) -> int:
    """Request the cancellation and wait for the outcome; 0 once the task ended cancelled."""
    try:
        description = await find_task(client, settings, reference)
    except TaskLookupError as error:
        graph = await find_graph(client, reference)
        if graph is not None:
            return await cancel_graph(client, settings, graph, wait=wait, as_json=as_json)
        return fail(str(error), exit_codes.FAILURE)
    workflow_id = description.id
    if description.status is not WorkflowExecutionStatus.RUNNING:
        status = description.status.name.lower() if description.status else "status unknown"
        return fail(f"task {reference} is not running ({status}): nothing to cancel", exit_codes.FAILURE)
    # No run id: the request reaches the latest run, even one started by continue-as-new meanwhile.
    # A task that ends on its own meanwhile keeps its outcome (the request is then a no-op).
    handle = client.get_workflow_handle(workflow_id, result_type=TaskOutcome)
    await handle.cancel()
    try:
        async with asyncio.timeout(wait):
            outcome = await handle.result()
    except TimeoutError:
        return fail(
            f"the cancellation of {workflow_id} is recorded, but no worker ended the task within "
            f"{wait:g} s; is worker.py running? The task ends when one picks it up",
            exit_codes.UNAVAILABLE,
        )
    except WorkflowFailureError as error:
        return fail(f"{workflow_id} did not finish with an outcome: {error.cause or error}", exit_codes.FAILURE)
    if as_json:
        print_json(outcome.model_dump(mode="json"))
    else:
        print(render_outcome(outcome, web_ui_url(settings, workflow_id)))
        if outcome.pr and outcome.pr.status == "open":
            stopped = {True: "Codegen confirmed its agents on it stopped", False: "Codegen did not confirm its agents on it stopped"}
            said = f" {stopped[outcome.agents_stopped]};" if outcome.agents_stopped is not None else ""
            print(f"\nThe PR stays open:{said} close it on GitHub if it is not wanted ({outcome.pr.url}).")
    return exit_codes.OK if outcome.reason is Reason.CANCELLED else exit_codes.FAILURE


async def cancel_graph(client: Client, settings: Settings, graph: WorkflowExecutionDescription, *, wait: float, as_json: bool) -> int:
    """Cancel the graph and wait for its result: every task that ran or waited, cancelled."""
    if graph.status is not WorkflowExecutionStatus.RUNNING:
        status = graph.status.name.lower() if graph.status else "status unknown"
        return fail(f"graph {graph.id} is not running ({status}): nothing to cancel", exit_codes.FAILURE)
    handle = client.get_workflow_handle(graph.id)
    await handle.cancel()
    try:
        async with asyncio.timeout(wait):
            await handle.result()
    except TimeoutError:
        return fail(f"the cancellation of {graph.id} is recorded, but it did not end within {wait:g} s; is worker.py running?", exit_codes.UNAVAILABLE)
    return await show_graph(client, settings, await handle.describe(), as_json=as_json)
