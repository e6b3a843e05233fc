"""The Task Master import: both file shapes, ids, priorities, text fields, statuses, both subtask modes, and a
malformed file reported whole."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack import ROOT
from models.graph import GraphInput
from models.task import TASK_ID_PATTERN, TaskType
from models.taskmaster import TaskmasterError, read_taskmaster

EXAMPLE = json.loads((ROOT / "examples" / "taskmaster" / "tasks.json").read_text())


def tm_task(id: Any, title: str = "A task", **fields: Any) -> dict[str, Any]:
    return {"id": id, "title": title, "description": "", "status": "pending", "dependencies": [], **fields}


def by_id(backlog) -> dict[str, Any]:
    return {task.id: task for task in backlog.tasks}


def problems_of(data: Any, **options: Any) -> list[str]:
    with pytest.raises(TaskmasterError) as raised:
        read_taskmaster(data, **options)
    return raised.value.problems


# --- file shapes, tags and ids ---------------------------------------------------------------


def test_untagged_file_is_tag_master_and_tagged_file_picks_the_tag():
    tasks = [tm_task(1, "Set up"), tm_task(2, "Build", dependencies=[1])]
    untagged = read_taskmaster({"tasks": tasks, "metadata": {}})
    tagged = read_taskmaster({"master": {"tasks": tasks}, "backend": {"tasks": [tm_task(7)]}, "other": 1})
    assert untagged.tag == tagged.tag == "master"
    assert [task.id for task in untagged.tasks] == [task.id for task in tagged.tasks] == ["tm-master-1", "tm-master-2"]
    backend = read_taskmaster({"master": {"tasks": tasks}, "backend": {"tasks": [tm_task(7)]}}, tag="backend")
    assert [task.id for task in backend.tasks] == ["tm-backend-7"]


def test_an_unknown_tag_names_the_tags_present():
    assert problems_of({"master": {"tasks": []}, "backend": {"tasks": []}}, tag="frontend") == [
        "tag 'frontend' is not in the file; tags present: backend, master"
    ]
    assert problems_of({"tasks": []}, tag="backend") == ["tag 'backend' is not in the file; tags present: master"]


@pytest.mark.parametrize("tag", ["", "has space", "a.b", "x" * 51])
def test_tag_names_follow_task_masters_rule(tag):
    assert problems_of({tag: {"tasks": []}}, tag=tag) == [f"tag {tag!r}: expected 1 to 50 letters, digits, '_' or '-'"]


def test_a_file_that_is_no_task_master_file():
    assert problems_of([1, 2]) == ['expected a Task Master tasks.json: {"<tag>": {"tasks": [...]}} or {"tasks": [...]}']


def test_number_and_string_ids_name_the_same_tasks():
    as_numbers = read_taskmaster({"tasks": [tm_task(1), tm_task(2, dependencies=[1], subtasks=[tm_task(1, dependencies=[])])]})
    as_strings = read_taskmaster({"tasks": [tm_task("1"), tm_task("2", dependencies=["1"], subtasks=[tm_task("1")])]})
    assert as_numbers == as_strings
    assert as_numbers.tasks[1].depends_on == ["tm-master-1"]


@given(tag=st.from_regex(r"[A-Za-z0-9_-]{1,50}", fullmatch=True), number=st.integers(0, 10**12), sub=st.integers(1, 999))
def test_ids_are_stable_and_valid_task_ids(tag, number, sub):
    data = {tag: {"tasks": [tm_task(number, subtasks=[tm_task(sub)])]}}
    split = read_taskmaster(data, tag=tag, subtasks="tasks")
    assert [task.id for task in split.tasks] == [f"tm-{tag}-{number}.{sub}"]
    whole = read_taskmaster(data, tag=tag)
    assert [task.id for task in whole.tasks] == [f"tm-{tag}-{number}"]
    assert all(re.fullmatch(TASK_ID_PATTERN, task.id or "") for task in [*split.tasks, *whole.tasks])
    assert whole.tasks[0].metadata["taskmaster"] == {"tag": tag, "id": str(number)}


# --- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("priority", "expected"), [("critical", 1), ("high", 2), ("medium", 3), ("low", 4), (None, 3)])
def test_priorities(priority, expected):
    fields = {} if priority is None else {"priority": priority}
    assert read_taskmaster({"tasks": [tm_task(1, **fields)]}).tasks[0].priority == expected


def test_details_test_strategy_and_acceptance_criteria():
    task = tm_task(
        4,
        "Add JWT auth middleware",
        details="Use jose.\n<info added on 2026-05-21T10:00:00Z>Reject tokens older than 24 h.</info added on 2026-05-21T10:00:00Z>",
        testStrategy="Unit tests for valid, expired and missing tokens.",
        acceptanceCriteria="- /api needs a token\n  even for GET\n* /health does not\n1. tokens expire",
    )
    imported = read_taskmaster({"tasks": [task]}).tasks[0]
    assert imported.details == "Use jose.\n\nReject tokens older than 24 h."
    assert imported.acceptance_criteria == [
        "/api needs a token even for GET",
        "/health does not",
        "tokens expire",
        "Verification: Unit tests for valid, expired and missing tokens.",
    ]


def test_hosted_acceptance_criteria_lists_and_null_texts_are_read():
    task = tm_task(1, acceptanceCriteria=["one", " ", "two"], details=None, testStrategy=None)
    imported = read_taskmaster({"tasks": [task]}).tasks[0]
    assert (imported.acceptance_criteria, imported.details) == (["one", "two"], "")


def test_codegen_type_from_metadata_else_implementation():
    tasks = [tm_task(1, metadata={"codegen_type": "bug_fix", "githubIssue": 42}), tm_task(2, metadata={"githubIssue": 7}), tm_task(3)]
    types = [task.type for task in read_taskmaster({"tasks": tasks}).tasks]
    assert types == [TaskType.BUG_FIX, TaskType.IMPLEMENTATION, TaskType.IMPLEMENTATION]


# --- statuses ----------------------------------------------------------------------------------


def test_statuses_decide_what_is_submitted_satisfied_or_unavailable():
    statuses = ["pending", "in-progress", "done", "completed", "cancelled", "deferred", "blocked", "review"]
    tasks = [tm_task(index, status=status) for index, status in enumerate(statuses, 1)]
    backlog = read_taskmaster({"tasks": [*tasks, tm_task(9, dependencies=list(range(1, 9)))]})
    assert [task.id for task in backlog.tasks] == ["tm-master-1", "tm-master-2", "tm-master-9"]
    assert backlog.satisfied == ["tm-master-3", "tm-master-4", "tm-master-5"]
    assert backlog.unavailable == {
        "tm-master-6": "is deferred in Task Master",
        "tm-master-7": "is blocked in Task Master",
        "tm-master-8": "is in review in Task Master: its work has not merged yet",
    }
    assert backlog.tasks[-1].depends_on == [f"tm-master-{n}" for n in range(1, 9)]


def test_a_closed_parent_settles_its_subtasks():
    parent = tm_task(1, status="done", subtasks=[tm_task(1, status="pending")])
    backlog = read_taskmaster({"tasks": [parent, tm_task(2, dependencies=["1.1"])]}, subtasks="tasks")
    assert [task.id for task in backlog.tasks] == ["tm-master-2"]
    assert backlog.tasks[0].depends_on == ["tm-master-1"]
    assert backlog.satisfied == ["tm-master-1"]


# --- subtasks as requirements -------------------------------------------------------------------


def test_subtasks_become_ordered_requirements_with_done_ones_named():
    parent = tm_task(
        4,
        "Add JWT auth middleware",
        details="Use jose.",
        subtasks=[
            tm_task(1, "Token verification", status="done"),
            tm_task(2, "Wire into router", description="Apply it to /api.", dependencies=[3], details="Keep /health public."),
            tm_task(3, "Express middleware", description="Reply 401.", dependencies=[1], testStrategy="supertest"),
            tm_task(4, "Audit log", status="deferred"),
        ],
    )
    backlog = read_taskmaster({"tasks": [parent]})
    (task,) = backlog.tasks
    assert task.requirements == [
        "4.3 Express middleware: Reply 401.",
        "4.2 Wire into router: Apply it to /api.",
        "Already done, build on it rather than redo it: 4.1 Token verification",
        "Not part of this task: 4.4 Audit log (deferred in Task Master)",
    ]
    assert task.details == (
        "Use jose.\n\n### 4.3 Express middleware\n\nVerification: supertest\n\n### 4.2 Wire into router\n\nKeep /health public."
    )
    # Between siblings the order says it; nothing outside the task is waited for.
    assert task.depends_on == []
    assert backlog.satisfied == ["tm-master-4.1"]
    assert backlog.unavailable == {"tm-master-4.4": "is deferred in Task Master"}


def test_cross_parent_subtask_dependencies_coarsen_to_the_parent():
    tasks = [tm_task(3, subtasks=[tm_task(1)]), tm_task(4, subtasks=[tm_task(1, dependencies=["3.1"])])]
    assert by_id(read_taskmaster({"tasks": tasks}))["tm-master-4"].depends_on == ["tm-master-3"]


def test_a_sibling_cycle_is_named():
    parent = tm_task(4, subtasks=[tm_task(1, dependencies=[2]), tm_task(2, dependencies=[1])])
    assert problems_of({"tasks": [parent]}) == ["task 4: subtasks: dependency cycle: 4.1 -> 4.2 -> 4.1"]


def test_a_cycle_between_tasks_is_named_in_task_master_ids():
    tasks = [tm_task(1, dependencies=[2], subtasks=[tm_task(1)]), tm_task(2, subtasks=[tm_task(1, dependencies=["1.1"])])]
    assert problems_of({"tasks": tasks}) == ["dependency cycle: task 1 -> task 2 -> task 1"]


# --- subtasks as tasks ---------------------------------------------------------------------------


def test_subtasks_as_tasks_replace_their_parent():
    tasks = [
        tm_task(2, "Users", status="done"),
        tm_task(
            4,
            "Add JWT auth",
            description="Protect /api.",
            priority="high",
            dependencies=[2],
            subtasks=[
                tm_task(1, "Verify tokens", status="done"),
                tm_task(2, "Middleware", dependencies=[1, "3.1"], testStrategy="supertest"),
                tm_task(3, "Router", dependencies=["2"], metadata={"codegen_type": "refactor"}),
            ],
        ),
        tm_task(3, "Key store", subtasks=[tm_task(1, "JWKS client")]),
        tm_task(5, "Docs", dependencies=[4]),
    ]
    backlog = read_taskmaster({"tasks": tasks}, subtasks="tasks")
    tasks_by_id = by_id(backlog)
    assert list(tasks_by_id) == ["tm-master-4.2", "tm-master-4.3", "tm-master-3.1", "tm-master-5"]
    middleware, router = tasks_by_id["tm-master-4.2"], tasks_by_id["tm-master-4.3"]
    assert middleware.title == "Add JWT auth: Middleware"
    assert middleware.depends_on == ["tm-master-2", "tm-master-4.1", "tm-master-3.1"]
    assert middleware.acceptance_criteria == ["Verification: supertest"]
    assert middleware.details == "### Part of task 4: Add JWT auth\n\nProtect /api."
    assert (middleware.priority, middleware.type, router.type) == (2, TaskType.IMPLEMENTATION, TaskType.REFACTOR)
    assert router.depends_on == ["tm-master-2", "tm-master-4.2"]
    # Depending on the parent means depending on all its subtasks.
    assert tasks_by_id["tm-master-5"].depends_on == ["tm-master-4.1", "tm-master-4.2", "tm-master-4.3"]
    assert backlog.satisfied == ["tm-master-2", "tm-master-4.1"]


def test_a_parent_whose_subtasks_are_all_done_is_a_task_of_its_own():
    parent = tm_task(4, "Finish up", subtasks=[tm_task(1, "First part", status="done")])
    (task,) = read_taskmaster({"tasks": [parent]}, subtasks="tasks").tasks
    assert task.id == "tm-master-4"
    assert task.requirements == ["Already done, build on it rather than redo it: 4.1 First part"]


def test_a_string_subtask_dependency_is_a_sibling_first_then_a_task():
    tasks = [tm_task(9), tm_task(4, subtasks=[tm_task(1), tm_task(2, dependencies=["1", "9"])])]
    split = by_id(read_taskmaster({"tasks": tasks}, subtasks="tasks"))
    assert split["tm-master-4.2"].depends_on == ["tm-master-4.1", "tm-master-9"]


# --- the example and the graph ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["requirements", "tasks"])
def test_the_example_imports_into_a_valid_graph(mode):
    backlog = read_taskmaster(EXAMPLE, tag="reminders", subtasks=mode)
    graph = GraphInput(graph_id="tm-reminders", tasks=backlog.tasks, satisfied=backlog.satisfied, unavailable=backlog.unavailable)
    assert len(graph.tasks) == (4 if mode == "requirements" else 6)
    assert backlog.satisfied == ["tm-reminders-1", "tm-reminders-2.1", "tm-reminders-6"]
    assert backlog.unavailable == {"tm-reminders-4": "is deferred in Task Master"}
    assert "tm-reminders-4" in by_id(backlog)["tm-reminders-7"].depends_on


def test_the_example_in_requirements_mode():
    tasks = by_id(read_taskmaster(EXAMPLE, tag="reminders"))
    assert list(tasks) == ["tm-reminders-2", "tm-reminders-3", "tm-reminders-5", "tm-reminders-7"]
    reminders = tasks["tm-reminders-2"]
    assert [line.split(":")[0] for line in reminders.requirements] == [
        "2.3 Schedule the reminder job",
        "2.2 Cancel reminders of completed tasks",
        "Already done, build on it rather than redo it",
    ]
    assert "<info added on" not in reminders.details and "store and compare everything in UTC" in reminders.details
    assert tasks["tm-reminders-3"].depends_on == ["tm-reminders-2"]
    assert tasks["tm-reminders-5"].type == TaskType.DOCUMENTATION
    assert read_taskmaster(EXAMPLE).tasks == []  # master: its one task is done


# --- a malformed file ----------------------------------------------------------------------------


def test_every_problem_is_reported_once_per_task_and_field():
    tasks = [
        tm_task(1),
        tm_task(2, "  ", priority="urgent"),
        {"id": 3, "status": "started", "dependencies": [9, "1.5", "x"], "details": 5},
        "not a task",
        tm_task("two"),
        tm_task(4, subtasks=[tm_task(1), tm_task(2, dependencies=[7, "9"]), tm_task(3, dependencies=["4.3"])]),
        tm_task(1, metadata={"codegen_type": "chore"}),
    ]
    assert problems_of({"tasks": tasks}) == [
        "task 1: id: used by more than one task",
        "task 2: title: must not be blank",
        "task 2: priority: unknown priority 'urgent'; expected one of critical, high, medium, low",
        "task 3: title: missing",
        "task 3: details: expected text; got 5",
        "task 3: status: unknown status 'started'; expected one of pending, in-progress, done, completed, review, deferred, cancelled, blocked",
        "task 3: dependencies: unknown task 9",
        "task 3: dependencies: unknown subtask 1.5",
        "task 3: dependencies: 'x' is no task id; expected 3, \"3\" or \"3.1\"",
        "task at position 4: expected an object",
        "task at position 5: id: expected a number or a string of digits; got 'two'",
        "task 4.2: dependencies: unknown subtask 4.7 (a subtask's number names a sibling)",
        "task 4.2: dependencies: unknown task 9 (neither subtask 4.9 nor task 9)",
        "task 4.3: dependencies: depends on itself",
        "task 1: metadata.codegen_type: unknown task type 'chore'; valid types: implementation, bug_fix, feature, refactor, documentation, testing, optimization, security",
    ]


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["id", "title", "status", "priority", "dependencies", "subtasks", "details", "metadata", "tasks"]), inner, max_size=5), max_leaves=20))
def test_any_json_is_imported_or_refused_with_problems(data):
    try:
        read_taskmaster({"tasks": data} if isinstance(data, list) else data)
    except TaskmasterError as error:
        assert error.problems and all(isinstance(line, str) and line for line in error.problems)
