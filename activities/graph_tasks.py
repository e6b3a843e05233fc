"""The worker's side of a task graph: how its running tasks ended, read from the server, for the tasks whose
own report never came (a task terminated by hand reports nothing)."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from models.graph import GraphTaskEnded, NodeState, RunningTaskRef
from models.status import TaskOutcome

DESCRIBE_CONCURRENCY = 20


class GraphTaskActivities:
    def __init__(self, client: Client) -> None:
        self.client = client

    def all(self) -> list[Any]:
        return [self.ended_graph_tasks]

    @activity.defn(name="ended_graph_tasks")
    async def ended_graph_tasks(self, running: list[RunningTaskRef]) -> list[GraphTaskEnded]:
        """How those of `running` that no longer run ended."""
        limit = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def ended(task: RunningTaskRef) -> GraphTaskEnded | None:
            async with limit:
                return await self._ended(task)

        return [report for report in await asyncio.gather(*map(ended, running)) if report is not None]

    async def _ended(self, task: RunningTaskRef) -> GraphTaskEnded | None:
        try:
            description = await self.client.get_workflow_handle(task.workflow_id).describe()
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            return GraphTaskEnded(task_id=task.task_id, first_execution_run_id=task.first_execution_run_id, state=NodeState.FAILED, message="its workflow is gone")
        status = description.status
        if status is WorkflowExecutionStatus.RUNNING or status is None:
            return None
        if status is WorkflowExecutionStatus.COMPLETED:
            handle = self.client.get_workflow_handle(task.workflow_id, run_id=description.run_id, result_type=TaskOutcome)
            return GraphTaskEnded.of(await handle.result(follow_runs=False), task.first_execution_run_id)
        state = NodeState.CANCELLED if status is WorkflowExecutionStatus.CANCELED else NodeState.FAILED
        return GraphTaskEnded(
            task_id=task.task_id, first_execution_run_id=task.first_execution_run_id, state=state, message=f"its workflow {status.name.lower()}"
        )
