"""A Task Master backlog as the project's tasks: `read_taskmaster(json.load(file))` gives the tasks to submit
as a graph, the ids already done and the ids that will not be done.

One tag at a time. Each open task (pending or in progress) becomes one Task, one PR; its open subtasks become
its ordered requirements, or (subtasks="tasks") Tasks of their own. Ids are `tm-<tag>-<id>` and
`tm-<tag>-<id>.<sub>`, so importing the same file again names the same workflows. The README's "Importing
a Task Master backlog" has the whole mapping. Pure: the caller reads the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import ValidationError

from models.errors import describe_validation_error
from models.graph import find_cycle
from models.task import Task, TaskType
from models.taskmaster_file import Item, TaskmasterError, read_tag

__all__ = ["PROVENANCE_KEY", "SubtaskMode", "TaskmasterBacklog", "TaskmasterError", "read_taskmaster", "taskmaster_task_id"]

SubtaskMode = Literal["requirements", "tasks"]
# Task.metadata key holding where a task came from ({"tag", "id"}); for tools, not shown in the prompt.
PROVENANCE_KEY = "taskmaster"

# Submitted. Task Master marks a parent in progress as soon as one subtask is, and its `next` offers both.
OPEN = frozenset({"pending", "in-progress"})
# Satisfied: tm-core's TERMINAL_COMPLETE_STATUSES, "considered satisfied for dependency resolution".
DONE = frozenset({"done", "completed", "cancelled"})
# Not submitted, and their dependents wait: the work is not (yet) on the base branch.
WHY_UNAVAILABLE = {
    "deferred": "is deferred in Task Master",
    "blocked": "is blocked in Task Master",
    "review": "is in review in Task Master: its work has not merged yet",
}
DEFAULT_PRIORITY = 3


@dataclass(frozen=True)
class TaskmasterBacklog:
    """One tag's tasks to submit, with what GraphInput needs to know of the rest."""

    tag: str
    tasks: list[Task]
    # Ids of done, completed and cancelled tasks and subtasks: dependencies already met.
    satisfied: list[str]
    # Ids of deferred, blocked and in-review ones, and why: their dependents are blocked.
    unavailable: dict[str, str]


def taskmaster_task_id(tag: str, number: str) -> str:
    """`tm-backend-4`, `tm-backend-4.2`: unambiguous, since Task Master's ids are digits."""
    return f"tm-{tag}-{number}"


def read_taskmaster(data: Any, *, tag: str | None = None, subtasks: SubtaskMode = "requirements") -> TaskmasterBacklog:
    """The tasks of `tag` (default `master`) in a parsed tasks.json, either file shape.

    Raises TaskmasterError with one line per bad task and field (`task 4.2: dependencies: unknown task 9`),
    or naming the tags present when `tag` is not in the file.
    """
    if subtasks not in get_args(SubtaskMode):
        raise ValueError(f"subtasks: expected requirements or tasks; got {subtasks!r}")
    tag, items = read_tag(data, tag)
    return _Import(tag, split=subtasks == "tasks").run(items)


class _Import:
    def __init__(self, tag: str, *, split: bool) -> None:
        self.tag, self.split = tag, split
        self.satisfied: list[str] = []
        self.unavailable: dict[str, str] = {}
        # A dependency on a Task Master task or subtask (by display id) means waiting for these ids.
        self.meaning: dict[str, list[str]] = {}
        self.problems: list[str] = []

    def run(self, items: list[Item]) -> TaskmasterBacklog:
        wanted = [part for item in items for part in self._plan(item)]
        built = [self._part(task, sub) if sub else self._whole(task) for task, sub in wanted]
        tasks = [task for task in built if task is not None]
        self._check_cycles(tasks)
        if self.problems:
            raise TaskmasterError(self.problems)
        return TaskmasterBacklog(self.tag, tasks, self.satisfied, self.unavailable)

    def _id(self, item: Item) -> str:
        return taskmaster_task_id(self.tag, item.number)

    def _plan(self, task: Item) -> list[tuple[Item, Item | None]]:
        """Decide what `task` and its subtasks become, and what a dependency on each means. Returns the Tasks
        to build: (task, None) for the task as one PR, (task, subtask) for a subtask as a PR of its own."""
        if task.status not in OPEN:
            # A closed parent settles its subtasks, whatever their own status says.
            self._outside(task)
            for sub in task.subtasks:
                self.meaning[sub.number] = [self._id(task)]
            return []
        for sub in task.subtasks:
            if sub.status not in OPEN:
                self._outside(sub)
        open_subtasks = [sub for sub in task.subtasks if sub.status in OPEN]
        if self.split and open_subtasks:
            for sub in open_subtasks:
                self.meaning[sub.number] = [self._id(sub)]
            # The parent is its subtasks now: depending on it means depending on all of them.
            self.meaning[task.number] = list(dict.fromkeys(i for sub in task.subtasks for i in self.meaning[sub.number]))
            return [(task, sub) for sub in open_subtasks]
        for number in [task.number, *(sub.number for sub in open_subtasks)]:
            self.meaning[number] = [self._id(task)]
        return [(task, None)]

    def _outside(self, item: Item) -> None:
        """A done or unavailable task or subtask: not submitted, its id listed for its dependents."""
        item_id = self._id(item)
        if item.status in DONE:
            self.satisfied.append(item_id)
        else:
            self.unavailable[item_id] = WHY_UNAVAILABLE[item.status]
        self.meaning[item.number] = [item_id]

    def _depends_on(self, own_id: str, numbers: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(i for number in numbers for i in self.meaning[number] if i != own_id))

    def _whole(self, task: Item) -> Task | None:
        """`task` as one PR: its open subtasks, in dependency order, are its requirements."""
        open_subtasks = self._in_order(task, [sub for sub in task.subtasks if sub.status in OPEN])
        requirements = [_requirement(sub) for sub in open_subtasks]
        # Said in the requirements, which the prompt budget never cuts: redoing finished work is the costly mistake.
        done = [sub for sub in task.subtasks if sub.status in {"done", "completed"}]
        if done:
            requirements.append("Already done, build on it rather than redo it: " + "; ".join(_named(sub) for sub in done))
        left_out = [sub for sub in task.subtasks if sub.status not in OPEN and sub not in done]
        if left_out:
            requirements.append("Not part of this task: " + "; ".join(f"{_named(sub)} ({sub.status} in Task Master)" for sub in left_out))
        own_id = self._id(task)
        return self._task(
            task,
            id=own_id,
            title=task.title,
            description=task.description,
            details=_paragraphs(task.details, *(_subtask_section(sub) for sub in open_subtasks)),
            requirements=requirements,
            acceptance_criteria=_acceptance_criteria(task),
            priority=task.priority or DEFAULT_PRIORITY,
            type=task.codegen_type or TaskType.IMPLEMENTATION,
            depends_on=self._depends_on(own_id, [*task.dependencies, *_outward(task, open_subtasks)]),
        )

    def _part(self, task: Item, sub: Item) -> Task | None:
        """Subtask `sub` as a PR of its own: it inherits its parent's dependencies, priority and type, and
        its prompt's details end with what the whole task is about."""
        own_id = self._id(sub)
        parent = _paragraphs(f"### Part of task {task.number}: {task.title}", task.description, task.details)
        return self._task(
            sub,
            id=own_id,
            title=f"{task.title}: {sub.title}",
            description=sub.description,
            details=_paragraphs(sub.details, parent),
            acceptance_criteria=_acceptance_criteria(sub),
            priority=sub.priority or task.priority or DEFAULT_PRIORITY,
            type=sub.codegen_type or task.codegen_type or TaskType.IMPLEMENTATION,
            depends_on=self._depends_on(own_id, [*task.dependencies, *sub.dependencies]),
        )

    def _task(self, item: Item, **fields: Any) -> Task | None:
        try:
            return Task(**fields, metadata={PROVENANCE_KEY: {"tag": self.tag, "id": item.number}})
        except ValidationError as error:
            self.problems += [f"task {item.number}: {line}" for line in describe_validation_error(error)]
            return None

    def _in_order(self, task: Item, subtasks: list[Item]) -> list[Item]:
        """`subtasks` with each after the siblings it depends on, otherwise in file order."""
        numbers = {sub.number for sub in subtasks}
        waits_for = {sub.number: [d for d in sub.dependencies if d in numbers] for sub in subtasks}
        ordered: list[Item] = []
        placed: set[str] = set()
        remaining = list(subtasks)
        while remaining:
            ready = next((sub for sub in remaining if placed.issuperset(waits_for[sub.number])), None)
            if ready is None:
                cycle = find_cycle({sub.number: waits_for[sub.number] for sub in remaining}) or []
                self.problems.append(f"task {task.number}: subtasks: dependency cycle: {' -> '.join(cycle)}")
                return ordered + remaining
            ordered.append(ready)
            placed.add(ready.number)
            remaining.remove(ready)
        return ordered

    def _check_cycles(self, tasks: list[Task]) -> None:
        numbers = {task.id: task.metadata[PROVENANCE_KEY]["id"] for task in tasks if task.id}
        cycle = find_cycle({task.id: [d for d in task.depends_on if d in numbers] for task in tasks if task.id})
        if cycle:
            self.problems.append("dependency cycle: " + " -> ".join(f"task {numbers[task_id]}" for task_id in cycle))


def _outward(task: Item, subtasks: list[Item]) -> list[str]:
    """What `subtasks` depend on outside `task`: between siblings, the requirements' order says it."""
    return [d for sub in subtasks for d in sub.dependencies if not d.startswith(f"{task.number}.")]


def _named(item: Item) -> str:
    return f"{item.number} {item.title}"


def _requirement(sub: Item) -> str:
    """`4.2 Express middleware: Reply 401 when verification fails.`: short, since requirements are never cut;
    the subtask's details go to the details section, which the budget may shorten."""
    return f"{_named(sub)}: {sub.description}" if sub.description else _named(sub)


def _acceptance_criteria(item: Item) -> list[str]:
    verification = [f"Verification: {item.test_strategy}"] if item.test_strategy else []
    return [*item.acceptance_criteria, *verification]


def _subtask_section(sub: Item) -> str:
    """A subtask's own details, verification and criteria under its heading; empty when it has none."""
    criteria = "\n".join(f"- {criterion}" for criterion in sub.acceptance_criteria)
    verification = f"Verification: {sub.test_strategy}" if sub.test_strategy else ""
    body = _paragraphs(sub.details, verification, f"Acceptance criteria:\n{criteria}" if criteria else "")
    return _paragraphs(f"### {_named(sub)}", body) if body else ""


def _paragraphs(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)
