"""How a task outlives activities that fail: ordinary and local calls end the same ways."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta

from models.status import Reason, TaskPhase
from tests.scripted_services import ScriptedServices, run_workers, start, status_of, task_input, wait_for_phase
from workflows.calls import COUNTED_RETRY


async def test_an_error_no_retry_fixes_in_a_local_call_ends_the_task_with_its_reason(time_env, task_queue):
    services = ScriptedServices(prompt_error="PromptTooLarge")
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("fail-1"))
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("failed", Reason.PROMPT_TOO_LARGE)
    assert outcome.message == "generate_prompt: the prompt cannot be rendered: PromptTooLarge"
    assert len(services.prompts) == 1 and services.created == []


async def test_a_github_outage_ends_a_reconciles_retries_and_the_task_carries_on(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("fail-2", reconcile_interval=60))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        reads_before = services.github_reads
        services.github_down = True

        # The retries wait on workflow timers, which the time-skipping server runs through: the read
        # starts after a minute and gives up after 14; the next read would start two minutes later.
        await time_env.sleep(timedelta(minutes=16))
        assert services.github_reads - reads_before == COUNTED_RETRY.maximum_attempts
        status = await status_of(handle)
        assert status.phase is TaskPhase.TRACKING_PR
        failed = next(entry for entry in status.timeline if entry.event == "reconcile failed")
        assert failed.detail == "read_pull_request: GitHub answered 503"

        # A webhook's merge waits for GitHub to confirm it.
        before = len(status.timeline)
        await handle.signal("pr_event", services.close("p1"))
        await time_env.sleep(timedelta(minutes=16))
        status = await status_of(handle)
        assert status.phase is TaskPhase.TRACKING_PR
        assert "close not confirmed yet" in [entry.event for entry in status.timeline[before:]]
        services.github_down = False
        outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("merged", Reason.MERGED)


async def test_a_github_outage_as_the_pr_opens_delays_tracking_without_a_second_agent(time_env, task_queue):
    services = ScriptedServices(github_down=True)
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("fail-3", reconcile_interval=3600))
        # A round of reads gives up after about 14 minutes; the next starts a minute later.
        await time_env.sleep(timedelta(minutes=16))
        status = await status_of(handle)
        assert status.phase is TaskPhase.PROCESSING and "PR read failed; retrying" in [entry.event for entry in status.timeline]

        services.github_down = False
        await time_env.sleep(timedelta(minutes=5))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("pr_event", services.close("p1"))
        outcome = await handle.result()

    assert (outcome.status, len(outcome.attempts)) == ("merged", 1)
    assert len(services.created) == 1
