"""The worker's side of per-repository slots: ask a repository's slots workflow for a slot, and tell it
which holders have ended without giving theirs back.

The limit is the asking worker's `MAX_ACTIVE_TASKS_PER_REPOSITORY`: a task asks through its worker, so a
repository with no limit costs no slots workflow at all.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from models.names import SLOTS_WORKFLOW_NAME, UPDATE_ACQUIRE_SLOT
from models.slots import AcquireSlot, RepositoryLimits, SlotAnswer, SlotRequest, SlotsInput, slots_workflow_id

# How often a full repository's slots workflow checks that its holders still run (one that was terminated
# never gives its slot back).
RECLAIM_EVERY = timedelta(minutes=1)
MOCK_RECLAIM_EVERY = timedelta(seconds=5)
# Describing holders, this many at once.
DESCRIBE_CONCURRENCY = 20


class RepositorySlotActivities:
    def __init__(self, client: Client, limits: RepositoryLimits | None, reclaim_every: timedelta) -> None:
        self.client = client
        self.limits = limits
        self.reclaim_every = reclaim_every

    def all(self) -> list[Any]:
        return [self.request_repository_slot, self.ended_workflows]

    @activity.defn(name="request_repository_slot")
    async def request_repository_slot(self, request: SlotRequest) -> SlotAnswer:
        """A slot, a place in line, or (no limit on the repository) nothing to wait for. Asking again is
        harmless: a holder is told it holds, a waiter keeps its place."""
        limit = self.limits.for_repository(request.repository) if self.limits else None
        if limit is None:
            return SlotAnswer()
        workflow_id = slots_workflow_id(request.task_queue, request.repository)
        start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
            SLOTS_WORKFLOW_NAME,
            SlotsInput(repository=request.repository.lower(), limit=limit, reclaim_every=self.reclaim_every),
            id=workflow_id,
            task_queue=request.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        acquire = AcquireSlot(
            workflow_id=request.workflow_id, task_id=request.task_id, priority=request.priority, limit=limit, reclaim_every=self.reclaim_every
        )
        answer: SlotAnswer = await self.client.execute_update_with_start_workflow(
            UPDATE_ACQUIRE_SLOT, acquire, start_workflow_operation=start, result_type=SlotAnswer
        )
        return answer

    @activity.defn(name="ended_workflows")
    async def ended_workflows(self, workflow_ids: list[str]) -> list[str]:
        """Those of `workflow_ids` that no longer run (ended in any way, or gone)."""
        limit = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

        async def ended(workflow_id: str) -> bool:
            async with limit:
                try:
                    description = await self.client.get_workflow_handle(workflow_id).describe()
                except RPCError as error:
                    if error.status is RPCStatusCode.NOT_FOUND:
                        return True
                    raise
                return description.status is not WorkflowExecutionStatus.RUNNING

        verdicts = await asyncio.gather(*(ended(workflow_id) for workflow_id in workflow_ids))
        return [workflow_id for workflow_id, gone in zip(workflow_ids, verdicts, strict=True) if gone]
