"""The drill: a backlog deeper than Codegen's creation limit, against a fake that enforces Codegen's limits.

Codegen allows 10 creations a minute and 60 reads per 30 s. Time is scaled twelvefold for creations (20 per
10 s), and reads get a matching budget, so the backlog queues for about half a minute rather than six: every
task must still get exactly one run, no attempt may fail, no request may be refused, and no run may be left
without its task.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.fault_harness import (
    SCENARIOS,
    expected_tasks,
    fake_counters,
    fake_process,
    mock_mode_worker,
    outcomes,
    start_tasks,
)

TASKS = 45
CREATES_PER_WINDOW, CREATE_WINDOW_SECONDS = 20, 10
# The worker keeps well under the fake's rate: the server's rate limiter lets a second's worth through at once,
# and a busy worker (this one also runs the 45 workflows) can hold creations back for a second or two, then
# send them together. Time scaled twelvefold makes such a stall twelve times the share of a window it would be.
WORKER_CREATES_PER_MINUTE = 0.75 * CREATES_PER_WINDOW * 60 / CREATE_WINDOW_SECONDS
# Twelvefold creations bring twelvefold reads to adopt runs; the watcher's sweeps are paced by the budget.
READS_PER_30S = 150


async def test_a_backlog_at_codegens_limits_gets_one_run_per_task_and_no_refusal(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    limits = {
        "FAKE_CODEGEN_CREATE_LIMIT": str(CREATES_PER_WINDOW),
        "FAKE_CODEGEN_CREATE_WINDOW_SECONDS": str(CREATE_WINDOW_SECONDS),
        "FAKE_CODEGEN_READ_LIMIT": str(READS_PER_30S),
        "FAKE_CODEGEN_READ_WINDOW_SECONDS": "30",
    }
    merged_at_once = [SCENARIOS[0]]
    tasks = expected_tasks(TASKS, "drill", run_seconds=1.0, scenarios=merged_at_once)
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log", **limits))
        worker = mock_mode_worker(
            tmp_path,
            dev_env,
            task_queue,
            fake_url,
            CODEGEN_CREATE_RATE_PER_MINUTE=f"{WORKER_CREATES_PER_MINUTE:g}",
            CODEGEN_READS_PER_30S=str(READS_PER_30S),
        )
        worker.start()
        stack.callback(worker.stop)
        handles = await start_tasks(client, task_queue, tasks)
        results = await outcomes(handles, timeout=300)
        counters = await fake_counters(fake_url)
        histories = [await handle.fetch_history() for handle in handles[:5]]

    assert {r.task_id: (r.status, [a.outcome for a in r.attempts]) for r in results} == {t.task_id: ("merged", ["pr_opened"]) for t in tasks}
    assert counters["runs_created"] == {t.task_id: {"1": 1} for t in tasks}
    assert counters["runs_total"] == TASKS, "a run without its task"
    quota = counters["codegen_quota"]
    assert (quota["create_429s"], quota["read_429s"]) == (0, 0), quota["429s_by_endpoint"]
    # The backlog really queued: more than two windows' worth of creations waited for their turn.
    assert quota["creates_accepted"] == TASKS > 2 * CREATES_PER_WINDOW
    # Waiting for runs held no activity slot: no task polled its run in an activity.
    scheduled = {
        event.activity_task_scheduled_event_attributes.activity_type.name
        for history in histories
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert "wait_for_agent_run" not in scheduled and "start_agent_run" in scheduled
