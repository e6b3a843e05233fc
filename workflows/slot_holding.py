"""The task's side of its repository's slots: hold one from the first agent run until the task ends, and
stand in `queued` while waiting for one or for the agent rate limit."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

from workflows.calls import call
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from activities.repository_slots import RepositorySlotActivities
    from models.names import SIGNAL_RELEASE_SLOT
    from models.slots import HeldSlot, SlotRequest, slots_workflow_id
    from models.status import TaskPhase

# Patch id: workflows that created their agent runs without asking for a repository slot, and never stood
# in `queued`, replay as they ran.
QUEUED_PATCH = "queued-for-slot-and-rate"
# A waiter asks again this often: harmless to the slots workflow, and it heals a line that was lost (a
# slots workflow terminated by hand).
ASK_AGAIN_EVERY = timedelta(minutes=10)
RATE_LIMIT_WAIT = "waiting for the agent rate limit"


async def hold_repository_slot(task: RunningTask) -> None:
    """Return once the task holds a slot on its repository, or its repository has no limit; meanwhile the
    task is `queued`, saying for what."""
    state, repository = task.state, task.input.context.repository
    if not repository or (state.slot and state.slot.granted):
        return
    info = workflow.info()
    # Before asking: the grant may come as a signal before the answer is back.
    state.slot = state.slot or HeldSlot(slots_workflow_id=slots_workflow_id(info.task_queue, repository))
    while True:
        request = SlotRequest(
            workflow_id=info.workflow_id, task_id=state.status.task_id, repository=repository, priority=task.priority, task_queue=info.task_queue
        )
        answer = await call(RepositorySlotActivities.request_repository_slot, request, local=True, start_to_close_timeout=timedelta(seconds=30))
        if answer.limit is None:
            state.slot = None
            return
        slot = state.slot
        slot.granted = slot.granted or answer.granted
        if slot.granted:
            task.note("slot held", f"{repository}: {answer.active} of {answer.limit} active")
            return
        if state.status.phase is not TaskPhase.QUEUED:
            task.note("queued", answer.waiting_reason(repository))
        task.queue("repository_slot", answer.waiting_reason(repository))
        task.publish()
        if await task.wait(lambda: state.slot is not None and state.slot.granted, ASK_AGAIN_EVERY):
            task.note("slot held", f"{repository}: granted after waiting in line")
            return


def slot_granted(task: RunningTask) -> None:
    """The `slot_granted` signal: the slots workflow says the task's turn came."""
    if task.state.slot is not None:
        task.state.slot.granted = True


async def release_repository_slot(task: RunningTask) -> None:
    """Give the slot back (or leave the line): the task ended, or has no attempt left to make."""
    slot, task.state.slot = task.state.slot, None
    if slot is None:
        return
    try:
        await workflow.get_external_workflow_handle(slot.slots_workflow_id).signal(SIGNAL_RELEASE_SLOT, workflow.info().workflow_id)
    except FailureError:
        # The slots workflow is gone (terminated by hand): there is no slot to give back.
        task.note("slot release not delivered", slot.slots_workflow_id)
