"""How the command line names, starts and finds task workflows."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from models import names
from models.names import WORKFLOW_ID_PREFIX, WORKFLOW_NAME
from models.status import TaskOutcome, TaskPhase
from models.task import WorkflowInput, workflow_id_for
from settings import Settings


def workflow_id_from(reference: str) -> str:
    """Users may name a task by its id (`bug-214`) or its workflow id (`codegen-task-bug-214`)."""
    return reference if reference.startswith(WORKFLOW_ID_PREFIX) else workflow_id_for(reference)


def web_ui_url(settings: Settings, workflow_id: str) -> str:
    return f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"


def quoted(value: str) -> str:
    """A string literal for a visibility query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def visibility_query(settings: Settings, *conditions: str) -> str:
    """Task workflows on this deployment's task queue, narrowed by `conditions` (ANDed)."""
    scope = [f"WorkflowType={quoted(WORKFLOW_NAME)}", f"TaskQueue={quoted(settings.task_queue)}"]
    return " AND ".join([*scope, *conditions])


async def start_task(client: Client, settings: Settings, input: WorkflowInput) -> WorkflowHandle:
    """Start the task's workflow; raises WorkflowAlreadyStartedError while one with its id is running.

    The search attributes a list or a relay needs are set at start, so the task is findable at once.
    """
    task = input.task
    assert task.id is not None, "submit assigns ids before starting"
    attributes = [
        SearchAttributePair(names.TASK_ID, task.id),
        SearchAttributePair(names.TASK_TYPE, task.type.value),
        SearchAttributePair(names.TASK_PHASE, TaskPhase.PENDING.value),
    ]
    if input.context.repository:
        attributes.append(SearchAttributePair(names.REPOSITORY, input.context.repository))
    return await client.start_workflow(
        WORKFLOW_NAME,
        input.model_dump(mode="json", exclude={"carried_state"}),
        id=workflow_id_for(task.id),
        result_type=TaskOutcome,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        # A finished task may be submitted again; a running one may not.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes(attributes),
        static_summary=f"{task.title} ({task.type.value})",
        static_details=_task_markdown(input),
    )


async def describe_or_none(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    """The latest run of `workflow_id`, or None when there is no such workflow."""
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


def _task_markdown(input: WorkflowInput) -> str:
    task = input.task
    facts = [f"**Type:** {task.type.value}", f"**Priority:** {task.priority}"]
    if input.context.repository:
        facts.append(f"**Repository:** {input.context.repository}")
    lines = [" · ".join(facts)]
    for heading, items in (("Requirements", task.requirements), ("Acceptance criteria", task.acceptance_criteria)):
        if items:
            lines += ["", f"### {heading}", *(f"- {item}" for item in items)]
    return "\n".join(lines)
