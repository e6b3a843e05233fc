"""generate_prompt through a real worker on the Temporal dev server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.prompts import PromptActivities
    from cli.task_workflows import start_task
    from models.codegen import codegen_api_task_queue
    from models.followup import FollowupPromptInput
    from models.prompt import PromptInput, PromptResult
    from models.status import Reason
    from models.task import WorkflowInput
    from settings import Settings
    from tests.scripted_services import ScriptedServices, task_input
    from workflows.codegen_task import CodegenTaskWorkflow


@workflow.defn(sandboxed=False)
class RenderPromptWorkflow:
    """Only here to call the activity the way CodegenTaskWorkflow does."""

    @workflow.run
    async def run(self, input: PromptInput) -> PromptResult:
        return await workflow.execute_activity(
            "generate_prompt", input, result_type=PromptResult,
            start_to_close_timeout=timedelta(seconds=10), retry_policy=RetryPolicy(maximum_attempts=5),
        )


async def run_workflow(client: Client, task_queue: str, prompt: PromptInput, activities: PromptActivities, workflow_id: str | None = None):
    async with Worker(client, task_queue=task_queue, workflows=[RenderPromptWorkflow], activities=[activities.generate_prompt]):
        return await client.execute_workflow(
            RenderPromptWorkflow.run, prompt, id=workflow_id or f"prompt-{uuid.uuid4().hex}", task_queue=task_queue, result_type=PromptResult,
        )


async def test_activity_returns_the_rendered_prompt(client, task_queue):
    result = await run_workflow(client, task_queue, PromptInput(task={"id": "T1", "title": "Add {{ x }} $&", "type": "security"}), PromptActivities())
    assert result.content.startswith("# Security: Add {{ x }} $&\n")
    assert result.metadata.task_type == "security" and result.metadata.size_chars == len(result.content)


async def test_details_and_built_on_reach_the_template_through_the_activity(client, task_queue):
    built_on = [{"task_id": "tm-backend-3", "title": "Add key store", "pr_url": "https://github.com/acme/api/pull/57", "summary": "Added getKey(kid)."}]
    prompt = PromptInput(task={"id": "tm-backend-4", "title": "Add auth", "details": "Use jose."}, built_on=built_on)
    result = await run_workflow(client, task_queue, prompt, PromptActivities())
    assert "## Approach\n\nUse jose.\n" in result.content
    assert "### tm-backend-3: Add key store" in result.content and "Added getKey(kid)." in result.content


async def test_prompt_too_large_is_not_retried(client, task_queue):
    prompt = PromptInput(task={"title": "t", "description": "d" * 2000}, options={"max_context_size": 1000})
    workflow_id = f"prompt-{uuid.uuid4().hex}"
    with pytest.raises(WorkflowFailureError) as caught:
        await run_workflow(client, task_queue, prompt, PromptActivities(), workflow_id)
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PromptTooLarge" and cause.non_retryable
    assert "max_context_size is 1000" in cause.message
    assert cause.details == ({"size": cause.details[0]["size"], "budget": 1000},) and cause.details[0]["size"] > 2000
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    attempts = [event.activity_task_started_event_attributes.attempt for event in history.events if event.HasField("activity_task_started_event_attributes")]
    assert attempts == [1]


async def test_team_templates_dir_is_used(client, task_queue, tmp_path):
    (tmp_path / "testing.md.j2").write_text("TEAM {{ task.title }}")
    result = await run_workflow(client, task_queue, PromptInput(task={"title": "cover x", "type": "testing"}), PromptActivities(str(tmp_path)))
    assert result.content == "TEAM cover x"


@workflow.defn(sandboxed=False)
class RenderFollowupWorkflow:
    @workflow.run
    async def run(self, input: FollowupPromptInput) -> PromptResult:
        return await workflow.execute_activity(
            "generate_followup_prompt", input, result_type=PromptResult, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_followup_activity_renders_fix_checks(client, task_queue):
    activities = PromptActivities()
    followup = FollowupPromptInput(
        task={"id": "T2", "title": "t"}, kind="fix_checks", pr_url="https://github.com/a/b/pull/1", head_sha="abc",
        failing_checks=[{"name": "lint", "conclusion": "failure"}],
    )
    async with Worker(client, task_queue=task_queue, workflows=[RenderFollowupWorkflow], activities=[activities.generate_followup_prompt]):
        result = await client.execute_workflow(
            RenderFollowupWorkflow.run, followup, id=f"followup-{uuid.uuid4().hex}", task_queue=task_queue, result_type=PromptResult,
        )
    assert result.content.startswith("# Fix failing checks: t\n") and "- lint: failure\n" in result.content


async def test_a_broken_team_template_ends_the_task_with_its_file_and_line(client, task_queue, tmp_path):
    (tmp_path / "feature.md.j2").write_text("# {{ task.title }}\n\n{{ task.summary }}\n")
    services, prompts = ScriptedServices(), PromptActivities(str(tmp_path))
    services.client = client
    activities = [
        prompts.generate_prompt, prompts.generate_followup_prompt, services.watch_agent_run,
        services.read_pull_request, services.read_check_outputs, services.read_review_comments,
    ]  # fmt: skip
    task_worker = Worker(client, task_queue=task_queue, workflows=[CodegenTaskWorkflow], activities=activities)
    api_worker = Worker(client, task_queue=codegen_api_task_queue(task_queue), activities=[services.start_agent_run, services.resume_agent_run])
    async with task_worker, api_worker:
        handle = await start_task(client, Settings(task_queue=task_queue), WorkflowInput.model_validate(task_input(f"tpl-{uuid.uuid4().hex[:8]}")))
        outcome = await handle.result()

    assert (outcome.status, outcome.reason) == ("failed", Reason.TEMPLATE_ERROR)
    assert outcome.message == (
        f"generate_prompt: prompt template error: {tmp_path}/feature.md.j2:3: 'models.task.Task object' has no attribute 'summary'"
    )
    assert services.created == []
