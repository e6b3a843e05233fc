"""The worker process SIGKILLed at random moments while 30 tasks are in flight, then restarted.

Temporal re-dispatches whatever the dead worker held (after each activity's heartbeat or
start-to-close timeout), and the run-creation activity adopts a run an earlier try created, so
every task ends as its scenario says and the fake counts exactly one agent run per attempt.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import ActivityTaskStartedEventAttributes
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.status import TaskStatus
from settings import Settings
from tests.fault_harness import (
    assert_expected,
    assert_one_run_per_attempt,
    expected_tasks,
    fake_counters,
    fake_process,
    mock_mode_worker,
    outcomes,
    start_tasks,
)
from tests.relay_probe import serving
from tests.waiting import wait_until
from webhooks.app import create_app

pytestmark = pytest.mark.faults

TASKS = 30
KILLS = 3


async def test_sigkilled_worker_loses_no_task_and_duplicates_no_agent_run(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    secret = uuid.uuid4().hex
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    async with AsyncExitStack() as stack:
        relay_url = await stack.enter_async_context(
            serving(create_app(Settings(webhook_secret=SecretStr(secret), task_queue=task_queue), client))
        )
        fake_url = await stack.enter_async_context(
            fake_process(tmp_path / "fake.log", WEBHOOK_SECRET=secret, RELAY_URL=relay_url)
        )
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url)
        stack.callback(worker.stop)
        tasks = expected_tasks(TASKS, "kill", run_seconds=3.0)
        handles = await start_tasks(client, task_queue, tasks)

        requests_before = 0
        for kill in range(KILLS):
            worker.start()

            # Kill once this incarnation has called the APIs (it is doing work), then at a random moment.
            async def progressed(before: int = requests_before) -> int:
                total = _api_requests(await fake_counters(fake_url))
                return total if total > before else 0

            requests_before = await wait_until(progressed, timeout=60, interval=0.1, what=f"work before kill {kill + 1}")
            await _random_pause(rng.uniform(0.2, 2.5))
            assert worker.running, worker.output()[-3000:]
            worker.kill()

        worker.start()
        results = await outcomes(handles, timeout=200)
        counters = await fake_counters(fake_url)
        interrupted = [await _work_interrupted(handle) for handle in handles]

    assert_expected(tasks, results)
    assert_one_run_per_attempt(tasks, counters)
    # The kills really cut work short: an activity or a workflow task the dead worker held ran again.
    assert any(interrupted), f"no work was interrupted (kill schedule seed {seed})"


async def test_a_worker_killed_while_creating_a_run_is_replaced_within_the_heartbeat_timeout(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        # The create takes effect, and its answer is held for a minute: the worker dies waiting for it.
        hold = {"method": "POST", "path_contains": "/agent/run", "status": 503, "after_effect": True, "delay_seconds": 60}
        async with httpx.AsyncClient(base_url=fake_url) as http:
            assert (await http.post("/_admin/inject", json=hold)).status_code == 200
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url)
        stack.callback(worker.stop)
        worker.start()
        [task] = expected_tasks(1, "mid-create")
        [handle] = await start_tasks(client, task_queue, [task])

        async def created() -> bool:
            return (await fake_counters(fake_url))["runs_total"] == 1

        await wait_until(created, timeout=30, interval=0.1, what="the run to be created")
        worker.kill()
        worker.start()

        async def run_recorded() -> bool:
            return bool((await handle.query("status", result_type=TaskStatus)).agent_runs)

        # The retry adopts the run the dead try created; it starts once the 15-second heartbeat timeout passes.
        await wait_until(run_recorded, timeout=120, interval=0.2, what="the retry to adopt the run", not_yet=(RPCError,))
        create = await _create_started(handle)
        counters = await fake_counters(fake_url)

    # Retried because the dead try stopped heartbeating, not after the call's ten-minute start-to-close timeout.
    assert (create.attempt, create.last_failure.timeout_failure_info.timeout_type) == (2, TimeoutType.TIMEOUT_TYPE_HEARTBEAT)
    assert counters["runs_created"] == {task.task_id: {"1": 1}}


async def _create_started(handle: WorkflowHandle) -> ActivityTaskStartedEventAttributes:
    """The started event of the task's one `start_agent_run`: its attempt, and why the one before it failed."""
    events = (await handle.fetch_history()).events
    (scheduled,) = [
        event.event_id
        for event in events
        if event.activity_task_scheduled_event_attributes.activity_type.name == "start_agent_run"
    ]
    (started,) = [
        event.activity_task_started_event_attributes
        for event in events
        if event.HasField("activity_task_started_event_attributes") and event.activity_task_started_event_attributes.scheduled_event_id == scheduled
    ]
    return started


def _api_requests(counters: dict) -> int:
    """Requests the worker made to the fake Codegen and GitHub (the admin routes the test reads are not counted)."""
    return sum(
        sum(statuses.values()) for endpoint, statuses in counters["requests"].items() if " /_admin" not in endpoint and " /healthz" not in endpoint
    )


async def _work_interrupted(handle: WorkflowHandle) -> bool:
    """An activity tried again, or a workflow task that timed out (the dead worker held it, or its cache)."""
    history = await handle.fetch_history()
    return any(
        (event.HasField("activity_task_started_event_attributes") and event.activity_task_started_event_attributes.attempt > 1)
        or event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        for event in history.events
    )


async def _random_pause(seconds: float) -> None:
    """Let the worker run for a random while before the next kill (a fault schedule, not a wait for a condition)."""
    await asyncio.sleep(seconds)
