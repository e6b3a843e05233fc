"""Continue-as-new carries every piece of state: a dev server that suggests it after a few events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest_asyncio
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack import temporal_server
from models import names
from models.signals import CheckResult, PrEvent, Review
from models.status import Reason, TaskOutcome, TaskPhase, TaskState, TaskStatus
from models.task import WorkflowInput, task_markdown
from tests.scripted_services import PR_KEY, ScriptedServices, at, task_input, wait_for_phase
from tests.waiting import wait_until
from workflows import followup_policy

SUGGEST_AFTER_EVENTS = 60


@pytest_asyncio.fixture
async def eager_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_server.temporal_cli_path(),
        search_attributes=names.SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        dev_server_extra_args=[
            *temporal_server.dynamic_config_args(),
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
    ) as env:
        yield env


async def details_showing(handle: WorkflowHandle, text: str) -> str | None:
    """The run's current details once they contain `text`. The Web UI reads them through this built-in query."""
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details if text in metadata.current_details else None


async def test_a_long_history_continues_as_new_without_forgetting(eager_env: WorkflowEnvironment, task_queue: str):
    client = eager_env.client
    services = ScriptedServices()
    task_id = f"can-{uuid.uuid4().hex[:8]}"
    raw_input = task_input(task_id, reconcile_interval=3600)
    raw_input["task"] |= {"requirements": ["Limit per API key"], "acceptance_criteria": ["429 after 100 requests a minute"]}
    card = task_markdown(WorkflowInput.model_validate(raw_input))
    async with AsyncExitStack() as stack:
        for worker in services.workers(client, task_queue):
            await stack.enter_async_context(worker)
        handle = await client.start_workflow(
            "CodegenTaskWorkflow",
            raw_input,
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
            result_type=TaskOutcome,
            static_summary="Add rate limiting (feature)",
            static_details=card,
        )
        first_run = handle.first_execution_run_id
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        for number in range(40):
            check = CheckResult(delivery_id=f"d{number}", head_sha="sha-1", name=f"check-{number}", conclusion="success", completed_at=at(number))
            await handle.signal("check_result", check)

        async def continued() -> bool:
            return (await client.get_workflow_handle(handle.id, run_id=first_run).describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

        await wait_until(continued, what="the first run to continue as new")
        latest = client.get_workflow_handle(handle.id, result_type=TaskOutcome)
        status = await latest.query("status", result_type=TaskStatus)
        assert status.phase is TaskPhase.TRACKING_PR and status.pr.ref.key == PR_KEY
        assert len(status.checks) == 40 and status.verdict == "passing"
        assert [a.outcome for a in status.attempts] == ["pr_opened"] and status.agent_runs[0].id == 101
        assert any(entry.event == "continued as new" for entry in status.timeline)

        # Continue-as-new drops the static summary and details the start set; the current details name the task.
        assert await (await latest.describe()).static_summary() is None
        details = await wait_until(lambda: details_showing(latest, card), what="the new run's current details to show the task")
        assert details.startswith("## Add rate limiting\n") and "**Type:** feature" in details
        assert "### Requirements\n- Limit per API key" in details and "### Acceptance criteria\n- 429 after 100 requests a minute" in details
        assert "**Phase:** tracking_pr" in details

        # A redelivery from before the switch is still recognised; a new one still applies.
        await latest.signal("check_result", CheckResult(delivery_id="d0", head_sha="sha-1", name="check-0", conclusion="failure", completed_at=at(100)))
        await latest.signal("pr_event", services.close("merge"))
        outcome = await latest.result()
    assert outcome.status == "merged" and len(services.created) == 1
    assert {c.conclusion for c in outcome.checks} == {"success"}


async def test_continued_as_new_after_a_followup_that_pushed_nothing_resumes_with_identical_state(eager_env: WorkflowEnvironment, task_queue: str):
    """The follow-up's run ends with a review waiting and no push: after the settle window the task says the
    follow-up pushed nothing and continues as new. The next run must start from exactly that state, and go on
    when the agent's push lands late."""
    client = eager_env.client
    services = ScriptedServices(followup_gate=asyncio.Event())
    task_id = f"can-fu-{uuid.uuid4().hex[:8]}"
    settle = timedelta(seconds=1)
    async with AsyncExitStack() as stack:
        for worker in services.workers(client, task_queue):
            await stack.enter_async_context(worker)
        handle = await client.start_workflow(
            "CodegenTaskWorkflow",
            task_input(task_id, reconcile_interval=3600, followup_settle=settle.total_seconds()),
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
            result_type=TaskOutcome,
        )
        first_run = handle.first_execution_run_id
        await wait_for_phase(handle, TaskPhase.TRACKING_PR)
        failing = CheckResult(delivery_id="fail", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(1))
        await handle.signal("check_result", failing)

        async def following_up() -> bool:
            return len(services.resumes) == 1

        await wait_until(following_up, what="the fix-checks follow-up to resume the run")
        # While the follow-up's run works, the history grows past the point where the server suggests
        # continue-as-new, and a review arrives: nothing is judged until the run ends.
        for number in range(SUGGEST_AFTER_EVENTS // 2):
            check = CheckResult(delivery_id=f"pad{number}", head_sha="sha-1", name=f"lint-{number}", conclusion="success", completed_at=at(number))
            await handle.signal("check_result", check)
        await handle.signal("review", Review(delivery_id="r1", review_id=None, state="changes_requested", reviewer="alice", pr_key=PR_KEY, submitted_at=at(50)))
        services.followup_gate.set()

        async def continued() -> bool:
            return (await client.get_workflow_handle(handle.id, run_id=first_run).describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW

        await wait_until(continued, timeout=60, what="the first run to continue as new")
        history = await client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
        last = history.events[-1].workflow_execution_continued_as_new_event_attributes
        (next_input,) = await pydantic_data_converter.decode(last.input.payloads, [dict])
        carried = TaskState.model_validate(next_input["carried_state"])

        # Carried after the settle window: the follow-up ended on the head it was about, and nothing came since.
        assert carried.followup_ended_at is not None and carried.followed_shas == ["sha-1"]
        assert carried.followup_heads == ["fix_checks@sha-1"] and followup_policy.pushed_nothing(carried, ladder=True)
        assert carried.status.error is not None and carried.status.error.reason is Reason.FOLLOWUP_PUSHED_NOTHING
        assert carried.status.followups == 1 and carried.pr_run_id == 101
        assert [r.reviewer for r in carried.status.reviews] == ["alice"]
        assert {"fail", "r1", "pad0"} <= set(carried.seen_deliveries)
        assert len(carried.all_checks) == 1 + SUGGEST_AFTER_EVENTS // 2

        # The next run starts from that state: same timeline, then its own entries.
        latest = client.get_workflow_handle(handle.id, result_type=TaskOutcome)
        resumed = await latest.query("status", result_type=TaskStatus)
        assert resumed.timeline[: len(carried.status.timeline)] == carried.status.timeline
        assert resumed.timeline[len(carried.status.timeline)].event == "continued as new"
        assert (resumed.attempts, resumed.agent_runs[:2], resumed.checks) == (carried.status.attempts, carried.status.agent_runs, carried.status.checks)

        # The agent's push lands late, in the new run: the head moves on, and the loop with it.
        services.head_sha = "sha-2"
        await latest.signal("pr_event", PrEvent(delivery_id="push", action="synchronize", pr_key=PR_KEY, head_sha="sha-2"))
        # It goes on where the first run stopped: the review is addressed once, and a redelivery from before the switch changes nothing.
        async def second_followup_done() -> bool:
            status = await latest.query("status", result_type=TaskStatus)
            return any(entry.event == "follow-up 2 done" for entry in status.timeline)

        await wait_until(second_followup_done, what="the review's follow-up in the new run")
        await latest.signal("check_result", failing)
        await latest.signal("pr_event", services.close("merge"))
        outcome = await latest.result()
        ended = await latest.query("status", result_type=TaskStatus)
    assert outcome.status == "merged" and outcome.followups == 2 and len(services.created) == 1
    assert [p.kind for p in services.followup_prompts] == ["fix_checks", "address_review"]
    assert ended.error is None
