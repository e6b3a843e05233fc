"""How a task shows itself: its first status, search attributes, the Web UI's current details, its outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from models import names
    from models.names import WORKFLOW_ID_PREFIX
    from models.status import (
        OutcomeStatus,
        Reason,
        TaskOutcome,
        TaskPhase,
        TaskState,
        TaskStatus,
        Timings,
    )
    from models.task import WorkflowInput, task_markdown


# The outcome repeats these fields of the status as they are at the end.
_SHOWN_IN_OUTCOME = sorted(TaskOutcome.model_fields.keys() & TaskStatus.model_fields.keys())


def initial_status(input: WorkflowInput | None) -> TaskStatus:
    """A new task's status; with invalid input, enough of one for the query to say so."""
    info = workflow.info()
    task = input.task if input else None
    task_id = (task.id if task and task.id else None) or info.workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
    return TaskStatus(
        task_id=task_id,
        workflow_id=info.workflow_id,
        title=task.title if task else "(invalid input)",
        task_type=task.type.value if task else "",
        phase=TaskPhase.PENDING,
        codegen_status="pending",
        attempt=0,
        max_attempts=input.options.max_attempts if input else 0,
        started_at=workflow.now(),
        priority=task.priority if task else None,
    )


class Publisher:
    """Search attributes (only those that changed: each upsert is a visibility write) and current details."""

    def __init__(self) -> None:
        # What visibility already holds (the starter sets the task's attributes when it starts the workflow).
        self._published: dict[str, Any] = {pair.key.name: pair.value for pair in workflow.info().typed_search_attributes}

    def publish(self, status: TaskStatus, input: WorkflowInput) -> None:
        wanted = search_attributes(status, input.context.repository)
        updates = [key.value_set(value) for key, value in wanted.items() if self._published.get(key.name) != value]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published |= {key.name: value for key, value in wanted.items()}
        show_details(status, input)


def show_details(status: TaskStatus, input: WorkflowInput) -> None:
    """The Web UI's current details. Not a command: any moment of any run may show them, replay unchanged."""
    # The task heads them in every run, not only in continuations: a run after continue-as-new has no static
    # summary or details (the SDK's continue_as_new cannot carry them), and a workflow started another way
    # (`temporal workflow start`) never had them. A submitted task's first run shows the task twice for it.
    workflow.set_current_details(f"{task_markdown(input)}\n\n---\n\n{details_markdown(status)}")


def search_attributes(status: TaskStatus, repository: str | None) -> dict[SearchAttributeKey[str], str]:
    """The attributes webhooks and stats find the task by; the PR's repository wins over the task's."""
    wanted = {names.TASK_ID: status.task_id, names.TASK_TYPE: status.task_type, names.TASK_PHASE: status.phase.value}
    if repository:
        wanted[names.REPOSITORY] = repository
    if status.pr:
        wanted |= {
            names.PR_KEY: status.pr.ref.key,
            names.PR_HEAD_SHA: status.pr.head_sha,
            names.PR_STATUS: status.pr.status,
            names.PR_BASE_REF: status.pr.base_ref,
            names.REPOSITORY: status.pr.ref.repository,
        }
    return wanted


def details_markdown(status: TaskStatus) -> str:
    lines = [f"**Phase:** {status.phase.value} · attempt {status.attempt}/{status.max_attempts}"]
    if status.queued:
        lines.append(f"**Queued:** {status.queued.reason} (since {status.queued.since:%Y-%m-%d %H:%M:%S} UTC)")
    if status.agent_runs:
        run = status.agent_runs[-1]
        lines.append(f"**Agent run:** [{run.id}]({run.web_url}) {run.status}" if run.web_url else f"**Agent run:** {run.id} {run.status}")
    if status.pr:
        against_base = status.pr.against_base_words()
        standing = f" · {against_base}" if against_base else ""
        lines.append(f"**PR:** [{status.pr.ref.key}]({status.pr.url}) {status.pr.status} · checks {status.verdict}{standing}")
    if status.checks:
        lines += ["", "| check | result |", "|---|---|"]
        lines += [f"| {c.name} | {c.conclusion or c.status} |" for c in status.checks]
    if status.error:
        lines.append(f"**Error:** {status.error.reason.value}: {status.error.message}")
    return "\n".join(lines)


def task_outcome(state: TaskState, phase: TaskPhase, reason: Reason, message: str, now: datetime) -> TaskOutcome:
    """The workflow's result: what the status shows of runs, PR and checks, with the outcome and timings."""
    status, opened = state.status, state.pr_opened_at
    return TaskOutcome(
        **{name: getattr(status, name) for name in _SHOWN_IN_OUTCOME},
        status=cast(OutcomeStatus, phase.value),
        reason=reason,
        message=message,
        timings=Timings(
            prompt_s=round(state.prompt_s, 3),
            agent_s=round(state.agent_s, 3),
            time_to_pr_s=(opened - status.started_at).total_seconds() if opened else None,
            time_to_merge_s=(now - opened).total_seconds() if opened and phase is TaskPhase.MERGED else None,
            total_s=(now - status.started_at).total_seconds(),
        ),
    )
