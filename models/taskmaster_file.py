"""What a Task Master `tasks.json` says, checked: one tag's tasks and subtasks with their fields read and
their dependencies resolved, every problem collected so a malformed file is reported whole.

The format, with sources, is in docs/reference/taskmaster-format.md; models/taskmaster.py maps what this
reads onto the project's tasks. Pure: the caller reads the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from models.task import VALID_TASK_TYPES, TaskType

DEFAULT_TAG = "master"
# Task Master's own rule for tag names (tag.service.ts validateTagName).
TAG_PATTERN = r"^[A-Za-z0-9_-]{1,50}$"
PRIORITIES = {"critical": 1, "high": 2, "medium": 3, "low": 4}
# The legacy CLI's and tm-core's statuses together, with tm-core's `completed` alias of `done`.
STATUSES = ("pending", "in-progress", "done", "completed", "review", "deferred", "cancelled", "blocked")
# `<info added on 2026-05-21T10:00:00Z>text</info added on 2026-05-21T10:00:00Z>`: an update appended by
# `task-master update-subtask`.
_INFO_BLOCK = re.compile(r"<info added on [^>]*>(.*?)</info added on [^>]*>", re.DOTALL)
# An acceptance criterion's first line in a Markdown list: "- ", "* ", "1. ", "1) ".
_LIST_ITEM = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+")


class TaskmasterError(ValueError):
    """A tasks.json that cannot be imported; `problems` holds one line per bad task and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Item:
    """A task or subtask as Task Master has it, checked. `number` is Task Master's display id: `4`, `4.2`."""

    number: str
    title: str
    description: str
    details: str
    test_strategy: str
    acceptance_criteria: list[str]
    status: str
    priority: int | None  # None: not given (a subtask then takes its parent's)
    codegen_type: TaskType | None
    # Display ids of the tasks and subtasks this one depends on, read as §5 of the reference says.
    dependencies: list[str] = field(default_factory=list)
    subtasks: list[Item] = field(default_factory=list)


def read_tag(data: Any, tag: str | None) -> tuple[str, list[Item]]:
    """The tag asked for (default `master`) and its tasks. Raises TaskmasterError with every problem."""
    tag = DEFAULT_TAG if tag is None else tag
    entries = _tag_entries(data, tag)
    problems = _Problems()
    known = _known_numbers(entries, problems)
    items = [_item(entry, position, None, known, problems) for position, entry in enumerate(entries, 1)]
    if problems.lines:
        raise TaskmasterError(problems.lines)
    return tag, [item for item in items if item is not None]


def _tag_entries(data: Any, tag: str) -> list[Any]:
    """The raw task list of `tag`, from either file shape: tagged `{"<tag>": {"tasks": [...]}}` or untagged
    `{"tasks": [...]}` (which is tag `master`). Other root keys are ignored."""
    if not re.fullmatch(TAG_PATTERN, tag):
        raise TaskmasterError([f"tag {tag!r}: expected 1 to 50 letters, digits, '_' or '-'"])
    if not isinstance(data, dict):
        raise TaskmasterError(['expected a Task Master tasks.json: {"<tag>": {"tasks": [...]}} or {"tasks": [...]}'])
    if isinstance(data.get("tasks"), list):
        tags = {DEFAULT_TAG: data}
    else:
        tags = {name: value for name, value in data.items() if isinstance(value, dict) and "tasks" in value}
    if tag not in tags:
        present = ", ".join(sorted(tags)) or "none"
        raise TaskmasterError([f"tag {tag!r} is not in the file; tags present: {present}"])
    entries = tags[tag]["tasks"]
    if not isinstance(entries, list):
        raise TaskmasterError([f'tag {tag!r}: expected {{"tasks": [...]}} with a list of tasks'])
    return entries


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, label: str, field_name: str, message: str) -> None:
        self.lines.append(f"{label}: {field_name}: {message}" if field_name else f"{label}: {message}")


def _number(value: Any) -> str | None:
    """A stored id as its canonical digits (`7`, `"7"`, `"007"` -> "7"), or None if it is no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return str(int(value))
    return None


def _subtask_number(value: Any, parent: str) -> str | None:
    # tm-core cuts a stored dotted id ("4.2") to its last part.
    if isinstance(value, str) and value.startswith(f"{parent}."):
        value = value[len(parent) + 1 :]
    return _number(value)


def _known_numbers(entries: list[Any], problems: _Problems) -> set[str]:
    """Every display id in the tag; duplicates and ids that are no ids are reported here, once."""
    known: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        number = _number(entry.get("id"))
        if number is None:
            continue
        if number in known:
            problems.add(f"task {number}", "id", "used by more than one task")
        known.add(number)
        subtasks = entry.get("subtasks")
        for sub in subtasks if isinstance(subtasks, list) else []:
            sub_number = _subtask_number(sub.get("id"), number) if isinstance(sub, dict) else None
            if sub_number is None:
                continue
            if f"{number}.{sub_number}" in known:
                problems.add(f"task {number}.{sub_number}", "id", f"used by more than one subtask of task {number}")
            known.add(f"{number}.{sub_number}")
    return known


def _item(entry: Any, position: int, parent: str | None, known: set[str], problems: _Problems) -> Item | None:
    where = f"task at position {position}" if parent is None else f"subtask at position {position} of task {parent}"
    if not isinstance(entry, dict):
        problems.add(where, "", "expected an object")
        return None
    number = _number(entry.get("id")) if parent is None else _subtask_number(entry.get("id"), parent)
    if number is None:
        problems.add(where, "id", f"expected a number or a string of digits; got {_shown(entry.get('id'))}")
        return None
    if parent is not None:
        number = f"{parent}.{number}"
    label = f"task {number}"
    item = Item(
        number=number,
        title=_title(entry, label, problems),
        description=_text(entry, "description", label, problems),
        details=unwrap_info_blocks(_text(entry, "details", label, problems)),
        test_strategy=_text(entry, "testStrategy", label, problems),
        acceptance_criteria=_criteria(entry, label, problems),
        status=_status(entry, label, problems),
        priority=_priority(entry, label, problems),
        codegen_type=_codegen_type(entry, label, problems),
        dependencies=_dependencies(entry, number, known, label, problems),
    )
    subtasks = entry.get("subtasks")
    if parent is None and subtasks is not None and not isinstance(subtasks, list):
        problems.add(label, "subtasks", "expected a list")
    elif parent is None and subtasks:
        found = [_item(sub, index, number, known, problems) for index, sub in enumerate(subtasks, 1)]
        item.subtasks = [sub for sub in found if sub is not None]
    return item


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(entry: dict[str, Any], key: str, label: str, problems: _Problems) -> str:
    """A text field; missing or null is empty (Task Master writes `"testStrategy": null`)."""
    value = entry.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(label, key, f"expected text; got {_shown(value)}")
        return ""
    return value.strip()


def _title(entry: dict[str, Any], label: str, problems: _Problems) -> str:
    if "title" not in entry:
        problems.add(label, "title", "missing")
        return ""
    value = entry["title"]
    if not isinstance(value, str):
        problems.add(label, "title", f"expected text; got {_shown(value)}")
    elif not value.strip():
        problems.add(label, "title", "must not be blank")
    return value.strip() if isinstance(value, str) else ""


def unwrap_info_blocks(text: str) -> str:
    """`details` with each `<info added on …>` update's text kept as a paragraph of its own, its tags dropped:
    the updates often correct the plan ("Reject tokens older than 24 h"), the tags are noise to an agent."""
    unwrapped = _INFO_BLOCK.sub(lambda match: f"\n\n{match.group(1).strip()}\n\n", text)
    return re.sub(r"\n{3,}", "\n\n", unwrapped).strip()


def split_criteria(text: str) -> list[str]:
    """A Markdown list as its items (a line that starts no item continues the one before); text without a
    list is one criterion."""
    items: list[str] = []
    starts_item = True
    for line in text.splitlines():
        if not line.strip():
            continue
        marker = _LIST_ITEM.match(line)
        if marker or starts_item:
            items.append(line[marker.end() :].strip() if marker else line.strip())
        else:
            items[-1] += " " + line.strip()
        # Text before any list item, and every item, may run over several lines.
        starts_item = False
    return items


def _criteria(entry: dict[str, Any], label: str, problems: _Problems) -> list[str]:
    """`acceptanceCriteria`: a string (file storage) split into items, or a list (hosted storage)."""
    value = entry.get("acceptanceCriteria")
    if value is None:
        return []
    if isinstance(value, str):
        return split_criteria(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    problems.add(label, "acceptanceCriteria", f"expected text or a list of texts; got {_shown(value)}")
    return []


def _status(entry: dict[str, Any], label: str, problems: _Problems) -> str:
    value = entry.get("status", "pending")
    if not isinstance(value, str) or value not in STATUSES:
        problems.add(label, "status", f"unknown status {_shown(value)}; expected one of {', '.join(STATUSES)}")
        return "pending"
    return value


def _priority(entry: dict[str, Any], label: str, problems: _Problems) -> int | None:
    value = entry.get("priority")
    if value is None:
        return None
    if not isinstance(value, str) or value not in PRIORITIES:
        problems.add(label, "priority", f"unknown priority {_shown(value)}; expected one of {', '.join(PRIORITIES)}")
        return None
    return PRIORITIES[value]


def _codegen_type(entry: dict[str, Any], label: str, problems: _Problems) -> TaskType | None:
    """`metadata.codegen_type`: a misspelt type is refused, not replaced by the default, so a `bug_fx` does
    not silently get the implementation prompt."""
    metadata = entry.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("codegen_type") is None:
        return None
    value = metadata["codegen_type"]
    if not isinstance(value, str) or value not in TaskType._value2member_map_:
        problems.add(label, "metadata.codegen_type", f"unknown task type {_shown(value)}; valid types: {VALID_TASK_TYPES}")
        return None
    return TaskType(value)


def _dependencies(entry: dict[str, Any], number: str, known: set[str], label: str, problems: _Problems) -> list[str]:
    value = entry.get("dependencies")
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(label, "dependencies", f"expected a list of task ids; got {_shown(value)}")
        return []
    found: list[str] = []
    for raw in value:
        target = _dependency(raw, number, known, label, problems)
        if target is None:
            continue
        if target == number:
            problems.add(label, "dependencies", "depends on itself")
        elif target not in found:
            found.append(target)
    return found


def _dependency(raw: Any, number: str, known: set[str], label: str, problems: _Problems) -> str | None:
    """One dependency as a display id, read as Task Master does (reference §5):
    - `"p.s"`: subtask s of task p, from a task or a subtask;
    - in a task, `n` or `"n"`: task n;
    - in a subtask, the number `n`: its sibling; the string `"n"`: its sibling if there is one, else task n
      (Task Master's own tools disagree on it; #1708 turns numbers into strings, so the sibling comes first).
    """
    parent = number.split(".")[0] if "." in number else None
    if isinstance(raw, str) and re.fullmatch(r"\s*\d+\.\d+\s*", raw):
        task_part, sub_part = raw.strip().split(".")
        target = f"{int(task_part)}.{int(sub_part)}"
        if target not in known:
            problems.add(label, "dependencies", f"unknown subtask {target}")
            return None
        return target
    plain = _number(raw)
    if plain is None:
        problems.add(label, "dependencies", f'{_shown(raw)} is no task id; expected 3, "3" or "3.1"')
        return None
    if parent is None:
        if plain not in known:
            problems.add(label, "dependencies", f"unknown task {plain}")
            return None
        return plain
    sibling = f"{parent}.{plain}"
    if sibling in known:
        return sibling
    if isinstance(raw, str) and plain in known:
        if plain == parent:
            problems.add(label, "dependencies", f"depends on its own parent task {parent}")
            return None
        return plain
    if isinstance(raw, str):
        problems.add(label, "dependencies", f"unknown task {plain} (neither subtask {sibling} nor task {plain})")
    else:
        problems.add(label, "dependencies", f"unknown subtask {sibling} (a subtask's number names a sibling)")
    return None
