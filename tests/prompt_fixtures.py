"""Example tasks and context shared by the prompt tests (read from examples/, which users also run)."""

from __future__ import annotations

from devstack import ROOT
from models.task import Task, TaskContext, TaskType

EXAMPLES = ROOT / "examples"


def example_task(task_type: TaskType | str) -> Task:
    return Task.model_validate_json((EXAMPLES / "tasks" / f"{TaskType(task_type).value}.json").read_text())


def example_context() -> TaskContext:
    return TaskContext.model_validate_json((EXAMPLES / "context.json").read_text())
