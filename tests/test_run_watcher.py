"""The run watcher and the read budget: one reader of the run list per worker, within Codegen's read limit."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.codegen import CodegenActivities
from activities.read_budget import ReadBudget
from activities.run_watcher import RunWatchActivities
from activities.service_clients import ServiceClients
from models.codegen import AgentRunNews, StartRunInput, WatchRunInput
from models.names import SIGNAL_AGENT_RUN
from settings import Settings
from tests.codegen_fake import activity_environment
from tests.waiting import wait_until
from worker import build_service_clients

# --- the read budget ----------------------------------------------------------------------


async def test_no_more_reads_than_the_budget_in_any_window():
    budget = ReadBudget(3, window_seconds=0.2)
    spans: list[tuple[float, float]] = []
    for _ in range(7):
        async with budget.read():
            began = time.monotonic()
        spans.append((began, time.monotonic()))
    # Read i waits for the slot read i-3 freed a window after it was answered.
    assert all(spans[i][0] - spans[i - 3][1] >= 0.2 for i in range(3, 7))


async def test_a_reader_cancelled_while_waiting_gives_its_turn_back():
    budget = ReadBudget(1, window_seconds=0.05)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with budget.read():
            holding.set()
            await release.wait()

    holder = asyncio.ensure_future(hold())
    await holding.wait()
    waiter = asyncio.ensure_future(budget.read().__aenter__())

    async def queued() -> bool:
        return budget._turn.locked()  # the waiter holds the turn while it waits for the holder's slot

    await wait_until(queued, timeout=5, interval=0.01, what="the second reader to queue")
    waiter.cancel()
    release.set()
    await holder
    async with asyncio.timeout(5):
        async with budget.read():
            pass


def test_a_budget_needs_a_read():
    with pytest.raises(ValueError, match="at least one read"):
        ReadBudget(0)


# --- the watcher --------------------------------------------------------------------------


@workflow.defn(name="RunNewsListener")
class RunNewsListener:
    """Stands for a waiting task: keeps the statuses the watcher tells it."""

    def __init__(self) -> None:
        self.told: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: "COMPLETE" in self.told)
        return self.told

    @workflow.signal(name=SIGNAL_AGENT_RUN)
    def agent_run(self, news: AgentRunNews) -> None:
        self.told.append(news.run.status)

    @workflow.query
    def statuses(self) -> list[str]:
        return self.told


@pytest_asyncio.fixture
async def mock_clients() -> AsyncIterator[ServiceClients]:
    async with build_service_clients(Settings.from_env({"CODEGEN_MOCK": "1"})) as built:
        yield built


def _start_input(**scenario) -> StartRunInput:
    task_id = f"W-{uuid.uuid4().hex[:8]}"
    return StartRunInput(task_id=task_id, workflow_id=f"codegen-task-{task_id}", attempt=1, prompt="p", metadata={"scenario": scenario})


async def test_a_sweep_tells_the_task_once_its_run_ends_and_then_forgets_it(time_env: WorkflowEnvironment, task_queue: str, mock_clients: ServiceClients):
    watcher = mock_clients.run_watcher
    run = await activity_environment().run(CodegenActivities(mock_clients.codegen).start_agent_run, _start_input(delays={"run_seconds": 0.3}))
    # Unsandboxed: the sandbox would re-import this module, and the worker's with it.
    async with Worker(time_env.client, task_queue=task_queue, workflows=[RunNewsListener], workflow_runner=UnsandboxedWorkflowRunner()):
        listener = await time_env.client.start_workflow(RunNewsListener.run, id=f"listener-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
        watcher.watch(WatchRunInput(run_id=run.id, workflow_id=listener.id, status=run.status, created_at=run.created_at))

        async def told() -> bool:
            await watcher.sweep(time_env.client)
            return watcher.watching == 0

        await wait_until(told, timeout=10, interval=0.05, what="the watcher to see the run end")
        # Still running, then ended: only the end is news (a run going from PENDING to ACTIVE is not).
        assert await listener.result() == ["COMPLETE"]
    assert watcher.sighting(run.id) is None, "a run nobody waits for is forgotten"
    # Nothing watched, nothing read.
    assert await watcher.sweep(time_env.client) == 0


async def test_a_run_whose_task_is_gone_is_dropped(time_env: WorkflowEnvironment, mock_clients: ServiceClients):
    watcher = mock_clients.run_watcher
    run = await activity_environment().run(CodegenActivities(mock_clients.codegen).start_agent_run, _start_input(delays={"run_seconds": 0}))
    watcher.watch(WatchRunInput(run_id=run.id, workflow_id="codegen-task-nobody", status="ACTIVE", created_at=run.created_at))

    async def dropped() -> bool:
        await watcher.sweep(time_env.client)
        return watcher.watching == 0

    await wait_until(dropped, timeout=10, interval=0.05, what="the watcher to drop the run of a task that is gone")


async def test_a_look_answers_from_the_sweeps_sighting_or_reads_the_run(time_env: WorkflowEnvironment, mock_clients: ServiceClients):
    watcher = mock_clients.run_watcher
    looks = RunWatchActivities(watcher)
    run = await activity_environment().run(CodegenActivities(mock_clients.codegen).start_agent_run, _start_input(outcome="leave_open", delays={"run_seconds": 60}))
    watched = WatchRunInput(run_id=run.id, workflow_id="codegen-task-x", status=run.status, created_at=run.created_at, read=True)
    # Not swept yet: the look reads the run.
    read = await ActivityEnvironment().run(looks.watch_agent_run, watched)
    assert read.run is not None and read.run.id == run.id and read.run.metadata == {}
    assert watcher.watching == 1
    await watcher.sweep(time_env.client)
    assert watcher.sighting(run.id) is not None
    # A registration alone answers nothing.
    assert (await ActivityEnvironment().run(looks.watch_agent_run, watched.model_copy(update={"read": False}))).run is None


async def test_a_look_reads_nothing_while_the_sweeps_have_yet_to_reach_a_registered_run(mock_clients: ServiceClients):
    watcher = mock_clients.run_watcher
    looks = RunWatchActivities(watcher)
    run = await activity_environment().run(CodegenActivities(mock_clients.codegen).start_agent_run, _start_input(outcome="leave_open", delays={"run_seconds": 60}))
    registered = WatchRunInput(run_id=run.id, workflow_id="codegen-task-y", status=run.status, created_at=run.created_at)
    await ActivityEnvironment().run(looks.watch_agent_run, registered)
    # A thousand tasks looking at once must not each spend a read: the next sweep answers them.
    assert (await ActivityEnvironment().run(looks.watch_agent_run, registered.model_copy(update={"read": True}))).run is None
