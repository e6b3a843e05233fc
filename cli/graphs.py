"""Task graphs from the command line: start one, find one, show it, and act on one of its tasks
(`retry`, `graph skip`), in the running graph or, once it ended, in a new run from where it stopped.

    starter.py graph status GRAPH [--json]     (also `starter.py status GRAPH`)
    starter.py graph skip TASK
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import fail, print_json, print_table
from cli.task_workflows import TaskLookupError, describe_or_none, find_task, web_ui_url
from cli.updates import send_update
from models import names
from models.graph import UNMERGED, GraphInput, GraphPlan, NodeState, graph_workflow_id
from models.status import TaskPhase
from models.task import workflow_id_for
from settings import Settings

QUERY_TIMEOUT = timedelta(seconds=5)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `graph` subcommand and its actions."""
    parser = subparsers.add_parser("graph", help="task graphs: show one, skip one of its tasks")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="every task of the graph: state, PR, what it waits on")
    status.add_argument("id", metavar="GRAPH", help="graph id (from submit) or its workflow id (codegen-graph-...)")
    status.add_argument("--json", action="store_true", help="print the graph as JSON")
    skip = actions.add_parser("skip", help="treat a task as merged (work merged by hand): its dependents may start")
    skip.add_argument("id", metavar="TASK", help="task id or workflow id")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def graph(client: Client, settings: Settings) -> int:
        if args.action == "skip":
            return await act_on_task(client, settings, args.id, names.UPDATE_GRAPH_SKIP)
        description = await find_graph(client, args.id)
        if description is None:
            return fail(f"no graph {args.id} (workflow {graph_workflow_id_from(args.id)} not found)", exit_codes.FAILURE)
        return await show_graph(client, settings, description, as_json=args.json)

    return run_with_client(graph)


def graph_workflow_id_from(reference: str) -> str:
    return reference if reference.startswith(names.GRAPH_ID_PREFIX) else graph_workflow_id(reference)


async def find_graph(client: Client, reference: str) -> WorkflowExecutionDescription | None:
    return await describe_or_none(client, graph_workflow_id_from(reference))


async def start_graph(client: Client, settings: Settings, graph: GraphInput) -> WorkflowHandle:
    """Start the graph's workflow; WorkflowAlreadyStartedError while it runs."""
    return await client.start_workflow(
        names.GRAPH_WORKFLOW_NAME,
        graph.model_dump(mode="json"),
        id=graph.workflow_id,
        result_type=GraphPlan,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(names.GRAPH_ID, graph.graph_id)]),
        static_summary=f"Graph {graph.graph_id}: {len(graph.tasks)} tasks",
    )


async def read_graph(client: Client, description: WorkflowExecutionDescription) -> GraphPlan:
    """The plan as it stands: the `graph` query while it runs, its result once it ended."""
    handle = client.get_workflow_handle(description.id, run_id=description.run_id, result_type=GraphPlan)
    if description.status is WorkflowExecutionStatus.RUNNING:
        plan: GraphPlan = await handle.query(names.QUERY_GRAPH, result_type=GraphPlan, rpc_timeout=QUERY_TIMEOUT)
        return plan
    return await handle.result(follow_runs=False)


async def show_graph(client: Client, settings: Settings, description: WorkflowExecutionDescription, *, as_json: bool) -> int:
    try:
        plan = await read_graph(client, description)
    except WorkflowFailureError as error:
        return fail(f"graph {description.id} ended without a result: {error.cause or error}", exit_codes.FAILURE)
    state = description.status.name.lower() if description.status else "unknown"
    url = web_ui_url(settings, description.id)
    if as_json:
        print_json({"workflow_id": description.id, "execution_status": state, "url": url, "graph": plan.model_dump(mode="json")})
        return exit_codes.OK
    counts = ", ".join(f"{name} {count}" for name, count in plan.counts().items())
    print(f"Graph {plan.graph_id} ({state}): {counts}\n  {url}")
    print_table(
        ["TASK", "STATE", "PR", "WAITS ON / WHY"],
        [[node.task_id, node.state.value, node.pr_url or "", ", ".join(plan.waits_on(node)) if node.state is NodeState.WAITING else node.reason]
         for node in plan.nodes],
    )  # fmt: skip
    return exit_codes.OK


async def graph_of_task(client: Client, settings: Settings, reference: str) -> tuple[str, WorkflowExecutionDescription] | None:
    """The task's id and its graph's workflow, when the task was started by a graph."""
    try:
        task = await find_task(client, settings, reference)
    except TaskLookupError:
        return None
    graph_id = task.typed_search_attributes.get(names.GRAPH_ID)
    task_id = task.typed_search_attributes.get(names.TASK_ID)
    if not graph_id or not task_id:
        return None
    graph = await describe_or_none(client, graph_workflow_id(graph_id))
    return (task_id, graph) if graph is not None else None


async def act_on_task(client: Client, settings: Settings, reference: str, update: str) -> int:
    """`retry_task` or `skip_task` on the graph of the task `reference` names: an update while the graph
    runs; once it ended, a new run of the graph from its last plan with the change made."""
    found = await graph_of_task(client, settings, reference)
    if found is None:
        return fail(f"task {reference} is not part of a graph (no task workflow with a GraphId found)", exit_codes.FAILURE)
    task_id, graph = found
    if graph.status is WorkflowExecutionStatus.RUNNING:
        return await send_update(client.get_workflow_handle(graph.id), update, task_id)
    return await _restart_with(client, settings, graph, task_id, update)


async def _restart_with(client: Client, settings: Settings, graph: WorkflowExecutionDescription, task_id: str, update: str) -> int:
    """A new run of the ended graph, from its last plan, with `task_id` retried or skipped."""
    try:
        plan = await read_graph(client, graph)
    except WorkflowFailureError as error:
        return fail(f"graph {graph.id} ended without a result, so it cannot go on: {error.cause or error}", exit_codes.FAILURE)
    node = plan.node(task_id)
    if update == names.UPDATE_GRAPH_RETRY and node.state not in UNMERGED:
        return fail(f"task {task_id} is {node.state.value}: only a failed, closed, expired or cancelled task is retried in its graph", exit_codes.FAILURE)
    if update == names.UPDATE_GRAPH_SKIP and node.state in (NodeState.MERGED, NodeState.SKIPPED):
        return fail(f"task {task_id} is {node.state.value}: nothing to skip", exit_codes.FAILURE)
    if update == names.UPDATE_GRAPH_RETRY:
        node.state, node.reason = NodeState.WAITING, ""
    else:
        node.state, node.reason = NodeState.SKIPPED, "skipped by an operator: treated as merged"
    # Tasks the old run cancelled while they waited start again too.
    for other in plan.nodes:
        if other.state is NodeState.CANCELLED and other.runs == 0:
            other.state, other.reason = NodeState.WAITING, ""
    original = await _first_input(client, graph.id)
    restarted = await start_graph(client, settings, original.model_copy(update={"carried_plan": plan.model_dump(mode="json")}))
    done = "runs again" if update == names.UPDATE_GRAPH_RETRY else "is skipped"
    print(f"{task_id} {done}: graph {plan.graph_id} had ended, so it goes on in a new run ({restarted.result_run_id})")
    return exit_codes.OK


async def _first_input(client: Client, workflow_id: str) -> GraphInput:
    """The graph as submitted: the input of its latest run's first event."""
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        break
    (raw,) = await client.data_converter.decode(payloads)
    return GraphInput.model_validate(raw)


async def submit_graph(client: Client, settings: Settings, graph: GraphInput, *, wait: bool, as_json: bool, again: bool) -> int:
    """Start the graph, unless it runs or ran already; tasks merged before count as done (unless `again`)."""
    existing = await describe_or_none(client, graph.workflow_id)
    if existing is not None and existing.status is WorkflowExecutionStatus.RUNNING:
        return fail(f"graph {graph.graph_id} is already running (workflow {graph.workflow_id})", exit_codes.FAILURE)
    if existing is not None and not again:
        return fail(
            f"graph {graph.graph_id} already ran (workflow {graph.workflow_id}): go on with `starter.py retry TASK` or "
            "`starter.py graph skip TASK`, or submit with --again to run every task anew",
            exit_codes.FAILURE,
        )
    if not again:
        remaining = await _merged_counted_as_done(client, graph)
        if remaining is None:
            return fail(f"every task of graph {graph.graph_id} has already merged; submit with --again to run them anew", exit_codes.FAILURE)
        graph = remaining
    handle = await start_graph(client, settings, graph)
    url = web_ui_url(settings, handle.id)
    if not as_json:
        print(f"started graph {graph.graph_id}: {handle.id} ({len(graph.tasks)} tasks)\n  {url}")
    if not wait:
        if as_json:
            print_json({"graph_id": graph.graph_id, "workflow_id": handle.id, "run_id": handle.result_run_id, "url": url})
        return exit_codes.OK
    plan: GraphPlan = await handle.result()
    if as_json:
        print_json({"graph_id": graph.graph_id, "workflow_id": handle.id, "url": url, "graph": plan.model_dump(mode="json")})
    else:
        await show_graph(client, settings, await client.get_workflow_handle(handle.id).describe(), as_json=False)
    done = all(node.state in (NodeState.MERGED, NodeState.SKIPPED) for node in plan.nodes)
    return exit_codes.OK if done else exit_codes.FAILURE


async def _merged_counted_as_done(client: Client, graph: GraphInput) -> GraphInput | None:
    """A task whose last run merged is not started again (a second agent, a second PR): it counts as done.
    None when that leaves nothing to do."""
    merged = []
    for task in graph.tasks:
        description = await describe_or_none(client, workflow_id_for(task.id or ""))
        if description is not None and description.typed_search_attributes.get(names.TASK_PHASE) == TaskPhase.MERGED:
            merged.append(task.id or "")
    if not merged:
        return graph
    for task_id in merged:
        print(f"task {task_id} has already merged: counted as done in the graph (submit with --again to run it anew)", file=sys.stderr)
    if len(merged) == len(graph.tasks):
        return None
    kept = [task for task in graph.tasks if task.id not in merged]
    return graph.model_copy(update={"tasks": kept, "satisfied": [*graph.satisfied, *merged]})
