"""What a task workflow is started with, by `starter.py submit` and by a graph alike: the search attributes
a list or the relay finds it by at once, its priority, and what the Web UI shows of it."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes

from models import names
from models.status import TaskPhase
from models.task import WorkflowInput, task_markdown, temporal_priority


def task_search_attributes(input: WorkflowInput, graph_id: str | None = None) -> TypedSearchAttributes:
    task = input.task
    assert task.id is not None, "a started task has an id"
    attributes = [
        SearchAttributePair(names.TASK_ID, task.id),
        SearchAttributePair(names.TASK_TYPE, task.type.value),
        SearchAttributePair(names.TASK_PHASE, TaskPhase.PENDING.value),
    ]
    if input.context.repository:
        attributes.append(SearchAttributePair(names.REPOSITORY, input.context.repository))
    if graph_id:
        attributes.append(SearchAttributePair(names.GRAPH_ID, graph_id))
    return TypedSearchAttributes(attributes)


@dataclass(frozen=True)
class TaskStart:
    """Search attributes, priority (activities inherit it: the creation queue serves higher priorities
    first, and takes turns between repositories within one), static summary and details."""

    search_attributes: TypedSearchAttributes
    priority: Priority
    static_summary: str
    static_details: str

    @classmethod
    def of(cls, input: WorkflowInput, graph_id: str | None = None) -> TaskStart:
        task = input.task
        return cls(task_search_attributes(input, graph_id), temporal_priority(input), f"{task.title} ({task.type.value})", task_markdown(input))
