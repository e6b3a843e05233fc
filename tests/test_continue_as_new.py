"""Continue-as-new carries every piece of state: a dev server that suggests it after a few events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack import temporal_server as devserver
from models import names
from models.signals import CheckResult, PrEvent
from models.status import TaskOutcome, TaskPhase, TaskStatus
from tests.scripted_services import ScriptedServices, at, task_input
from tests.test_workflow import PR_KEY, wait_for_phase
from tests.waiting import wait_until

SUGGEST_AFTER_EVENTS = 60


@pytest_asyncio.fixture
async def eager_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=devserver.temporal_cli_path(),
        search_attributes=names.SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER_EVENTS}",
        ],
    ) as env:
        yield env


async def test_a_long_history_continues_as_new_without_forgetting(eager_env: WorkflowEnvironment, task_queue: str):
    client = eager_env.client
    services = ScriptedServices()
    task_id = f"can-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        for worker in services.workers(client, task_queue):
            await stack.enter_async_context(worker)
        handle = await client.start_workflow(
            "CodegenTaskWorkflow",
            task_input(task_id, reconcile_interval=3600),
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
            result_type=TaskOutcome,
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

        # A redelivery from before the switch is still recognised; a new one still applies.
        await latest.signal("check_result", CheckResult(delivery_id="d0", head_sha="sha-1", name="check-0", conclusion="failure", completed_at=at(100)))
        await latest.signal("pr_event", PrEvent(delivery_id="merge", action="closed", merged=True, pr_key=PR_KEY))
        outcome = await latest.result()
    assert outcome.status == "merged" and len(services.created) == 1
    assert {c.conclusion for c in outcome.checks} == {"success"}
