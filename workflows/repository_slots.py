"""RepositorySlotsWorkflow: who holds one repository's slots, and who waits for one, in order.

Tasks ask with the `acquire_slot` update (through their worker, which knows the limit) and are answered at
once: a slot, or a place in line. A waiter gets its slot later with the `slot_granted` signal. Holders give
theirs back with `release_slot` when they end; a holder that ended without doing so (terminated) is found
by asking the server which holders still run, whenever someone waits for a full repository. The state is
in history, so a worker crash or a server restart loses nothing; the workflow continues as new when the
history grows long.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

from workflows.calls import COUNTED_RETRY

with workflow.unsafe.imports_passed_through():
    from activities.repository_slots import RepositorySlotActivities
    from models.names import (
        QUERY_SLOTS,
        SIGNAL_RELEASE_SLOT,
        SIGNAL_SLOT_GRANTED,
        SIGNAL_SLOT_PRIORITY,
        SLOTS_WORKFLOW_NAME,
        UPDATE_ACQUIRE_SLOT,
    )
    from models.slots import AcquireSlot, RepositorySlots, SlotAnswer, SlotHolder, SlotPriority, SlotsInput, SlotWaiter

ENDED_CHECK_TIMEOUT = timedelta(seconds=30)


@workflow.defn(name=SLOTS_WORKFLOW_NAME)
class RepositorySlotsWorkflow:
    @workflow.init
    def __init__(self, input: SlotsInput) -> None:
        self._slots = input.carried or RepositorySlots(repository=input.repository, limit=input.limit, reclaim_every=input.reclaim_every)
        self._changed = True

    @workflow.run
    async def run(self, input: SlotsInput) -> None:
        slots = self._slots
        while not workflow.info().is_continue_as_new_suggested():
            await self._grant_free_slots()
            self._changed = False
            # Someone waits for a full repository: look for holders that ended without giving theirs back.
            stalled = bool(slots.waiting) and len(slots.holders) >= slots.limit
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=slots.reclaim_every if stalled else None)
            except TimeoutError:
                await self._reclaim_ended_holders()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(SlotsInput(repository=slots.repository, limit=slots.limit, reclaim_every=slots.reclaim_every, carried=slots))

    async def _grant_free_slots(self) -> None:
        slots = self._slots
        while slots.waiting and len(slots.holders) < slots.limit:
            waiter = slots.waiting.pop(0)
            slots.holders.append(SlotHolder(workflow_id=waiter.workflow_id, task_id=waiter.task_id, since=workflow.now()))
            try:
                await workflow.get_external_workflow_handle(waiter.workflow_id).signal(SIGNAL_SLOT_GRANTED, slots.repository)
            except FailureError:
                # The waiter ended (cancelled, terminated) while in line: the slot goes to the next one.
                self._drop(waiter.workflow_id)

    async def _reclaim_ended_holders(self) -> None:
        ended = await workflow.execute_local_activity_method(
            RepositorySlotActivities.ended_workflows,
            [holder.workflow_id for holder in self._slots.holders],
            start_to_close_timeout=ENDED_CHECK_TIMEOUT,
            retry_policy=COUNTED_RETRY,
        )
        for workflow_id in ended:
            self._drop(workflow_id)
        self._changed = True

    def _drop(self, workflow_id: str) -> None:
        slots = self._slots
        slots.holders = [holder for holder in slots.holders if holder.workflow_id != workflow_id]
        slots.waiting = [waiter for waiter in slots.waiting if waiter.workflow_id != workflow_id]

    def _answer(self, workflow_id: str) -> SlotAnswer:
        slots = self._slots
        ahead = next((index for index, waiter in enumerate(slots.waiting) if waiter.workflow_id == workflow_id), 0)
        granted = any(holder.workflow_id == workflow_id for holder in slots.holders)
        return SlotAnswer(limit=slots.limit, granted=granted, active=len(slots.holders), ahead=ahead)

    @workflow.update(name=UPDATE_ACQUIRE_SLOT)
    def acquire(self, request: AcquireSlot) -> SlotAnswer:
        slots = self._slots
        # The asking worker's setting: the newest word on the limit wins.
        slots.limit, slots.reclaim_every = request.limit, request.reclaim_every
        known = {holder.workflow_id for holder in slots.holders} | {waiter.workflow_id for waiter in slots.waiting}
        if request.workflow_id not in known:
            if not slots.waiting and len(slots.holders) < slots.limit:
                slots.holders.append(SlotHolder(workflow_id=request.workflow_id, task_id=request.task_id, since=workflow.now()))
            else:
                self._enqueue(SlotWaiter(workflow_id=request.workflow_id, task_id=request.task_id, priority=request.priority, since=workflow.now()))
        self._changed = True
        return self._answer(request.workflow_id)

    @workflow.signal(name=SIGNAL_RELEASE_SLOT)
    def release(self, workflow_id: str) -> None:
        self._drop(workflow_id)
        self._changed = True

    @workflow.signal(name=SIGNAL_SLOT_PRIORITY)
    def reprioritise(self, change: SlotPriority) -> None:
        waiter = next((waiter for waiter in self._slots.waiting if waiter.workflow_id == change.workflow_id), None)
        if waiter is not None:
            self._slots.waiting.remove(waiter)
            self._enqueue(waiter.model_copy(update={"priority": change.priority}))
        self._changed = True

    def _enqueue(self, waiter: SlotWaiter) -> None:
        """In line after everyone of the same or a higher priority who asked before."""
        waiting = self._slots.waiting
        index = next(
            (i for i, other in enumerate(waiting) if (other.priority, other.since) > (waiter.priority, waiter.since)), len(waiting)
        )
        waiting.insert(index, waiter)

    @workflow.query(name=QUERY_SLOTS)
    def slots(self) -> RepositorySlots:
        return self._slots
