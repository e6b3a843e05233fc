"""The agent rate, owned by the server: a worker sets it at start but never ends a pause; `starter.py agents
pause` holds every creation in the queue with no attempt failing, and `resume` gives each task its one run."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from agent_rate import pause_agents, read_agent_rate, set_agent_rate
from devstack.services import serve_fake
from settings import Settings
from tests.fault_harness import creation_backlog, fake_counters
from tests.starter_process import starter  # noqa: F401 (a fixture)
from tests.waiting import wait_until
from worker import running_workers

TASKS = 4


def mock_settings(task_queue: str, **fields: object) -> Settings:
    return Settings.model_validate({"task_queue": task_queue, "codegen_mock": True, **fields})


async def test_a_worker_sets_the_rate_at_start_replaces_another_and_never_ends_a_pause(
    client: Client, task_queue: str, caplog: pytest.LogCaptureFixture
):
    settings = mock_settings(task_queue, codegen_create_rate_per_minute=120)
    caplog.set_level(logging.INFO, logger="worker")
    async with running_workers(client, settings):
        at_start = await read_agent_rate(client, task_queue)
    await set_agent_rate(client, task_queue, 30, "another worker's setting")
    async with running_workers(client, settings):
        replaced = await read_agent_rate(client, task_queue)
    paused, _ = await pause_agents(client, task_queue)
    async with running_workers(client, settings):
        after_restart = await read_agent_rate(client, task_queue)

    assert (at_start.per_minute, at_start.source, at_start.paused) == (120, "api", False)
    assert (replaced.per_minute, replaced.source) == (120, "api")
    assert f"agent rate on {task_queue}-codegen-api changed from 30 to 120 per minute" in caplog.text
    # The pause, its reason and its record of the rate to restore are untouched by the restart.
    assert after_restart == paused and paused.paused and paused.restores_per_minute == 120
    assert f"run creation on {task_queue}-codegen-api is PAUSED since " in caplog.text


async def _creation_attempts(handle: WorkflowHandle) -> list[tuple[str, int]]:
    """Each start_agent_run in the history as (how it ended, attempt); a failed or timed-out try shows here."""
    ended = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "completed",
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "failed",
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "timed out",
    }
    scheduled, started, attempts = set(), {}, []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "start_agent_run":
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.event_id] = event.activity_task_started_event_attributes
        elif event.event_type in ended:
            attributes = getattr(event, event.WhichOneof("attributes"))
            if attributes.scheduled_event_id in scheduled:
                attempts.append((ended[event.event_type], started[attributes.started_event_id].attempt))
    return attempts


async def test_paused_tasks_wait_without_a_failed_attempt_and_each_gets_one_run_on_resume(client: Client, task_queue: str, starter):
    batch = uuid.uuid4().hex[:6]
    async with serve_fake() as fake_url:
        settings = mock_settings(task_queue, codegen_api_url=fake_url, codegen_api_url_explicit=True, github_api_url=fake_url)
        async with running_workers(client, settings):
            await pause_agents(client, task_queue)
            handles = [
                await client.start_workflow(
                    "CodegenTaskWorkflow",
                    # A run that outlasts the test: only its creation matters here.
                    {"task": {"id": f"paused-{batch}-{i}", "title": "Wait out the pause", "metadata": {"scenario": {"delays": {"run_seconds": 600}}}}},
                    id=f"codegen-task-paused-{batch}-{i}",
                    task_queue=task_queue,
                )
                for i in range(TASKS)
            ]
            # Every creation scheduled, the worker polling at its own 600 per minute, and none dispatched.
            await wait_until(lambda: _backlog_is(client, task_queue, TASKS), timeout=30, interval=0.2, what="every creation queued")
            runs_while_paused = (await fake_counters(fake_url))["runs_created"]
            pending = [(await handle.describe()).raw_description.pending_activities for handle in handles]

            resumed = await starter("agents", "resume")

            async def every_creation_ended() -> list[list[tuple[str, int]]] | None:
                attempts = await asyncio.gather(*(_creation_attempts(handle) for handle in handles))
                return attempts if all(attempts) else None

            attempts = await wait_until(every_creation_ended, timeout=30, interval=0.2, what="every task's run created")
            runs = (await fake_counters(fake_url))["runs_created"]
        for handle in handles:
            await handle.terminate("the creation was all this test needed")

    assert runs_while_paused == {}
    # Waiting in the queue is no attempt: each creation is still on its first, never started, nothing failed.
    assert [[(p.activity_type.name, p.attempt, p.HasField("last_failure")) for p in each] for each in pending] == [
        [("start_agent_run", 1, False)]
    ] * TASKS
    assert resumed.returncode == 0 and resumed.stdout.startswith("resumed: 600 agent runs per minute"), resumed
    assert attempts == [[("completed", 1)]] * TASKS
    assert runs == {f"paused-{batch}-{i}": {"1": 1} for i in range(TASKS)}


async def _backlog_is(client: Client, task_queue: str, count: int) -> bool:
    return await creation_backlog(client, task_queue) == count


async def test_health_fails_the_agent_rate_check_while_paused_and_says_who_paused(client: Client, task_queue: str, starter):
    async with running_workers(client, mock_settings(task_queue)):
        running = await starter("health", "--json")
        await pause_agents(client, task_queue)
        paused = await starter("health", "--json")
    rate = {check["name"]: check for check in running.json()["checks"]}["agent rate"]
    assert rate["ok"] is True and rate["detail"].startswith(f"600 agent runs per minute on {task_queue}-codegen-api, in the server's config")
    rate = {check["name"]: check for check in paused.json()["checks"]}["agent rate"]
    assert paused.returncode == 1 and rate["ok"] is False, paused.stdout
    assert rate["detail"].startswith(
        f"run creation on {task_queue}-codegen-api is PAUSED (paused by starter.py agents pause; resume restores 600 per minute; "
    ), rate
    assert rate["detail"].endswith("UTC); `starter.py agents resume` ends it"), rate


async def test_agents_shows_pauses_and_resumes_the_rate(client: Client, task_queue: str, starter):
    unset = await starter("agents", "--json")
    await set_agent_rate(client, task_queue, 12, "set by the test")
    shown = await starter("agents")
    paused = await starter("agents", "pause")
    first_pause = await read_agent_rate(client, task_queue)
    again = await starter("agents", "pause", "--json")
    resumed = await starter("agents", "resume")
    not_paused = await starter("agents", "resume", "--json")
    at_rate = await starter("agents", "resume", "--per-minute", "2.5")

    assert (unset.returncode, unset.json()["source"], unset.json()["paused"]) == (0, "system", False)
    assert shown.stdout.startswith(f"12 agent runs per minute on {task_queue}-codegen-api, in the server's config (set by the test; ")
    assert paused.returncode == 0
    assert paused.stdout.startswith(f"paused: run creation on {task_queue}-codegen-api is PAUSED (paused by starter.py agents pause; resume restores 12 per minute; ")
    # A second pause keeps the first one's record of the rate to restore.
    assert first_pause.changed_at is not None
    assert (again.json()["paused"], again.json()["restores_per_minute"], again.json()["changed_at"]) == (True, 12, first_pause.changed_at.isoformat())
    assert resumed.stdout.startswith(f"resumed: 12 agent runs per minute on {task_queue}-codegen-api"), resumed
    assert (not_paused.returncode, not_paused.json()["per_minute"], not_paused.json()["reason"]) == (0, 12, "resumed by starter.py agents resume")
    assert at_rate.stdout.startswith("resumed: 2.5 agent runs per minute"), at_rate


async def test_resume_of_a_pause_that_recorded_no_rate_takes_the_setting(client: Client, task_queue: str, starter):
    # Paused elsewhere (`temporal task-queue config set --queue-rps-limit 0`): nothing to restore.
    await set_agent_rate(client, task_queue, 0, "outage")
    shown = await starter("agents", "--json")
    resumed = await starter("agents", "resume", env={"CODEGEN_CREATE_RATE_PER_MINUTE": "42"})
    assert (shown.json()["paused"], shown.json()["restores_per_minute"]) == (True, None)
    assert resumed.stdout.startswith(f"resumed: 42 agent runs per minute on {task_queue}-codegen-api"), resumed


async def test_agents_refuses_a_bad_rate_and_an_unreachable_temporal(starter):
    zero, word, unreachable = await asyncio.gather(
        starter("agents", "resume", "--per-minute", "0"),
        starter("agents", "resume", "--per-minute", "ten"),
        starter("agents", env={"TEMPORAL_ADDRESS": "127.0.0.1:1"}),
    )
    assert zero.returncode == 2 and "must be more than 0 (to stop run creation, use `agents pause`), not 0" in zero.stderr
    assert word.returncode == 2 and "not a number: 'ten'" in word.stderr
    assert unreachable.returncode == 3 and unreachable.stderr.startswith("Temporal is not reachable at 127.0.0.1:1")
