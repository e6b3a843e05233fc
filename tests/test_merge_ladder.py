"""From green to merged, against the dev server, in-process workers, the relay and the fake over real HTTP: a branch
behind a protected base is updated, a conflict goes to the agent (and to a person once the budget is spent), the
service merges exactly the head that passed, and GitHub's refusals put the task in needs_attention with the reason."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle

from devstack.services import serve_app
from fakes.app import create_app as create_fake
from fakes.config import FakeConfig
from fakes.github_payloads import TOKEN_LOGIN
from models.status import Reason, TaskOutcome, TaskPhase, TaskStatus
from settings import Settings
from tests.relay_probe import serving
from tests.test_end_to_end import resume_prompts
from tests.waiting import wait_until
from webhooks.app import create_app as create_relay
from worker import running_workers

REPOSITORY = "acme/api"
# The fake merges nothing by itself: the service merges, or nobody does.
LEFT_OPEN = {"outcome": "leave_open", "review": "approve", "delays": {"run_seconds": 0.2, "checks_seconds": 0.2, "review_seconds": 0.1}}
# Reads every second or two: the fake's checks finish a fraction of a second after the PR opens, which can be
# before the relay can find the task (it waits 5 s for visibility); GitHub's take minutes.
MERGE_WHEN_GREEN = {"merge_when_green": True, "followup_settle": 0.5, "reconcile_interval": 1, "reconcile_max_interval": 2}


@dataclass
class Stack:
    client: Client
    task_queue: str
    fake: httpx.AsyncClient

    async def start(self, scenario: dict[str, Any], options: dict[str, Any], task_type: str = "feature") -> WorkflowHandle[Any, TaskOutcome]:
        task_id = f"ladder-{uuid.uuid4().hex[:8]}"
        return await self.client.start_workflow(
            "CodegenTaskWorkflow",
            {
                "task": {"id": task_id, "title": f"Change {task_id}", "type": task_type, "metadata": {"scenario": scenario}},
                "context": {"repository": REPOSITORY},
                "options": options,
            },
            id=f"codegen-task-{task_id}",
            task_queue=self.task_queue,
            result_type=TaskOutcome,
        )

    async def pull(self, outcome_or_status: TaskOutcome | TaskStatus) -> dict[str, Any]:
        """The fake's own view of the task's PR: its head, and every merge asked for."""
        assert outcome_or_status.pr is not None
        ref = outcome_or_status.pr.ref
        return (await self.fake.get(f"/_admin/pulls/{ref.owner}/{ref.repo}/{ref.number}")).json()

    async def writes(self) -> dict[str, dict[str, int]]:
        return (await self.fake.get("/_admin/counters")).json()["pull_request_writes"]


@asynccontextmanager
async def merge_stack(client: Client, task_queue: str) -> AsyncIterator[Stack]:
    """The fake served on loopback (so its admin views can be read), signing webhooks to the relay; workers against it."""
    secret = SecretStr(uuid.uuid4().hex)
    async with AsyncExitStack() as stack:
        relay_url = await stack.enter_async_context(serving(create_relay(Settings(webhook_secret=secret, task_queue=task_queue), client)))
        fake_config = FakeConfig(relay_url=relay_url, webhook_secret=secret.get_secret_value())
        fake_url = await stack.enter_async_context(serve_app(create_fake(fake_config)))
        settings = Settings(
            task_queue=task_queue,
            webhook_secret=secret,
            relay_url=relay_url,
            codegen_mock=True,
            codegen_api_url=fake_url,
            codegen_api_url_explicit=True,
            github_api_url=fake_url,
            github_api_url_explicit=True,
        )
        await stack.enter_async_context(running_workers(client, settings))
        fake = await stack.enter_async_context(httpx.AsyncClient(base_url=fake_url, timeout=10))
        yield Stack(client, task_queue, fake)


async def attention(handle: WorkflowHandle[Any, TaskOutcome]) -> TaskStatus:
    async def needing_attention() -> TaskStatus | None:
        status = await handle.query("status", result_type=TaskStatus)
        return status if status.phase is TaskPhase.NEEDS_ATTENTION else None

    return await wait_until(needing_attention, timeout=60, what="the task to need attention")


def events(status: TaskStatus) -> list[str]:
    return [entry.event for entry in status.timeline]


async def test_the_first_merge_makes_the_second_pr_conflict_and_the_agent_resolves_it(client: Client, task_queue: str):
    async with merge_stack(client, task_queue) as stack:
        # Checks take 2 s, so both PRs are open before either merges, however far apart their runs were created.
        scenario = {**LEFT_OPEN, "conflicts_with_merges": True, "delays": {**LEFT_OPEN["delays"], "checks_seconds": 2}}
        handles = [await stack.start(scenario, MERGE_WHEN_GREEN) for _ in range(2)]
        outcomes = await asyncio.gather(*(handle.result() for handle in handles))
        statuses = [await handle.query("status", result_type=TaskStatus) for handle in handles]
        pulls = [await stack.pull(outcome) for outcome in outcomes]
        conflicted = next(index for index, outcome in enumerate(outcomes) if outcome.followups)
        prompts = await resume_prompts(client, outcomes[conflicted].workflow_id)

    assert [(o.status, o.merged_by) for o in outcomes] == [("merged", "service")] * 2
    first, second = outcomes[1 - conflicted], outcomes[conflicted]
    assert first.followups == 0 and second.followups == 1
    timeline = events(statuses[conflicted])
    # The relay's push reached the open task, GitHub then said it conflicts, and one follow-up resolved it.
    assert any(event.startswith("main moved to ") for event in timeline), timeline
    assert "reconcile: PR conflicts with main" in timeline and "follow-up 1: resolve conflicts" in timeline
    assert [run.kind for run in second.agent_runs] == ["attempt", "followup"]
    assert len(prompts) == 1 and "no longer merges cleanly into `main`" in prompts[0]
    assert first.pr is not None and first.pr.title.split(" (")[0] in prompts[0]
    # Each merged at exactly the head whose checks had all passed: the conflicted one at its resolution.
    # (The second may have asked once before it knew of the first's merge: GitHub refused it, 405.)
    for pull, outcome in zip(pulls, outcomes, strict=True):
        *refused, merged = pull["merge_requests"]
        assert (merged["outcome"], merged["sha"], merged["head_checks_passed"]) == ("merged", pull["head_sha"], True)
        assert all(r["outcome"] == "not_mergeable" and r["head_checks_passed"] for r in refused), refused
        assert outcome.pr is not None and outcome.pr.merged_at is not None
    assert pulls[conflicted]["conflicting"] is False and pulls[conflicted]["followups_pushed"] == 1


async def test_a_branch_behind_a_protected_base_is_brought_up_to_date_then_merged(client: Client, task_queue: str):
    scenario = {**LEFT_OPEN, "base_moves": "behind", "branch_protection": {"required_approvals": 1, "require_up_to_date": True}}
    async with merge_stack(client, task_queue) as stack:
        outcome = await (await stack.start(scenario, MERGE_WHEN_GREEN)).result()
        status = await client.get_workflow_handle(outcome.workflow_id).query("status", result_type=TaskStatus)
        pull, writes = await stack.pull(outcome), await stack.writes()

    assert (outcome.status, outcome.merged_by, outcome.followups) == ("merged", "service", 0)
    assert "branch brought up to date with main" in events(status)
    assert writes == {"update_branch": {"updated": 1}, "merge": {"merged": 1}}, writes
    # No agent run was needed; the merge named the updated head, whose checks had passed.
    assert [run.kind for run in outcome.agent_runs] == ["attempt"]
    assert [(r["sha"], r["outcome"], r["head_checks_passed"]) for r in pull["merge_requests"]] == [(pull["head_sha"], "merged", True)]


async def test_a_conflict_with_no_follow_up_left_goes_to_a_person(client: Client, task_queue: str):
    scenario = {**LEFT_OPEN, "base_moves": "conflicting"}
    async with merge_stack(client, task_queue) as stack:
        handle = await stack.start(scenario, {**MERGE_WHEN_GREEN, "max_followups": 0})
        status = await attention(handle)
        writes = await stack.writes()
        await handle.cancel()

    assert status.error is not None and status.error.reason is Reason.MERGE_CONFLICT
    assert status.error.message == "the PR conflicts with main after 0 follow-up(s)"
    assert status.pr is not None and status.pr.mergeable_state == "dirty" and status.followups == 0
    assert writes == {"merge": {}, "update_branch": {}}, "nothing merges, nothing is updated, while the PR conflicts"


async def test_a_follow_up_that_pushed_nothing_ends_the_loop_with_the_reason(client: Client, task_queue: str):
    scenario = {**LEFT_OPEN, "base_moves": "conflicting", "resume_pushes": False}
    async with merge_stack(client, task_queue) as stack:
        handle = await stack.start(scenario, MERGE_WHEN_GREEN)
        status = await attention(handle)
        await handle.cancel()

    assert status.error is not None and status.error.reason is Reason.FOLLOWUP_PUSHED_NOTHING
    assert status.error.message.startswith("follow-up 1 ended without a new commit on the PR; the PR conflicts with main")
    # Budget was left (three follow-ups), but the same head never gets a second resolve_conflicts.
    assert status.followups == 1 and events(status).count("follow-up 1: resolve conflicts") == 1


async def test_a_push_between_the_verdict_and_the_merge_is_judged_again_and_only_passed_heads_merge(client: Client, task_queue: str):
    async with merge_stack(client, task_queue) as stack:
        outcome = await (await stack.start({**LEFT_OPEN, "push_before_merge": True}, MERGE_WHEN_GREEN)).result()
        pull = await stack.pull(outcome)

    assert (outcome.status, outcome.merged_by) == ("merged", "service")
    [raced, merged] = pull["merge_requests"]
    # The first merge named the head that had passed; a push landed first, so GitHub refused it.
    assert (raced["outcome"], raced["head_checks_passed"]) == ("head_changed", True) and raced["sha"] != raced["head"]
    # The new head was judged on its own checks and approval, then merged by its own sha.
    assert (merged["outcome"], merged["sha"], merged["head_checks_passed"]) == ("merged", pull["head_sha"], True)
    assert outcome.pr is not None and outcome.pr.head_sha == pull["head_sha"]


async def test_a_merge_whose_answer_was_lost_is_known_as_the_services_own(client: Client, task_queue: str):
    async with merge_stack(client, task_queue) as stack:
        # GitHub merges, but its answer is lost: the retry is refused, and finds the PR merged at the head it named.
        lost = {"method": "PUT", "path_contains": "/merge", "status": 502, "after_effect": True}
        assert (await stack.fake.post("/_admin/inject", json=lost)).status_code == 200
        outcome = await (await stack.start(LEFT_OPEN, MERGE_WHEN_GREEN)).result()
        pull = await stack.pull(outcome)

    assert (outcome.status, outcome.merged_by) == ("merged", "service")
    [merged, again] = pull["merge_requests"]
    assert (merged["outcome"], again["outcome"]) == ("merged", "not_mergeable")
    assert pull["merged_by"] == TOKEN_LOGIN and outcome.pr is not None and outcome.pr.merge_commit_sha


async def test_githubs_refusals_of_a_merge_put_the_task_in_needs_attention_naming_why(client: Client, task_queue: str):
    async with merge_stack(client, task_queue) as stack:
        queued = await stack.start({**LEFT_OPEN, "merge_queue": True}, MERGE_WHEN_GREEN)
        forbidden = await stack.start({**LEFT_OPEN, "write_forbidden": True}, MERGE_WHEN_GREEN)
        statuses = [await attention(queued), await attention(forbidden)]
        for handle in (queued, forbidden):
            await handle.cancel()

    blocked, missing = (status.error for status in statuses)
    assert blocked is not None and blocked.reason is Reason.MERGE_BLOCKED
    assert "Changes must be made through the merge queue" in blocked.message
    assert missing is not None and missing.reason is Reason.MISSING_PERMISSION
    assert "needs a token with contents=write" in missing.message


async def test_a_task_type_outside_merge_when_green_types_is_left_to_a_person(client: Client, task_queue: str):
    scenario = {**LEFT_OPEN, "outcome": "merge"}
    options = {**MERGE_WHEN_GREEN, "merge_when_green_types": ["documentation"]}
    async with merge_stack(client, task_queue) as stack:
        outcome = await (await stack.start(scenario, options, task_type="feature")).result()
        writes = await stack.writes()

    assert (outcome.status, outcome.merged_by) == ("merged", "person") and writes == {"merge": {}, "update_branch": {}}
