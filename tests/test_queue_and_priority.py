"""The queue as users see it (`starter.py queue`, `list`, `status`, `stats`) and `starter.py priority`, against
the dev server, a worker process with MAX_ACTIVE_TASKS_PER_REPOSITORY=1 and the fake."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cli.task_workflows import start_task
from models.status import TaskPhase
from models.task import WorkflowInput
from settings import Settings
from tests.fault_harness import fake_process, mock_mode_worker, start_tasks
from tests.starter_process import Starter, starter  # noqa: F401 (a fixture)
from tests.test_repository_slots import API, WEB, burst, in_line, phase_is, slots_of, status_of
from tests.waiting import wait_until


def line_of(answer: dict[str, Any]) -> list[tuple[str, int, str]]:
    (repository,) = answer["repositories"]
    return [(task["task_id"], task["priority"], task["waiting_for"]) for task in repository["queued"]]


async def test_the_queue_shows_each_line_and_a_new_priority_moves_a_task_in_it(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path, starter: Starter  # noqa: F811
):
    tasks = burst(f"q-{task_queue}", API, 4, outcome="leave_open", delays={"run_seconds": 0.5})
    holder, third = (client.get_workflow_handle(task.workflow_id) for task in (tasks[0], tasks[2]))
    tasks[2].input["task"]["priority"] = 4
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url, MAX_ACTIVE_TASKS_PER_REPOSITORY=f"1,{WEB}=5")
        worker.start()
        stack.callback(worker.stop)
        await start_tasks(client, task_queue, tasks[:1])
        await wait_until(lambda: phase_is(holder, TaskPhase.TRACKING_PR), timeout=60, interval=0.2, what="the holder's PR")
        await start_tasks(client, task_queue, tasks[1:])
        await wait_until(lambda: in_line(client, task_queue, 3), timeout=60, interval=0.2, what="three tasks in line")
        # Tasks of one priority are served in the order they asked: whichever workflow task the worker ran first.
        line = [waiter.workflow_id for waiter in (await slots_of(client, task_queue, API)).waiting]
        ahead, behind = sorted((tasks[1], tasks[3]), key=lambda task: line.index(task.workflow_id))
        second, fourth = (client.get_workflow_handle(task.workflow_id) for task in (ahead, behind))

        before = await wait_until(lambda: queue_listing(starter, 3), timeout=30, interval=0.5, what="three tasks in the queue")
        moved = await starter("priority", tasks[2].task_id, "1")
        after = (await starter("queue", "--json")).json()
        human = await starter("queue")
        listed = await wait_until(lambda: queued_rows(starter), timeout=30, interval=0.5, what="the queued tasks listed")
        status = await starter("status", tasks[2].task_id)
        stats = (await starter("stats", "--json")).json()
        refused = await starter("priority", tasks[2].task_id, "0")

        # Its turn comes first now.
        await holder.cancel()
        await wait_until(lambda: phase_is(third, TaskPhase.TRACKING_PR), timeout=60, interval=0.2, what="the reprioritised task's slot")
        waiting = [(await status_of(handle)).phase for handle in (second, fourth)]

        # Paused, the next holder and three tasks on another repository wait for the agent rate; new priorities
        # move their requests in the creation queue.
        assert (await starter("agents", "pause")).returncode == 0
        # These as `starter.py submit` starts them (with their priority as the workflow's); the rest were started
        # raw, as by `temporal workflow start` without a priority.
        others = burst(f"qw-{task_queue}", WEB, 3, outcome="leave_open", delays={"run_seconds": 0.5})
        for task in others:
            await start_task(client, Settings(task_queue=task_queue), WorkflowInput.model_validate(task.input))
        await third.cancel()
        rate_waiters = [second, *(client.get_workflow_handle(task.workflow_id) for task in others)]
        for handle in rate_waiters:
            await wait_until(lambda h=handle: waits_for_the_rate(h), timeout=60, interval=0.2, what=f"{handle.id} queued for the rate")
        rate_line = (await starter("queue", "--repo", API, "--json")).json()
        kept = await starter("priority", ahead.task_id, "2")
        moved_up = await starter("priority", others[2].task_id, "1")
        assert (await starter("agents", "resume", "--per-minute", "60")).returncode == 0
        for handle in rate_waiters:
            await wait_until(lambda h=handle: phase_is(h, TaskPhase.TRACKING_PR), timeout=60, interval=0.2, what=f"{handle.id} run")
        run_ids = {handle.id: (await status_of(handle)).agent_runs[0].id for handle in rate_waiters}
        for handle in (*rate_waiters, fourth):
            await handle.cancel()

    ahead_in_line, behind_in_line = ((task.task_id, 3, "repository_slot") for task in (ahead, behind))
    assert line_of(before) == [ahead_in_line, behind_in_line, (tasks[2].task_id, 4, "repository_slot")]
    assert before["repositories"][0] | {"queued": None} == {"repository": API, "active": 1, "limit": 1, "queued": None}
    assert moved.returncode == 0 and "priority 4 to 1; its place in line for a repository slot follows it" in moved.stdout
    assert line_of(after) == [(tasks[2].task_id, 1, "repository_slot"), ahead_in_line, behind_in_line]
    assert f"{API}: 1 of 1 active, 3 queued" in human.stdout and "when a slot frees" in human.stdout
    assert {row["queued_reason"].split(",")[0] for row in listed} == {f"waiting for a slot on {API}: 1 of 1 active"}
    assert "Priority   1" in status.stdout and f"Queued     waiting for a slot on {API}" in status.stdout
    assert stats["queued"] == 3
    assert refused.returncode == 2 and "a priority is a whole number from 1 (first) to 5 (last), not '0'" in refused.stderr
    assert waiting == [TaskPhase.QUEUED, TaskPhase.QUEUED]
    api_waiters = [task for task in rate_line["repositories"][0]["queued"] if task["waiting_for"] == "agent_rate"]
    assert [(task["task_id"], task["estimated_start"]) for task in api_waiters] == [(ahead.task_id, None)]
    assert kept.returncode == 0 and "in the creation queue keeps priority 3, which the task gave it itself" in kept.stdout
    assert moved_up.returncode == 0 and "its request for an agent run in the creation queue moves to priority 1" in moved_up.stdout
    # Runs are numbered as the fake creates them: the one moved to priority 1 first, the rest at 3 after it
    # (in no set order: each task's request joins the queue when its own workflow gets to it).
    created = sorted(run_ids, key=run_ids.__getitem__)
    assert created[0] == rate_waiters[3].id


async def queue_listing(starter: Starter, queued: int) -> dict[str, Any] | None:
    """`queue --json` once it lists `queued` tasks: it finds them by a search, which is eventually consistent."""
    answer = (await starter("queue", "--json")).json()
    return answer if sum(len(repository["queued"]) for repository in answer["repositories"]) == queued else None


async def queued_rows(starter: Starter) -> list[dict[str, Any]] | None:  # noqa: F811
    rows = (await starter("list", "--phase", "queued", "--status", "running", "--json")).json()
    return rows if len(rows) == 3 and all(row["queued_reason"] for row in rows) else None


async def waits_for_the_rate(handle: Any) -> bool:
    queued = (await status_of(handle)).queued
    return queued is not None and queued.waiting_for == "agent_rate"
