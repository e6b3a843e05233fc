"""Reading task and context JSON files for the command line, with errors that name each bad field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from models.errors import describe_validation_error
from models.task import Task, TaskContext
from models.taskmaster import SubtaskMode, TaskmasterBacklog, TaskmasterError, read_taskmaster

Model = TypeVar("Model", bound=BaseModel)


class TaskFileError(Exception):
    """A task or context file could not be used; `lines` are `<file>: <field>: <problem>`, one per problem."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def _read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TaskFileError([f"{path}: cannot read: {error}"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TaskFileError([f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]) from None


def _validate(model: type[Model], data: Any, where: str) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise TaskFileError([f"{where}{line}" for line in describe_validation_error(error)]) from None


WORKFLOW_INPUT_KEYS = {"task", "context", "options"}


def _task(data: Any, path: str | Path, index: int | None = None) -> Task:
    """One task: the file's object, or item `index` of its list."""
    item = f"{path}" if index is None else f"{path}: [{index}]"
    if isinstance(data, dict) and "task" in data and set(data) <= WORKFLOW_INPUT_KEYS:
        # The shape `temporal workflow start --input` takes; pydantic would only say "title: Field required".
        raise TaskFileError([
            f"{item}: this is a workflow input ({', '.join(sorted(data))}), not a task: put the value of "
            '"task" in the file, and pass the context with --context and options with --option'
        ])  # fmt: skip
    return _validate(Task, data, f"{path}: " if index is None else f"{item}.")


def load_tasks(path: str | Path) -> list[Task]:
    """The tasks in a file holding one task object or a list of them. Every bad field of every task is reported."""
    data = _read_json(path)
    if isinstance(data, dict):
        return [_task(data, path)]
    if not isinstance(data, list) or not data:
        raise TaskFileError([f"{path}: expected a task object or a non-empty list of task objects"])
    tasks: list[Task] = []
    problems: list[str] = []
    for index, item in enumerate(data):
        try:
            tasks.append(_task(item, path, index))
        except TaskFileError as error:
            problems.extend(error.lines)
    if problems:
        raise TaskFileError(problems)
    return tasks


def load_context(path: str | Path) -> TaskContext:
    """The codebase context in a file holding one context object."""
    return _validate(TaskContext, _read_json(path), f"{path}: ")


def load_taskmaster(path: str | Path, tag: str | None, subtasks: SubtaskMode) -> TaskmasterBacklog:
    """A Task Master `tasks.json` as tasks; every bad task and field reported at once."""
    try:
        return read_taskmaster(_read_json(path), tag=tag, subtasks=subtasks)
    except TaskmasterError as error:
        raise TaskFileError([f"{path}: {problem}" for problem in error.problems]) from None
