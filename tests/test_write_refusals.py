"""GitHub refusing the service's writes, on the time-skipping server with scripted services: a branch update
refused for a moved head is read and judged again (and the new head merged at its own sha), one refused for a
conflict goes to the agent, and a merge refused while GitHub computed mergeability is tried once more."""

from __future__ import annotations

from contextlib import AsyncExitStack

from models.github import CheckRunInfo, ReviewState
from models.status import TaskOutcome
from tests.scripted_services import ScriptedServices, at, run_workers, start, status_of, task_input
from tests.waiting import wait_until

MERGING = {"reconcile_interval": 3600, "followup_settle": 0.3, "merge_when_green": True}


def green_and_approved(*heads: str) -> dict:
    return {
        "checks": [CheckRunInfo(name="test", head_sha=h, status="completed", conclusion="success", completed_at=at(1)) for h in heads],
        "reviews": [
            ReviewState(id=n, reviewer=f"reviewer-{n}", state="approved", submitted_at=at(n), commit_id=h) for n, h in enumerate(heads, 1)
        ],
    }


async def test_an_update_refused_for_a_moved_head_reads_again_and_merges_the_new_head(time_env, task_queue):
    services = ScriptedServices(mergeable_state="behind", update_branch_error="HeadChanged", moved_head="sha-2", **green_and_approved("sha-1", "sha-2"))
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("upd-moved", **MERGING))
        outcome: TaskOutcome = await handle.result()
        status = await status_of(handle)

    events = [entry.event for entry in status.timeline]
    assert [update.expected_head_sha for update in services.branch_updates] == ["sha-1"]
    assert "branch update refused: the head moved" in events and "reconcile: head moved to sha-2" in events
    assert [merge.sha for merge in services.merges] == ["sha-2"]
    assert (outcome.status, outcome.merged_by, outcome.followups) == ("merged", "service", 0)


async def test_an_update_refused_for_a_conflict_sends_the_conflict_to_the_agent(time_env, task_queue):
    services = ScriptedServices(mergeable_state="behind", update_branch_error="MergeConflict", **green_and_approved("sha-1"))
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("upd-conflict", **MERGING))

        async def asked_to_resolve() -> bool:
            return bool(services.followup_prompts)

        await wait_until(asked_to_resolve, what="the resolve_conflicts follow-up")
        status = await status_of(handle)
        await handle.cancel()

    [prompt] = services.followup_prompts
    assert (prompt.kind, prompt.base_ref, prompt.head_sha) == ("resolve_conflicts", "main", "sha-1")
    assert [commit.message for commit in prompt.base_commits] == ["Rework the limiter (#6)"] and prompt.conflicting_files == ["src/limiter.py"]
    assert "branch update refused: codegen/t conflicts with main" in [entry.event for entry in status.timeline]
    assert services.merges == []


async def test_a_merge_refused_while_github_computes_mergeability_is_tried_once_more(time_env, task_queue):
    services = ScriptedServices(merge_error="NotMergeable", **green_and_approved("sha-1"))
    async with AsyncExitStack() as stack:
        await run_workers(stack, services, time_env, task_queue)
        handle = await start(time_env, task_queue, task_input("merge-undecided", **MERGING))
        outcome: TaskOutcome = await handle.result()
        status = await status_of(handle)

    assert [merge.sha for merge in services.merges] == ["sha-1", "sha-1"]
    assert "merge refused while GitHub computes mergeability; judging again" in [entry.event for entry in status.timeline]
    assert (outcome.status, outcome.merged_by) == ("merged", "service")
