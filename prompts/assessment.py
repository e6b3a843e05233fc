"""Figures about the task itself (not the rendered prompt): complexity and what will be validated."""

from __future__ import annotations

from models.task import Task, TaskType
from prompts.view import HIDDEN_METADATA_KEYS

# Where a task of each type starts on the 1-10 scale before its content is counted.
_TYPE_BASELINE = {
    TaskType.DOCUMENTATION: 1,
    TaskType.TESTING: 2,
    TaskType.BUG_FIX: 2,
    TaskType.IMPLEMENTATION: 3,
    TaskType.REFACTOR: 3,
    TaskType.FEATURE: 4,
    TaskType.OPTIMIZATION: 4,
    TaskType.SECURITY: 4,
}


def estimated_complexity(task: Task) -> int:
    """1-10 from the task's own content: its type, how much it asks for and how much it touches."""
    words = len(task.description.split())
    filled_metadata = sum(
        1 for key, value in task.metadata.items() if key not in HIDDEN_METADATA_KEYS and value not in (None, "", [], {})
    )
    score = (
        _TYPE_BASELINE[task.type]
        + min(3, len(task.requirements) // 3)
        + min(2, len(task.acceptance_criteria) // 4)
        + min(2, len(task.affected_files) // 3)
        + min(2, words // 150)
        + min(1, filled_metadata // 4)
    )
    return max(1, min(10, score))


def validation_requirements(task: Task, type_checks: list[str]) -> list[str]:
    """The checks a reviewer (or a validating agent) applies: the type's own, then each acceptance criterion."""
    return [*type_checks, *(f"Acceptance criterion met: {criterion}" for criterion in task.acceptance_criteria)]
