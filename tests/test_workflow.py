"""CodegenTaskWorkflow's logic on the time-skipping server, with scripted activities."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from temporalio.client import (
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError

from models.github import CheckRunInfo
from models.signals import CheckResult, PrEvent, Review
from models.status import Reason, TaskPhase
from tests.scripted_services import (
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


async def test_merged_after_passing_checks_with_duplicates_ignored(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("merge-1", reconcile_interval=3600))
        status = await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        assert status.pr.ref.key == PR_KEY and status.codegen_status == "completed"

        passing = CheckResult(delivery_id="d1", head_sha="sha-1", name="ci", conclusion="success", completed_at=at(10))
        await handle.signal("check_result", passing)
        await handle.signal("check_result", passing)
        await handle.signal("review", Review(delivery_id="d2", state="approved", reviewer="alice"))
        await wait_until(lambda: _verdict_is(handle, "passing"), what="passing verdict")
        timeline = [entry.event for entry in (await status_of(handle)).timeline]
        assert timeline.count("check ci: success on sha-1") == 1

        await handle.signal("pr_event", services.close("d3"))
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("merged", Reason.MERGED)
    assert outcome.pr.status == "merged" and [c.conclusion for c in outcome.checks] == ["success"]
    assert outcome.reviews[0].state == "approved"
    assert outcome.timings.time_to_merge_s is not None and outcome.timings.time_to_pr_s is not None
    assert len(services.created) == 1


async def _verdict_is(handle: WorkflowHandle, verdict: str) -> bool:
    return (await status_of(handle)).verdict == verdict


async def test_failed_attempt_backs_off_and_next_prompt_says_why(time_env, task_queue):
    services = ScriptedServices(attempts=["failed", "no_pr", "pr"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        # Merged by the time the workflow first reads it, so the whole run is one result() wait and time skips.
        services.merged, services.pr_state = True, "closed"
        handle = await start(time_env, task_queue, task_input("retry-1"))
        outcome = await handle.result()

    assert outcome.status == "merged"
    assert [a.outcome for a in outcome.attempts] == ["failed", "no_pr", "pr_opened"]
    assert [run.attempt for run in outcome.agent_runs] == [1, 2, 3]
    assert services.prompts[0].previous_failures == []
    assert "tests did not compile" in services.prompts[1].previous_failures[0]
    assert "without opening a pull request" in services.prompts[2].previous_failures[1]


async def test_exhausted_attempts_wait_for_the_retry_update(time_env, task_queue):
    services = ScriptedServices(attempts=["failed", "pr"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("window-1", max_attempts=1))
        status = await wait_for_phase(handle, TaskPhase.AWAITING_RETRY)
        assert status.error.reason is Reason.CODEGEN_FAILED

        answer = await handle.execute_update("retry", result_type=str)
        assert "retrying window-1" in answer
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("retry", result_type=str)
        assert "tracking_pr, not awaiting_retry" in str(refused.value.cause)

        await handle.signal("pr_event", services.close("c", merged=False))
        outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("closed", Reason.CLOSED_UNMERGED)
    assert len(services.created) == 2


async def test_retry_window_elapsing_fails_with_the_last_reason(time_env, task_queue):
    services = ScriptedServices(attempts=["no_pr", "no_pr"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("window-2", max_attempts=2, retry_window=86400))
        outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("failed", Reason.NO_PR)
    assert "no retry within 1 day" in outcome.message


@pytest.mark.parametrize(
    ("error_type", "reason"),
    [("AuthError", Reason.AUTH_ERROR), ("PlanLimit", Reason.PLAN_LIMIT), ("RepositoryNotConnected", Reason.REPOSITORY_NOT_CONNECTED)],
)
async def test_errors_no_retry_can_fix_stop_at_once(time_env, task_queue, error_type, reason):
    services = ScriptedServices(attempts=[f"error:{error_type}", "pr"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("refused-1"))
        outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("failed", reason)
    assert error_type in outcome.message
    assert len(services.created) == 1


async def test_agent_timeout_counts_as_a_failed_attempt(time_env, task_queue):
    services = ScriptedServices(attempts=["hang"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("hang-1", max_attempts=1, agent_timeout=2, retry_window=60))
        outcome = await handle.result()
    assert (outcome.reason, outcome.attempts[0].outcome) == (Reason.AGENT_TIMEOUT, "timed_out")


async def test_reconcile_finds_a_merge_when_every_webhook_is_lost(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("reconcile-1", reconcile_interval=600))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        reads_before = services.github_reads
        services.merged, services.pr_state = True, "closed"
        outcome = await handle.result()
        timeline = (await status_of(handle)).timeline
    assert outcome.status == "merged"
    assert services.github_reads > reads_before
    assert any(entry.event == "reconcile: PR merged" for entry in timeline)


async def test_reconcile_reads_checks_and_backs_off_while_nothing_changes(time_env, task_queue):
    services = ScriptedServices(checks=[CheckRunInfo(name="lint", head_sha="sha-1", status="completed", conclusion="failure")])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(
            time_env, task_queue, task_input("expire-1", reconcile_interval=600, reconcile_max_interval=3600, pr_timeout=86400, max_followups=0)
        )
        outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("expired", Reason.EXPIRED)
    assert [(c.name, c.conclusion) for c in outcome.checks] == [("lint", "failure")]
    # 10, 20, 40 minutes, then hourly for a day: ~26 reads, far fewer than 144 at a fixed 10 minutes.
    assert 20 <= services.github_reads <= 35


async def test_check_results_newest_wins_and_stale_shas_never_count(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("order-1", reconcile_interval=3600))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("check_result", CheckResult(delivery_id="a", head_sha="sha-1", name="ci", conclusion="success", completed_at=at(20)))
        await handle.signal("check_result", CheckResult(delivery_id="b", head_sha="sha-1", name="ci", conclusion="failure", completed_at=at(10)))
        await handle.signal("pr_event", PrEvent(delivery_id="c", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
        await handle.signal("check_result", CheckResult(delivery_id="d", head_sha="sha-1", name="lint", conclusion="failure", completed_at=at(30)))
        await handle.signal("check_result", CheckResult(delivery_id="e", head_sha="sha-2", name="ci", conclusion="success", completed_at=at(40)))
        await handle.signal("pr_event", PrEvent(delivery_id="f", action="closed", merged=True, pr_key="other/repo#7"))

        async def settled() -> bool:
            status = await status_of(handle)
            return any(e.event.endswith("on sha-2") for e in status.timeline)

        await wait_until(settled, what="sha-2 check applied")
        status = await status_of(handle)
        assert status.pr.head_sha == "sha-2" and status.pr.status == "open"
        assert [(c.name, c.head_sha, c.conclusion) for c in status.checks] == [("ci", "sha-2", "success")]
        assert status.verdict == "passing"
        await handle.cancel()
        outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("failed", Reason.CANCELLED)


async def test_invalid_input_fails_at_once_naming_every_field(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, {"task": {"title": "", "type": "chore"}, "options": {"max_attempts": 0}})
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
    for field_name in ("task.title", "task.type", "options.max_attempts"):
        assert field_name in cause.message
    assert services.prompts == []


async def test_webhooks_that_beat_the_workflow_to_its_pr_are_kept(time_env, task_queue):
    services = ScriptedServices(attempts=["hang"])
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("early-1", max_attempts=1, agent_timeout=3, retry_window=3600))
        await wait_for_phase(handle, TaskPhase.PROCESSING)
        await handle.signal("review", Review(delivery_id="r1", state="approved", reviewer="alice", pr_key=PR_KEY))
        await handle.signal("review", Review(delivery_id="r2", state="approved", reviewer="mallory", pr_key="other/repo#1"))
        await wait_for_phase(handle, TaskPhase.AWAITING_RETRY)
        services.attempts.append("pr")
        await handle.execute_update("retry", result_type=str)
        status = await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        assert [(r.reviewer, r.state) for r in status.reviews] == [("alice", "approved")]
        await handle.cancel()
        await handle.result()


async def test_a_webhooks_close_ends_the_task_only_when_github_agrees(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("confirm-1", reconcile_interval=3600))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        # Validly signed, but about another head: GitHub still shows the PR open.
        await handle.signal("pr_event", PrEvent(delivery_id="forged", action="closed", merged=True, pr_key=PR_KEY, head_sha="sha-9"))

        async def refused() -> bool:
            return any(entry.event == "close not confirmed" for entry in (await status_of(handle)).timeline)

        await wait_until(refused, what="the unconfirmed close noted")
        status = await status_of(handle)
        assert status.phase is TaskPhase.TRACKING_PR and status.pr.status == "open"
        assert "GitHub shows the PR open" in status.timeline[-1].detail

        await handle.signal("pr_event", services.close("real"))
        outcome = await handle.result()
    assert (outcome.status, outcome.reason, outcome.pr.status) == ("merged", Reason.MERGED, "merged")
