"""How the command line names, starts and finds task workflows."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from models import names
from models.names import WORKFLOW_ID_PREFIX, WORKFLOW_NAME
from models.status import TaskOutcome
from models.task import WorkflowInput, workflow_id_for
from models.task_start import TaskStart
from settings import Settings

# Several workflows may carry one TaskId; a lookup names at most this many of them.
MATCHES_SHOWN = 10


class TaskLookupError(Exception):
    """No task by that name, or several: the message says which, for the user (exit 1)."""


def workflow_id_from(reference: str) -> str:
    """Users may name a task by its id (`bug-214`) or its workflow id (`codegen-task-bug-214`)."""
    return reference if reference.startswith(WORKFLOW_ID_PREFIX) else workflow_id_for(reference)


async def find_task(client: Client, settings: Settings, reference: str) -> WorkflowExecutionDescription:
    """The latest run of the task `reference` names; raises TaskLookupError when none or several match.

    First the workflow `codegen-task-<id>` (or the workflow id given). A workflow started another way,
    e.g. `temporal workflow start --workflow-id codegen-task-X` with task id `Y`, is listed as `Y`: when
    no workflow has the derived id, the task is looked up by its TaskId search attribute. Visibility
    is eventually consistent, so a workflow started a moment ago may not be found that way yet.
    """
    workflow_id = workflow_id_from(reference)
    description = await describe_or_none(client, workflow_id)
    if description is not None:
        return description
    task_id = reference.removeprefix(WORKFLOW_ID_PREFIX)
    found = await workflow_ids_with_task_id(client, settings, task_id)
    if not found:
        raise TaskLookupError(f"no task {reference} (workflow {workflow_id} not found, and no task workflow has TaskId {task_id!r})")
    if len(found) > 1:
        count = f"more than {MATCHES_SHOWN}" if len(found) > MATCHES_SHOWN else str(len(found))
        raise TaskLookupError(
            f"task {task_id} is ambiguous: {count} workflows have TaskId {task_id!r}: {', '.join(found[:MATCHES_SHOWN])}; "
            "name one by its workflow id"
        )
    description = await describe_or_none(client, found[0])
    if description is None:  # deleted between the list and the describe
        raise TaskLookupError(f"no task {reference} (workflow {found[0]} not found)")
    return description


async def workflow_ids_with_task_id(client: Client, settings: Settings, task_id: str) -> list[str]:
    """The ids of the task workflows whose TaskId is `task_id` (each once, however many runs), newest first."""
    query = visibility_query(settings, f"{names.TASK_ID.name}={quoted(task_id)}")
    found: list[str] = []
    async for execution in client.list_workflows(query, limit=100):
        if execution.id not in found:
            found.append(execution.id)
            if len(found) > MATCHES_SHOWN:
                break
    return found


def web_ui_url(settings: Settings, workflow_id: str) -> str:
    return f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{workflow_id}"


def quoted(value: str) -> str:
    """A string literal for a visibility query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def visibility_query(settings: Settings, *conditions: str) -> str:
    """Task workflows on this deployment's task queue, narrowed by `conditions` (ANDed)."""
    scope = [f"WorkflowType={quoted(WORKFLOW_NAME)}", f"TaskQueue={quoted(settings.task_queue)}"]
    return " AND ".join([*scope, *conditions])


async def start_task(client: Client, settings: Settings, input: WorkflowInput, *, workflow_id: str | None = None) -> WorkflowHandle:
    """Start the task's workflow; raises WorkflowAlreadyStartedError while one with its id is running.

    The workflow id is `codegen-task-<task id>` unless `workflow_id` is given (a restart keeps the id
    of a workflow started another way). The search attributes a list or a relay needs are set at
    start, so the task is findable at once.
    """
    task = input.task
    assert task.id is not None, "submit assigns ids before starting"
    start = TaskStart.of(input)
    return await client.start_workflow(
        WORKFLOW_NAME,
        input.model_dump(mode="json", exclude={"carried_state"}),
        id=workflow_id or workflow_id_for(task.id),
        result_type=TaskOutcome,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        # A finished task may be submitted again; a running one may not.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=start.search_attributes,
        priority=start.priority,
        static_summary=start.static_summary,
        static_details=start.static_details,
    )


async def describe_or_none(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    """The latest run of `workflow_id`, or None when there is no such workflow."""
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise

