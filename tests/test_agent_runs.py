"""The task workflow and Codegen's own behaviour: paused runs, the model, runs Codegen starts on the PR by
itself, its review bot, stopping its agents on cancel, and events from another host."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest

from models.codegen import AgentRun
from models.signals import CheckResult, PrEvent, Review
from models.status import Reason, TaskPhase
from tests.scripted_services import (
    CODEGEN_RUN_IDS,
    PR_KEY,
    ScriptedServices,
    at,
    run_workers,
    start,
    status_of,
    task_input,
    wait_for_phase,
)
from tests.waiting import wait_until
from workflows.agent import PROCEED_INSTRUCTION


async def test_a_paused_run_is_told_once_to_proceed_and_opens_its_pr(time_env, task_queue):
    services = ScriptedServices(attempts=["paused_once"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("pause-1", reconcile_interval=3600, agent_model="claude-sonnet-4"))
        status = await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("pr_event", services.close("merge"))
        outcome = await handle.result()
    events = [entry.event for entry in status.timeline]
    assert events.index("agent waiting for input") < events.index("agent told to proceed") < events.index("pull request opened")
    waiting = next(entry for entry in status.timeline if entry.event == "agent waiting for input")
    assert waiting.detail == "https://codegen.test/run/101"
    (resume,) = services.resumes
    assert (resume.run_id, resume.followup, resume.prompt, resume.model) == (101, 0, PROCEED_INSTRUCTION, "claude-sonnet-4")
    assert services.created[0].model == "claude-sonnet-4"
    assert (outcome.status, len(outcome.attempts), len(services.created)) == ("merged", 1, 1)


async def test_a_run_that_stays_paused_fails_the_attempt_as_agent_paused_and_the_next_attempt_runs(time_env, task_queue):
    services = ScriptedServices(attempts=["paused", "pr"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("pause-2", reconcile_interval=3600, agent_pause_timeout=1))
        status = await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("pr_event", services.close("merge"))
        outcome = await handle.result()
    first = status.attempts[0]
    assert first.outcome == "paused" and "still waits for input after being told to proceed" in (first.error or "")
    assert "https://codegen.test/run/101" in (first.error or "")
    # Told once, for the first run only; the next attempt is a new run.
    assert [(r.run_id, r.followup) for r in services.resumes] == [(101, 0)]
    assert (outcome.status, [a.outcome for a in outcome.attempts]) == ("merged", ["paused", "pr_opened"])


async def test_when_every_attempt_stays_paused_the_task_waits_for_retry_with_reason_agent_paused(time_env, task_queue):
    services = ScriptedServices(attempts=["paused"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("pause-3", max_attempts=1, agent_pause_timeout=1))
        status = await wait_for_phase(handle, TaskPhase.AWAITING_RETRY)
    assert status.error is not None and status.error.reason is Reason.AGENT_PAUSED


async def test_a_codegen_run_already_on_the_pr_is_waited_for_instead_of_a_second_fixer(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("fixer-1", reconcile_interval=3600, followup_settle=0.3))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        # Codegen's checks auto-fixer wakes on the failure before we do.
        services.codegen_runs.append(AgentRun(id=CODEGEN_RUN_IDS, status="ACTIVE", web_url="https://codegen.test/run/900"))
        await handle.signal("check_result", CheckResult(delivery_id="c1", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(1)))

        async def left_to_codegen() -> bool:
            return any(entry.event == "follow-up 1 done" for entry in (await status_of(handle)).timeline)

        await wait_until(left_to_codegen, what="the follow-up left to Codegen's own run")
        # Its fix lands: a new head whose checks pass.
        await handle.signal("pr_event", PrEvent(delivery_id="p1", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
        await handle.signal("check_result", CheckResult(delivery_id="c2", head_sha="sha-2", name="test", conclusion="success", completed_at=at(2)))

        async def green() -> bool:
            return (await status_of(handle)).verdict == "passing"

        await wait_until(green, what="the fixed head's checks passing")
        await handle.signal("pr_event", services.close("merge"))
        outcome = await handle.result()
        started_at = (await status_of(handle)).started_at
    assert services.resumes == [] and len(services.active_run_queries) == 1
    assert services.active_run_queries[0].pr_url == "https://github.com/acme/api/pull/7"
    # Runs from the task's start count: Codegen's fixer may wake before the task reads its PR.
    assert services.active_run_queries[0].created_after == started_at
    assert [(run.id, run.kind, run.status) for run in outcome.agent_runs] == [(101, "attempt", "COMPLETE"), (900, "codegen", "COMPLETE")]
    assert (outcome.status, outcome.followups, outcome.iterations_to_green) == ("merged", 1, 1)


async def test_reviews_by_codegens_review_bot_never_trigger_a_followup(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("bot-1", reconcile_interval=3600))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        bot = Review(delivery_id="r1", state="changes_requested", reviewer="codegen-sh[bot]", body="Nit.", pr_key=PR_KEY, submitted_at=at(5))
        await handle.signal("review", bot)

        async def recorded() -> bool:
            return any(r.reviewer == "codegen-sh[bot]" for r in (await status_of(handle)).reviews)

        await wait_until(recorded, what="the bot's review recorded")
        await handle.signal("pr_event", services.close("merge"))
        outcome = await handle.result()
    assert services.resumes == [] and outcome.followups == 0 and services.active_run_queries == []


@pytest.mark.parametrize("refused", [False, True], ids=["confirmed", "refused"])
async def test_cancelling_a_task_with_its_pr_open_stops_codegens_agents_on_it(time_env, task_queue, refused):
    services = ScriptedServices(stop_refused=refused)
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input(f"stop-{int(refused)}", reconcile_interval=3600))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.cancel()
        outcome = await handle.result()
    assert [stop.run_id for stop in services.stops] == [101]
    assert (outcome.status, outcome.reason, outcome.agents_stopped) == ("failed", Reason.CANCELLED, not refused)
    said = "did not confirm" if refused else "confirmed"
    assert outcome.message == f"the workflow was cancelled; Codegen {said} its agents on the PR stopped"


async def test_cancelling_before_any_pr_asks_codegen_nothing(time_env, task_queue):
    services = ScriptedServices(attempts=["hang"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("stop-2"))
        await wait_for_phase(handle, TaskPhase.PROCESSING)
        await handle.cancel()
        outcome = await handle.result()
    assert services.stops == [] and outcome.agents_stopped is None and outcome.reason is Reason.CANCELLED


async def test_events_from_another_host_never_move_the_task(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("host-1", reconcile_interval=3600))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        # The same owner/repo#number on the fake's host: a mock PR's webhook reaching a real task.
        mock = "mock-github.invalid"
        await handle.signal("check_result", CheckResult(delivery_id="m1", head_sha="sha-1", name="ci", conclusion="failure", host=mock))
        await handle.signal("pr_event", PrEvent(delivery_id="m2", action="closed", merged=True, pr_key=PR_KEY, host=mock))

        async def ignored_twice() -> bool:
            timeline = (await status_of(handle)).timeline
            return sum(entry.event == "event from another host ignored" for entry in timeline) == 2

        await wait_until(ignored_twice, what="both mock events ignored")
        status = await status_of(handle)
        assert status.checks == [] and status.pr.status == "open" and status.phase is TaskPhase.TRACKING_PR
        await handle.signal("pr_event", services.close("real").model_copy(update={"host": "GitHub.com"}))
        outcome = await handle.result()
        ended = await status_of(handle)
    assert outcome.status == "merged"
    # The real close was confirmed at once, not left for a later read.
    assert "close not confirmed" not in [entry.event for entry in ended.timeline]

