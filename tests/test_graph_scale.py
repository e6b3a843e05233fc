"""A 500-task graph, Temporal's advised ceiling for one workflow's children, run to the end on the dev server
with scripted services (each PR merged when first read): the graph continues as new, so each run's history
stays small, and every task is accounted for."""

from __future__ import annotations

import random
import uuid
from contextlib import AsyncExitStack

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.graph_tasks import GraphTaskActivities
from models.codegen import codegen_api_task_queue
from models.graph import MAX_GRAPH_TASKS, GraphInput, GraphPlan, NodeState
from models.task import Task
from tests.scripted_services import REPO, ScriptedServices
from workflows.codegen_task import CodegenTaskWorkflow
from workflows.task_graph import HISTORY_EVENTS_LIMIT, TaskGraphWorkflow

LAYERS = 5
# A run may pass the limit by what one round of starts and reports adds before it looks again.
EVENTS_PER_RUN_BOUND = HISTORY_EVENTS_LIMIT + 1_000


def layered_graph(prefix: str) -> GraphInput:
    """LAYERS layers of 100 tasks, each task after one or two of the layer before it."""
    rng = random.Random(20)
    width = MAX_GRAPH_TASKS // LAYERS
    tasks: list[Task] = []
    for layer in range(LAYERS):
        for index in range(width):
            before = [f"{prefix}-{layer - 1}-{i}" for i in rng.sample(range(width), 2)] if layer else []
            tasks.append(Task(id=f"{prefix}-{layer}-{index}", title=f"Task {layer}.{index}", depends_on=before[: 1 + index % 2]))
    return GraphInput(graph_id=prefix, tasks=tasks, context={"repository": REPO}, options={"reconcile_interval": 3600})


async def test_a_500_task_graph_runs_to_the_end_continuing_as_new_with_small_histories(client: Client, task_queue: str):
    services = ScriptedServices(pr_state="closed", merged=True, client=client)
    graph = layered_graph(f"scale-{uuid.uuid4().hex[:6]}")
    async with AsyncExitStack() as stack:
        # Unsandboxed, as the production worker runs it: 500 sandboxed task workflows cost minutes of CPU here.
        main = Worker(
            client,
            task_queue=task_queue,
            workflows=[CodegenTaskWorkflow, TaskGraphWorkflow],
            activities=[*services.activities(), *GraphTaskActivities(client).all()],
            workflow_runner=UnsandboxedWorkflowRunner(),
            max_cached_workflows=1000,
            workflow_failure_exception_types=[Exception],
        )
        creating = Worker(client, task_queue=codegen_api_task_queue(task_queue), activities=[services.start_agent_run])
        await stack.enter_async_context(main)
        await stack.enter_async_context(creating)
        handle = await client.start_workflow(TaskGraphWorkflow.run, graph, id=graph.workflow_id, task_queue=task_queue, result_type=GraphPlan)
        plan = await handle.result()
        runs = [execution async for execution in client.list_workflows(f"WorkflowId='{graph.workflow_id}'")]
        histories = [await client.get_workflow_handle(graph.workflow_id, run_id=run.run_id).fetch_history() for run in runs]
        lengths = [len(history.events) for history in histories]
        last = await client.get_workflow_handle(graph.workflow_id).fetch_history()

    assert {node.state for node in plan.nodes} == {NodeState.MERGED} and len(plan.nodes) == MAX_GRAPH_TASKS
    assert sorted(task.task_id for task in services.created) == sorted(node.task_id for node in plan.nodes), "one run per task"
    assert len(runs) >= 2, "the graph never continued as new"
    assert max(lengths) <= EVENTS_PER_RUN_BOUND, lengths
    # Every task's own report reached the graph, even from tasks that ended before the graph heard they had
    # started: it never had to read the server for them (a local activity's marker).
    assert not [e for h in histories for e in h.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert last.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
