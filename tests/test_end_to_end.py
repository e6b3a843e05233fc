"""The whole flow on real parts: dev server, worker in mock mode, relay, and the fake's signed webhooks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from pydantic import SecretStr
from temporalio.client import Client

from models.codegen import ResumeRunInput
from models.status import Reason, TaskOutcome, TaskPhase, TaskStatus
from settings import Settings
from tests.relay_probe import serving
from webhooks.app import create_app
from worker import running_workers


@asynccontextmanager
async def mock_stack(client: Client, task_queue: str) -> AsyncIterator[None]:
    """Relay on loopback, both workers in mock mode; the in-process fake signs webhooks to the relay."""
    secret = SecretStr(uuid.uuid4().hex)
    async with AsyncExitStack() as stack:
        relay_url = await stack.enter_async_context(serving(create_app(Settings(webhook_secret=secret, task_queue=task_queue), client)))
        worker_settings = Settings(task_queue=task_queue, webhook_secret=secret, relay_url=relay_url)
        clients = await stack.enter_async_context(running_workers(client, worker_settings))
        assert clients.mock_mode
        yield


async def run_task(client: Client, task_queue: str, task: dict, options: dict) -> tuple[TaskOutcome, TaskStatus]:
    task_id = f"e2e-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "CodegenTaskWorkflow",
        {"task": {"id": task_id, **task}, "context": {"repository": "acme/api"}, "options": options},
        id=f"codegen-task-{task_id}",
        task_queue=task_queue,
        result_type=TaskOutcome,
    )
    outcome = await handle.result()
    return outcome, await handle.query("status", result_type=TaskStatus)


async def test_a_task_goes_from_submission_to_merged_by_webhooks_alone(client: Client, task_queue: str):
    async with mock_stack(client, task_queue):
        # An hour between GitHub reads: only webhooks can finish this within the test.
        outcome, status = await run_task(client, task_queue, {"title": "Add a health endpoint", "type": "feature"}, {"reconcile_interval": 3600})

    assert (outcome.status, outcome.reason, outcome.mock_mode) == ("merged", Reason.MERGED, True)
    assert outcome.pr.ref.repository == "acme/api" and outcome.checks and all(c.conclusion == "success" for c in outcome.checks)
    events = [entry.event for entry in status.timeline]
    # The merge webhook ended it, once the read it asks for agreed: no periodic read came first.
    assert events.index("reconcile: PR merged") == events.index("webhook: PR merged; confirming with GitHub") + 1
    assert status.phase is TaskPhase.MERGED


async def test_failing_checks_are_fixed_by_a_followup_end_to_end(client: Client, task_queue: str):
    task = {"title": "Fix the flaky limiter", "type": "bug_fix", "metadata": {"scenario": {"checks": {"fail_until_followup": 1}}}}
    async with mock_stack(client, task_queue):
        outcome, status = await run_task(client, task_queue, task, {"reconcile_interval": 3600, "followup_settle": 0.5})

    assert (outcome.status, outcome.followups, outcome.iterations_to_green) == ("merged", 1, 1)
    assert [run.kind for run in outcome.agent_runs] == ["attempt", "followup"]
    assert any(entry.event.startswith("new commit") for entry in status.timeline)


async def test_requested_changes_reach_the_agent_with_the_reviews_line_comments(client: Client, task_queue: str):
    task = {"title": "Tighten the limiter", "type": "feature", "metadata": {"scenario": {"review": "changes_requested_then_approve"}}}
    async with mock_stack(client, task_queue):
        outcome, _ = await run_task(client, task_queue, task, {"reconcile_interval": 3600, "followup_settle": 0.5})

    assert (outcome.status, outcome.followups) == ("merged", 1)
    prompts = await resume_prompts(client, outcome.workflow_id)
    assert len(prompts) == 1
    # The fake's reviewer writes one comment on a line and one on a whole file (fakes.world.REQUESTED_CHANGES).
    assert "src/service.py:42: This swallows the error; let it propagate to the caller." in prompts[0]
    assert "tests/test_service.py: Add a test for the failure path." in prompts[0]


async def resume_prompts(client: Client, workflow_id: str) -> list[str]:
    """The prompts the workflow sent to resume the agent's run, as recorded in its history."""
    prompts = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and scheduled.activity_type.name == "resume_agent_run":
            [resume] = await client.data_converter.decode(scheduled.input.payloads, [ResumeRunInput])
            prompts.append(resume.prompt)
    return prompts


async def test_a_hundred_checks_with_whole_logs_keep_the_history_small(client: Client, task_queue: str):
    """GitHub allows 65,535 characters in each check's summary and text: 100 such checks failing, then
    passing after a follow-up, are 13 MB of CI output. The history must stay far from Temporal's limits
    (50 MB a history, 2 MB a payload): every webhook, read and follow-up keeps only bounded text."""
    names = [f"check-{i:03d}" for i in range(100)]
    scenario = {"check_names": names, "check_output_chars": 65_535, "checks": {"fail_until_followup": 1}}
    task = {"title": "Fix the flaky limiter", "type": "bug_fix", "metadata": {"scenario": scenario}}
    # The prompt lists all 100 failing checks, which the default 8,000 characters cannot hold.
    options = {"reconcile_interval": 3600, "followup_settle": 0.5, "max_context_size": 50_000}
    async with mock_stack(client, task_queue):
        outcome, _ = await run_task(client, task_queue, task, options)

    assert (outcome.status, outcome.followups) == ("merged", 1) and set(names) <= {check.name for check in outcome.checks}
    history = await client.get_workflow_handle(outcome.workflow_id).fetch_history()
    sizes = [event.ByteSize() for event in history.events]
    assert sum(sizes) < 1024 * 1024, f"history is {sum(sizes)} bytes"
    assert max(sizes) < 256 * 1024, f"an event is {max(sizes)} bytes"
    # The failing checks' logs did reach the agent, cut.
    [prompt] = await resume_prompts(client, outcome.workflow_id)
    assert "FAILED tests/test_check-000.py::test_feature" in prompt and "… [truncated, " in prompt


async def test_a_run_that_pauses_and_spells_its_statuses_in_lower_case_still_opens_one_pr(client: Client, task_queue: str):
    scenario = {"pause": "once", "status_spelling": "lower", "intermediate_statuses": True}
    task = {"title": "Add a readiness probe", "type": "feature", "metadata": {"scenario": scenario}}
    async with mock_stack(client, task_queue):
        outcome, status = await run_task(client, task_queue, task, {"reconcile_interval": 3600})

    assert (outcome.status, [a.outcome for a in outcome.attempts]) == ("merged", ["pr_opened"])
    assert outcome.agent_runs[0].status.lower() == "completed"
    events = [entry.event for entry in status.timeline]
    assert events.index("agent waiting for input") < events.index("agent told to proceed") < events.index("pull request opened")


async def test_codegens_own_checks_fixer_is_left_to_fix_the_pr(client: Client, task_queue: str):
    # The auto-fixer's run takes a few seconds, so it is still at work when the task looks.
    scenario = {"checks": {"fail_until_followup": 1}, "autofix": True, "delays": {"run_seconds": 3}}
    task = {"title": "Fix the flaky limiter", "type": "bug_fix", "metadata": {"scenario": scenario}}
    async with mock_stack(client, task_queue):
        outcome, _ = await run_task(client, task_queue, task, {"reconcile_interval": 3600, "followup_settle": 0.5})

    assert outcome.status == "merged"
    assert [run.kind for run in outcome.agent_runs] == ["attempt", "codegen"] and outcome.followups == 1
    assert await resume_prompts(client, outcome.workflow_id) == []


async def test_a_repository_codegen_does_not_know_fails_at_once_and_the_outcome_says_mock_mode(client: Client, task_queue: str, monkeypatch):
    monkeypatch.setenv("FAKE_REPOSITORIES", "acme/api")
    task_id = f"e2e-{uuid.uuid4().hex[:8]}"
    async with mock_stack(client, task_queue):
        handle = await client.start_workflow(
            "CodegenTaskWorkflow",
            {"task": {"id": task_id, "title": "Document the API", "type": "documentation"}, "context": {"repository": "acme/docs"}},
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
            result_type=TaskOutcome,
        )
        outcome = await handle.result()
    assert (outcome.status, outcome.reason, outcome.mock_mode) == ("failed", Reason.REPOSITORY_NOT_CONNECTED, True)
