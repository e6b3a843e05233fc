"""Records the histories that tests/test_replay.py replays: `python -m tests.record_histories [NAME ...]`.

Run it after a deliberate, versioned change to the workflow; never to make a failing replay pass.
With names, only those are recorded: the older histories stay as recorded by older code, so the
replay test keeps checking that running workflows survive the upgrade.
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AsyncExitStack
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from models.codegen import AgentRun
from models.github import CheckOutput, CheckRunInfo, ReviewComment, ReviewState
from models.names import SIGNAL_RELEASE_SLOT
from models.signals import BasePush, CheckResult, PrEvent, Review
from models.slots import RepositoryLimits, slots_workflow_id
from models.status import TaskPhase
from tests import conftest
from tests.scripted_services import (
    CODEGEN_RUN_IDS,
    PR_KEY,
    REPO,
    ScriptedServices,
    at,
    run_workers,
    start,
    status_of,
    task_input,
    wait_for_phase,
)
from tests.waiting import wait_until

HISTORIES = Path(__file__).parent / "histories"


async def _record(name: str, env: WorkflowEnvironment, services: ScriptedServices, raw_input: dict, drive) -> None:
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, env, f"record-{name}")
        handle = await start(env, f"record-{name}", raw_input)
        await drive(handle, services)
        await handle.result()
        history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")


async def _merge_after_followup_and_review(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.signal("check_result", CheckResult(delivery_id="c1", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(1)))

    async def followed_up() -> bool:
        return bool(services.resumes)

    await wait_until(followed_up, what="the follow-up")
    # The follow-up ran but no new commit came yet: the head it fixed still fails.
    await wait_for_phase(handle, TaskPhase.NEEDS_ATTENTION)
    await handle.signal("pr_event", PrEvent(delivery_id="p1", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
    await handle.signal("check_result", CheckResult(delivery_id="c2", head_sha="sha-2", name="test", conclusion="success", completed_at=at(2)))
    await handle.signal("review", Review(delivery_id="r1", state="approved", reviewer="alice"))
    await handle.signal("pr_event", services.close("p2"))


async def _merge_after_review_with_line_comments(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.signal("review", Review(delivery_id="r1", review_id=55, state="changes_requested", reviewer="alice", body="Two things.", submitted_at=at(5)))

    async def followed_up() -> bool:
        return bool(services.resumes)

    await wait_until(followed_up, what="the follow-up")
    await handle.signal("pr_event", PrEvent(delivery_id="p1", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
    await handle.signal("review", Review(delivery_id="r2", review_id=56, state="approved", reviewer="alice", submitted_at=at(50)))
    await handle.signal("pr_event", services.close("p2"))


async def _merge_after_followup_without_check_output(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.signal("check_result", CheckResult(delivery_id="c1", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(1), output_summary="2 failed"))

    async def followed_up() -> bool:
        return bool(services.resumes)

    await wait_until(followed_up, what="the follow-up")
    await handle.signal("pr_event", services.close("p1"))


async def _retry_then_close(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.AWAITING_RETRY)
    await handle.execute_update("retry", result_type=str)
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.signal("pr_event", services.close("p1", merged=False))


async def _unconfirmed_then_merged(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.signal("pr_event", PrEvent(delivery_id="p1", action="closed", merged=True, pr_key=PR_KEY, head_sha="sha-9"))

    async def noted() -> bool:
        return any(entry.event == "close not confirmed" for entry in (await status_of(handle)).timeline)

    await wait_until(noted, what="the unconfirmed close")
    await handle.signal("pr_event", services.close("p2"))


async def _followup_left_to_codegens_run(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    services.codegen_runs.append(AgentRun(id=CODEGEN_RUN_IDS, status="ACTIVE"))
    await handle.signal("check_result", CheckResult(delivery_id="c1", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(1)))

    async def left_to_codegen() -> bool:
        return any(entry.event == "follow-up 1 done" for entry in (await status_of(handle)).timeline)

    await wait_until(left_to_codegen, what="the follow-up left to Codegen's run")
    await handle.signal("pr_event", PrEvent(delivery_id="p1", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
    await handle.signal("check_result", CheckResult(delivery_id="c2", head_sha="sha-2", name="test", conclusion="success", completed_at=at(2)))
    await handle.signal("pr_event", services.close("p2"))


async def _cancel_with_pr_open(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.cancel()


async def _late_change_request_then_merged(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.signal("review", Review(delivery_id="r2", review_id=2, state="approved", reviewer="alice", submitted_at=at(20)))
    # Delivered late: alice's older change request, already superseded by her approval.
    await handle.signal("review", Review(delivery_id="r1", review_id=1, state="changes_requested", reviewer="alice", submitted_at=at(10)))
    await handle.signal("pr_event", services.close("p1"))


async def _merge_after_followup_with_failing_check_outputs(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    await handle.signal("check_result", CheckResult(delivery_id="c0", head_sha="sha-1", name="lint", conclusion="success", completed_at=at(1)))
    await handle.signal("check_result", CheckResult(delivery_id="c1", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(2), output_summary="2 failed"))

    async def followed_up() -> bool:
        return bool(services.resumes)

    await wait_until(followed_up, what="the follow-up")
    await handle.signal("pr_event", services.close("p1"))


async def _nothing(handle, services: ScriptedServices) -> None:
    return None


async def _conflict_resolved_then_merged_by_the_service(handle, services: ScriptedServices) -> None:
    """Green but unapproved; the base moves and the PR conflicts; the agent resolves it; the new head is approved and merged."""
    await wait_for_phase(handle, TaskPhase.TRACKING_PR)
    services.mergeable, services.mergeable_state = False, "dirty"
    await handle.signal("base_pushed", BasePush(delivery_id="b1", repository=REPO, branch="main", before="base-1", after="base-2"))
    await wait_until(lambda: _resumed(services), what="the resolve_conflicts follow-up")
    # The agent's resolution lands while its run is still open: a new head, green, approved, mergeable.
    services.head_sha, services.mergeable, services.mergeable_state = "sha-2", True, "clean"
    services.checks = [CheckRunInfo(name="test", head_sha="sha-2", status="completed", conclusion="success", completed_at=at(3))]
    services.reviews = [ReviewState(id=2, reviewer="alice", state="approved", submitted_at=at(4), commit_id="sha-2")]
    await handle.signal("pr_event", PrEvent(delivery_id="p1", action="synchronize", head_sha="sha-2", pr_key=PR_KEY))
    assert services.followup_gate is not None
    services.followup_gate.set()


async def _resumed(services: ScriptedServices) -> bool:
    return bool(services.resumes)


async def _slot_freed_then_merged(handle, services: ScriptedServices) -> None:
    await wait_for_phase(handle, TaskPhase.QUEUED)
    (holder,) = services.slot_holders
    slots = handle._client.get_workflow_handle(slots_workflow_id(f"record-{RECORDED_SLOT}", REPO))
    await slots.signal(SIGNAL_RELEASE_SLOT, holder)


RECORDED_SLOT = "queued_for_a_repository_slot"
RECORDED_LADDER = "conflict_resolved_then_merged_by_the_service"

# name -> (scripted services, workflow input, what the test does to it)
RECORDINGS = {
    "merged_after_followup": (
        lambda: ScriptedServices(attempts=["no_pr", "pr"]),
        task_input("replay-1", reconcile_interval=3600, followup_settle=0.3),
        _merge_after_followup_and_review,
    ),
    "retry_then_closed": (lambda: ScriptedServices(attempts=["failed", "pr"]), task_input("replay-2", max_attempts=1), _retry_then_close),
    "expired": (ScriptedServices, task_input("replay-3", pr_timeout=7200, max_followups=0), _nothing),
    "merged_after_review_comments": (
        lambda: ScriptedServices(review_comments={55: [ReviewComment(path="src/limiter.py", line=12, body="Off by one.")]}),
        task_input("replay-4", reconcile_interval=3600, followup_settle=0.3),
        _merge_after_review_with_line_comments,
    ),
    "merged_after_followup_without_check_output": (
        lambda: ScriptedServices(check_output_error="NotFound"),
        task_input("replay-5", reconcile_interval=3600, followup_settle=0.3),
        _merge_after_followup_without_check_output,
    ),
    "merged_once_github_confirmed": (ScriptedServices, task_input("replay-6", reconcile_interval=3600), _unconfirmed_then_merged),
    "followup_left_to_codegens_run": (
        ScriptedServices,
        task_input("replay-7", reconcile_interval=3600, followup_settle=0.3),
        _followup_left_to_codegens_run,
    ),
    "cancelled_agents_stopped": (ScriptedServices, task_input("replay-8", reconcile_interval=3600), _cancel_with_pr_open),
    # Runs waited for through the worker's watcher: a pause, the resume, a follow-up's run.
    "agent_runs_watched": (
        lambda: ScriptedServices(attempts=["paused_once"]),
        task_input("replay-12", reconcile_interval=3600, followup_settle=0.3, agent_pause_timeout=1),
        _merge_after_followup_and_review,
    ),
    "late_change_request_ignored": (ScriptedServices, task_input("replay-10", reconcile_interval=3600), _late_change_request_then_merged),
    # Reads carry the PR's reviews; the follow-up reads only the failing check's output (read-failing-check-outputs).
    "followup_read_failing_check_outputs": (
        lambda: ScriptedServices(
            reviews=[ReviewState(id=1, reviewer="alice", state="approved", submitted_at=at(1), body="Looks right.")],
            check_outputs={"test": CheckOutput(name="test", summary="2 failed", text="E assert 3 == 2")},
        ),
        task_input("replay-11", reconcile_interval=3600, followup_settle=0.3),
        _merge_after_followup_with_failing_check_outputs,
    ),
    # The repository's one slot is taken: the task waits in line (queued-for-slot-and-rate), then gets it.
    RECORDED_SLOT: (
        lambda: ScriptedServices(
            pr_state="closed", merged=True, repository_limits=RepositoryLimits(default=1), slot_holders=["codegen-task-elsewhere"]
        ),
        task_input("replay-13", reconcile_interval=3600),
        _slot_freed_then_merged,
    ),
    # The merge ladder (merge-ladder): a base push, a conflict sent to the agent, the service's merge at the new head.
    RECORDED_LADDER: (
        lambda: ScriptedServices(
            followup_gate=asyncio.Event(),
            checks=[CheckRunInfo(name="test", head_sha="sha-1", status="completed", conclusion="success", completed_at=at(1))],
        ),
        task_input("replay-14", reconcile_interval=3600, followup_settle=0.3, merge_when_green=True),
        _conflict_resolved_then_merged_by_the_service,
    ),
}


async def main(names: list[str]) -> None:
    unknown = set(names) - set(RECORDINGS)
    if unknown:
        raise SystemExit(f"unknown histories {sorted(unknown)}; known: {sorted(RECORDINGS)}")
    async with await conftest.start_time_skipping() as env:
        for name in names or RECORDINGS:
            services, raw_input, drive = RECORDINGS[name]
            await _record(name, env, services(), raw_input, drive)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
