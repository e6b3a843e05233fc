"""Exactly one agent run per task attempt across an operator's resets, with the real worker process, a
dev server, the `temporal` CLI and the fake over HTTP.

- `temporal activity reset` of the create activity starts its attempt count at 1 again: a create that
  took effect unseen must still be found (every try looks, not only attempt > 1).
- `temporal workflow reset` to before the create gives a new workflow run id; the first execution's
  run id, which the reset keeps, finds the run the earlier run created.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from models.status import TaskOutcome, TaskStatus
from tests.fault_harness import (
    ExpectedTask,
    expected_tasks,
    fake_counters,
    fake_process,
    mock_mode_worker,
    outcomes,
    start_tasks,
    temporal_cli,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.faults

START_ACTIVITY = "start_agent_run"




def _requests(counters: dict[str, Any], endpoint: str) -> int:
    return sum(counters["requests"].get(endpoint, {}).values())


LIST_RUNS = "GET /v1/organizations/{org_id}/agent/runs"


async def _start_one(client: Client, task_queue: str, prefix: str) -> tuple[ExpectedTask, WorkflowHandle[Any, TaskOutcome]]:
    [task] = expected_tasks(1, prefix, run_seconds=0.5, reconcile_seconds=1.0)
    [handle] = await start_tasks(client, task_queue, [task])
    return task, handle


async def _run_created(fake_url: str) -> bool:
    return (await fake_counters(fake_url))["runs_total"] == 1


async def _recorded_run(handle: WorkflowHandle[Any, TaskOutcome]) -> int | None:
    status = await handle.query("status", result_type=TaskStatus)
    return status.agent_runs[0].id if status.agent_runs else None


async def test_an_activity_reset_of_the_create_adopts_the_run_it_created(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        # The first create takes effect and its answer is lost (a 503 asking to come back in ten minutes),
        # and so is the look for the run right after it: the activity waits for its retry, which only the
        # reset brings sooner.
        lost = {
            "method": "POST",
            "path_contains": "/agent/run",
            "status": 503,
            "after_effect": True,
            "delay_seconds": 5,
            "headers": {"Retry-After": "600"},
        }
        look_fails = {"method": "GET", "path_contains": "/agent/runs", "status": 503}
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=fake_url))
        assert (await http.post("/_admin/inject", json=lost)).status_code == 200
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url)
        stack.callback(worker.stop)
        worker.start()
        task, handle = await _start_one(client, task_queue, "activity-reset")
        # While the create's answer is held back, after its look before creating.
        await wait_until(lambda: _run_created(fake_url), timeout=30, interval=0.05, what="the create to take effect")
        assert (await http.post("/_admin/inject", json=look_fails)).status_code == 200

        async def waiting_to_retry() -> Any:
            description = await handle.describe()
            pending = [a for a in description.raw_description.pending_activities if a.activity_type.name == START_ACTIVITY]
            return pending[0] if pending and pending[0].attempt == 2 else None

        pending = await wait_until(waiting_to_retry, timeout=30, interval=0.1, what="the create to wait for its retry")
        assert (await fake_counters(fake_url))["runs_total"] == 1
        # The operator's reset: the activity starts over at once, as attempt 1.
        await temporal_cli(dev_env, "activity", "reset", "--workflow-id", handle.id, "--activity-id", pending.activity_id)

        adopted = await wait_until(lambda: _recorded_run(handle), timeout=60, interval=0.2, what="the task to record its run")
        [outcome] = await outcomes([handle], timeout=120)
        counters = await fake_counters(fake_url)
        history = await handle.fetch_history()

    assert counters["runs_created"] == {task.task_id: {"1": 1}}
    assert outcome.status == task.status and adopted is not None
    # Each try looked before creating: the first found nothing, the reset one found its run.
    assert _requests(counters, LIST_RUNS) >= 2
    # The try that finished was attempt 1 again: the reset, not an ordinary retry, brought it.
    started = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and _scheduled_type(history.events, e.activity_task_started_event_attributes.scheduled_event_id) == START_ACTIVITY
    ]
    assert started == [1]


async def test_a_workflow_reset_to_before_the_create_adopts_the_run_the_earlier_run_created(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log"))
        worker = mock_mode_worker(tmp_path, dev_env, task_queue, fake_url)
        stack.callback(worker.stop)
        worker.start()
        task, handle = await _start_one(client, task_queue, "workflow-reset")
        first_run_id = (await handle.describe()).run_id
        created = await wait_until(lambda: _recorded_run(handle), timeout=60, interval=0.2, what="the run to be created")

        history = await handle.fetch_history()
        scheduled = next(
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == START_ACTIVITY
        )
        # Back to the workflow task that scheduled the create: the new run schedules it again.
        reset_to = scheduled.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
        await temporal_cli(dev_env, "workflow", "reset", "--workflow-id", handle.id, "--event-id", str(reset_to), "--reason", "test")

        latest = client.get_workflow_handle(handle.id, result_type=TaskOutcome)

        async def reset_run_started() -> str | None:
            run_id = (await latest.describe()).run_id
            return run_id if run_id != first_run_id else None

        reset_run_id = await wait_until(reset_run_started, timeout=30, interval=0.2, what="the reset's new run")
        reset_run = client.get_workflow_handle(handle.id, run_id=reset_run_id, result_type=TaskOutcome)
        adopted = await wait_until(lambda: _recorded_run(reset_run), timeout=60, interval=0.2, what="the new run to record its run")
        [outcome] = await outcomes([reset_run], timeout=120)
        counters = await fake_counters(fake_url)
        reset_history = await reset_run.fetch_history()

    assert counters["runs_created"] == {task.task_id: {"1": 1}}
    assert adopted == created and outcome.status == task.status
    # The new run asked again, with the first execution's run id, which the reset kept.
    inputs = [
        e.activity_task_scheduled_event_attributes.input
        for e in reset_history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == START_ACTIVITY
    ]
    decoded = [(await client.data_converter.decode(payloads.payloads))[0] for payloads in inputs]
    assert decoded and {item["first_execution_run_id"] for item in decoded} == {first_run_id}
    assert reset_run_id != first_run_id


def _scheduled_type(events: Any, event_id: int) -> str | None:
    for event in events:
        if event.event_id == event_id and event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            return event.activity_task_scheduled_event_attributes.activity_type.name
    return None
