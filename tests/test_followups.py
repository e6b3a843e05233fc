"""The follow-up loop: failing checks and requested changes go back to the agent, within a budget."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from models.github import CheckOutput, ReviewComment
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


def failing(delivery: str, sha: str, seconds: int = 10) -> CheckResult:
    return CheckResult(delivery_id=delivery, head_sha=sha, name="test", conclusion="failure", completed_at=at(seconds), output_summary="2 failed")


def passing(delivery: str, sha: str, seconds: int = 20) -> CheckResult:
    return CheckResult(delivery_id=delivery, head_sha=sha, name="test", conclusion="success", completed_at=at(seconds))


def followup_input(task_id: str, **options) -> dict:
    return task_input(task_id, reconcile_interval=3600, followup_settle=0.3, **options)


async def resumed(services: ScriptedServices, count: int) -> None:
    async def enough() -> bool:
        return len(services.resumes) >= count

    await wait_until(enough, what=f"{count} resume(s)")


async def test_failing_checks_pass_after_one_followup(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-1"))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("check_result", failing("c1", "sha-1"))
        await resumed(services, 1)

        prompt = services.followup_prompts[0]
        assert prompt.kind == "fix_checks" and prompt.head_sha == "sha-1"
        assert [(c.name, c.conclusion, c.summary) for c in prompt.failing_checks] == [("test", "failure", "2 failed")]
        assert services.resumes[0].run_id == 101 and services.resumes[0].followup == 1

        await handle.signal("pr_event", PrEvent(delivery_id="p1", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
        await handle.signal("check_result", passing("c2", "sha-2"))
        await wait_until(lambda: _phase_and_verdict(handle, TaskPhase.TRACKING_PR, "passing"), what="green on sha-2")
        await handle.signal("pr_event", services.close("p2"))
        outcome = await handle.result()

    assert (outcome.status, outcome.followups, outcome.iterations_to_green) == ("merged", 1, 1)
    assert [run.kind for run in outcome.agent_runs] == ["attempt", "followup"]


async def test_only_the_failing_checks_outputs_are_read_within_the_prompts_budget(time_env, task_queue):
    services = ScriptedServices(check_outputs={"test": CheckOutput(name="test", summary="2 failed in test_limiter", text="E assert 3 == 2")})
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-10", max_context_size=12_000))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("check_result", passing("c0", "sha-1").model_copy(update={"name": "lint"}))
        await handle.signal("check_result", failing("c1", "sha-1"))
        await resumed(services, 1)
        await handle.signal("pr_event", services.close("p1"))
        await handle.result()

    [read] = services.check_output_reads
    assert (read.sha, read.names, read.max_chars) == ("sha-1", ["test"], 12_000)
    [check] = services.followup_prompts[0].failing_checks
    assert (check.name, check.summary, check.text) == ("test", "2 failed in test_limiter", "E assert 3 == 2")


async def _phase_and_verdict(handle, phase: TaskPhase, verdict: str) -> bool:
    status = await status_of(handle)
    return status.phase is phase and status.verdict == verdict


async def test_budget_spent_needs_attention_until_a_person_acts(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-2", max_followups=1))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("check_result", failing("c1", "sha-1"))
        await resumed(services, 1)
        await handle.signal("pr_event", PrEvent(delivery_id="p1", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
        await handle.signal("check_result", failing("c2", "sha-2", seconds=30))

        status = await wait_for_phase(handle, TaskPhase.NEEDS_ATTENTION)
        assert status.error.reason is Reason.CHECKS_FAILING
        assert status.error.message == "checks failing after 1 follow-up(s): test"
        assert len(services.resumes) == 1

        await handle.signal("pr_event", services.close("p2"))
        outcome = await handle.result()
    assert (outcome.status, outcome.followups, outcome.iterations_to_green) == ("merged", 1, None)


async def test_changes_requested_then_approved(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-3"))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("review", Review(delivery_id="r1", state="changes_requested", reviewer="alice", body="Please add tests for the limiter.", submitted_at=at(5)))
        await resumed(services, 1)
        assert services.followup_prompts[0].kind == "address_review"
        assert services.followup_prompts[0].review_body == "Please add tests for the limiter."

        await handle.signal("review", Review(delivery_id="r2", state="approved", reviewer="alice", submitted_at=at(50)))
        await handle.signal("pr_event", services.close("p1"))
        outcome = await handle.result()
    assert (outcome.status, outcome.followups) == ("merged", 1)
    assert [(r.reviewer, r.state) for r in outcome.reviews] == [("alice", "approved")]


async def test_a_reviews_line_comments_go_into_the_followup(time_env, task_queue):
    services = ScriptedServices(
        review_comments={55: [ReviewComment(path="src/limiter.py", line=12, body="Off by one."), ReviewComment(path="README.md", body="Document it.")]}
    )
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-7"))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("review", Review(delivery_id="r1", review_id=55, state="changes_requested", reviewer="alice", body="Two things.", submitted_at=at(5)))
        await resumed(services, 1)
        await handle.signal("pr_event", services.close("p1"))
        await handle.result()

    assert services.review_comment_reads == [55]
    prompt = services.followup_prompts[0]
    assert (prompt.review_body, prompt.review_comments) == ("Two things.", ["src/limiter.py:12: Off by one.", "README.md: Document it."])


async def test_a_review_whose_comments_cannot_be_read_is_still_addressed(time_env, task_queue):
    services = ScriptedServices()  # knows no review: the read fails as not found
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-8"))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("review", Review(delivery_id="r1", review_id=56, state="changes_requested", reviewer="alice", body="Rename it.", submitted_at=at(5)))
        await resumed(services, 1)
        status = await status_of(handle)
        await handle.signal("pr_event", services.close("p1"))
        outcome = await handle.result()

    assert services.review_comment_reads == [56]
    assert (services.followup_prompts[0].review_body, services.followup_prompts[0].review_comments) == ("Rename it.", [])
    assert "review comments unavailable" in [entry.event for entry in status.timeline]
    assert (outcome.status, outcome.followups) == ("merged", 1)


async def test_failing_checks_whose_output_github_refuses_are_still_followed_up(time_env, task_queue):
    services = ScriptedServices(check_output_error="NotFound")
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-9"))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("check_result", failing("c1", "sha-1"))
        await resumed(services, 1)
        status = await status_of(handle)
        await handle.signal("pr_event", services.close("p1"))
        outcome = await handle.result()

    # The webhook's summary stands in for the output GitHub would not give.
    assert [(c.name, c.summary, c.text) for c in services.followup_prompts[0].failing_checks] == [("test", "2 failed", None)]
    unavailable = [entry for entry in status.timeline if entry.event == "check output unavailable"]
    assert [entry.detail for entry in unavailable] == ["read_check_outputs: GitHub refused the check runs: NotFound"]
    assert (outcome.status, outcome.followups) == ("merged", 1)


async def test_events_during_a_followup_are_kept_for_the_next_round(time_env, task_queue):
    services = ScriptedServices(followup_gate=asyncio.Event())
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-4"))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("check_result", failing("c1", "sha-1"))
        await resumed(services, 1)
        await wait_for_phase(handle, TaskPhase.FOLLOWING_UP)
        await handle.signal("review", Review(delivery_id="r1", state="changes_requested", reviewer="bob", body="Rename it.", submitted_at=at(5)))
        # The agent's fix lands while its run is still open.
        services.head_sha = "sha-2"
        await handle.signal("pr_event", PrEvent(delivery_id="s2", action="synchronize", pr_key=PR_KEY, head_sha="sha-2"))
        assert len(services.resumes) == 1  # one follow-up at a time
        services.followup_gate.set()
        await resumed(services, 2)
        assert [p.kind for p in services.followup_prompts] == ["fix_checks", "address_review"]
        assert "fix_checks for test" in services.followup_prompts[1].previous_followups[0]
        await handle.signal("pr_event", services.close("p1", merged=False))
        outcome = await handle.result()
    assert (outcome.status, outcome.followups) == ("closed", 2)


async def test_reviews_from_the_agent_or_ignored_bots_never_trigger_a_followup(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-5", ignored_reviewers=["lint-bot[bot]"]))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("review", Review(delivery_id="r1", state="changes_requested", reviewer="codegen-bot", body="self"))
        await handle.signal("review", Review(delivery_id="r2", state="changes_requested", reviewer="lint-bot[bot]", body="style"))
        await handle.signal("check_result", passing("c1", "sha-1"))
        await wait_until(lambda: _phase_and_verdict(handle, TaskPhase.TRACKING_PR, "passing"), what="check applied after the reviews")
        status = await status_of(handle)
        assert {r.reviewer for r in status.reviews} == {"codegen-bot", "lint-bot[bot]"}
        assert services.resumes == [] and status.error is None
        await handle.cancel()
        await handle.result()


async def test_a_late_delivery_of_a_superseded_change_request_triggers_no_followup(time_env, task_queue):
    services = ScriptedServices()
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, followup_input("fu-late"))
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        await handle.signal("review", Review(delivery_id="r2", review_id=2, state="approved", reviewer="alice", submitted_at=at(20)))
        await handle.signal("review", Review(delivery_id="r1", review_id=1, state="changes_requested", reviewer="alice", submitted_at=at(10)))
        await handle.signal("review", Review(delivery_id="r3", review_id=3, state="commented", reviewer="alice", submitted_at=at(30)))
        # Signals apply in order: by the close, all three reviews are in.
        await handle.signal("pr_event", services.close("p1"))
        outcome = await handle.result()
    assert services.resumes == [] and outcome.followups == 0
    assert [(r.reviewer, r.state) for r in outcome.reviews] == [("alice", "approved")]
