"""A task's side of its graph: when a task the graph started ends, it tells the graph how, and with what."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from models.graph import GraphTaskEnded
    from models.names import SIGNAL_GRAPH_TASK_ENDED
    from models.status import TaskOutcome


async def tell_graph(outcome: TaskOutcome) -> None:
    """Signal the graph that started this task (its latest run: it may have continued as new); nothing
    for a task submitted on its own."""
    parent = workflow.info().parent
    if parent is None:
        return
    report = GraphTaskEnded.of(outcome, workflow.info().first_execution_run_id)
    try:
        await workflow.get_external_workflow_handle(parent.workflow_id).signal(SIGNAL_GRAPH_TASK_ENDED, report)
    except FailureError:
        # The graph ended or was terminated: nobody waits for this outcome any more.
        pass
