"""MAX_ACTIVE_TASKS_PER_REPOSITORY against the dev server, a worker process and the fake: never more tasks
active on a repository than its limit, other repositories flowing meanwhile, and slots that come back from
cancelled and terminated tasks and survive a SIGKILLed worker."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.names import QUERY_SLOTS
from models.slots import RepositorySlots, slots_workflow_id
from models.status import TaskPhase, TaskStatus
from tests.fault_harness import ExpectedTask, fake_counters, fake_process, mock_mode_worker, outcomes, start_tasks
from tests.waiting import wait_until

API, WEB = "acme/api", "acme/web"


def burst(prefix: str, repository: str, count: int, **scenario: Any) -> list[ExpectedTask]:
    """`count` tasks on `repository` whose PRs stay open a second or so before they merge."""
    scenario = scenario or {"delays": {"run_seconds": 0.5, "merge_seconds": 1.0}}
    return [
        ExpectedTask(
            f"{prefix}-{index}",
            {
                "task": {"id": f"{prefix}-{index}", "title": f"Task {index}", "type": "feature", "metadata": {"scenario": scenario}},
                "context": {"repository": repository},
                "options": {"attempt_backoff": 1, "reconcile_interval": 2, "followup_settle": 1},
            },
            "merged",
            "merged",  # type: ignore[arg-type]
            1,
        )
        for index in range(count)
    ]


async def status_of(handle: WorkflowHandle) -> TaskStatus:
    return await handle.query("status", result_type=TaskStatus)


async def slots_of(client: Client, task_queue: str, repository: str) -> RepositorySlots:
    handle = client.get_workflow_handle(slots_workflow_id(task_queue, repository))
    return await handle.query(QUERY_SLOTS, result_type=RepositorySlots)


async def test_a_repository_never_has_more_active_tasks_than_its_limit_while_another_flows(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    api_tasks, web_tasks = burst(f"lim-api-{task_queue}", API, 8), burst(f"lim-web-{task_queue}", WEB, 6)
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url, MAX_ACTIVE_TASKS_PER_REPOSITORY=f"2,{WEB}=3")
        worker.start()
        stack.callback(worker.stop)
        api = await start_tasks(client, task_queue, api_tasks)
        web = await start_tasks(client, task_queue, web_tasks)

        async def one_waits_for_a_slot() -> TaskStatus | None:
            for status in [await status_of(handle) for handle in api]:
                if status.phase is TaskPhase.QUEUED and status.queued and status.queued.waiting_for == "repository_slot":
                    return status
            return None

        waiting = await wait_until(one_waits_for_a_slot, timeout=60, interval=0.2, what="an api task queued for a slot")
        await outcomes(web, timeout=120)
        # The other repository finished while this one still had tasks in line.
        api_phases = [(await status_of(handle)).phase for handle in api]
        results = await outcomes(api, timeout=120)
        counters = await fake_counters(fake_url)
        line = await slots_of(client, task_queue, API)

    assert waiting.queued is not None and waiting.queued.reason.startswith(f"waiting for a slot on {API}: 2 of 2 active, ")
    assert TaskPhase.QUEUED in api_phases, api_phases
    assert {r.status for r in results} == {"merged"}
    assert counters["runs_created"] == {t.task_id: {"1": 1} for t in api_tasks + web_tasks}
    # The fake's count of tasks between their first run and their PR's merge, at its highest.
    assert counters["active_tasks_max_by_repository"] == {API: 2, WEB: 3}
    assert (line.limit, line.holders, line.waiting) == (2, [], [])


async def test_slots_come_back_from_a_cancelled_and_a_terminated_task_and_survive_a_killed_worker(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    # PRs left open: each task holds its slot until something ends it.
    tasks = burst(f"reclaim-{task_queue}", API, 3, outcome="leave_open", delays={"run_seconds": 0.5})
    first = client.get_workflow_handle(tasks[0].workflow_id)
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url, MAX_ACTIVE_TASKS_PER_REPOSITORY="1")
        worker.start()
        stack.callback(worker.stop)
        await start_tasks(client, task_queue, tasks[:1])
        await wait_until(lambda: phase_is(first, TaskPhase.TRACKING_PR), timeout=60, interval=0.2, what="the first task's PR")
        await start_tasks(client, task_queue, tasks[1:])
        await wait_until(lambda: in_line(client, task_queue, 2), timeout=60, interval=0.2, what="two tasks in line")
        # Served in the order they asked: whichever workflow task the worker ran first.
        line = (await slots_of(client, task_queue, API)).waiting
        second, third = (client.get_workflow_handle(waiter.workflow_id) for waiter in line)

        # A SIGKILL loses nothing: the holder still holds, the line still waits, nobody got a second slot.
        worker.kill()
        worker.start()
        # Queries may time out on the dead worker's sticky queues until the restarted worker answers them.
        await wait_until(lambda: in_line(client, task_queue, 2), timeout=60, interval=0.2, what="the line after the restart", not_yet=(RPCError,))
        for handle in (second, third):
            await wait_until(lambda h=handle: phase_is(h, TaskPhase.QUEUED), timeout=60, interval=0.2, what=f"{handle.id} queued", not_yet=(RPCError,))
        await first.cancel()
        await wait_until(lambda: phase_is(second, TaskPhase.TRACKING_PR), timeout=60, interval=0.2, what="the slot of the cancelled task")
        assert (await status_of(third)).phase is TaskPhase.QUEUED

        # Terminated, the holder cannot give its slot back: the slots workflow finds that it ended.
        await second.terminate("by hand")
        await wait_until(lambda: phase_is(third, TaskPhase.TRACKING_PR), timeout=60, interval=0.2, what="the slot of the terminated task")
        await third.cancel()
        await wait_until(lambda: in_line(client, task_queue, 0, holders=0), timeout=60, interval=0.2, what="every slot back")
        counters = await fake_counters(fake_url)

    # One run each, each made only once its task held the slot (the PRs stay open, so the fake's own count
    # of active tasks cannot tell here).
    assert counters["runs_created"] == {t.task_id: {"1": 1} for t in tasks}


async def phase_is(handle: WorkflowHandle, phase: TaskPhase) -> bool:
    return (await status_of(handle)).phase is phase


async def in_line(client: Client, task_queue: str, waiting: int, holders: int = 1) -> bool:
    slots = await slots_of(client, task_queue, API)
    return (len(slots.holders), len(slots.waiting)) == (holders, waiting)
