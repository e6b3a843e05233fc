"""`starter.py prompt` as a user runs it (a real subprocess), and the task-file loader it shares with submit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.task_files import TaskFileError, load_context, load_tasks
from devstack import ROOT
from models.task import Task, TaskContext

PYTHON = ROOT / ".venv" / "bin" / "python"
if not PYTHON.exists():  # running outside the project's virtualenv
    PYTHON = Path(sys.executable)


def starter(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "PROMPT_TEMPLATES_DIR"}
    return subprocess.run(
        [str(PYTHON), "starter.py", "prompt", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**environment, **(env or {})},
    )


def write_json(path: Path, data) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_prints_the_golden_prompt():
    done = starter("examples/tasks/bug_fix.json", "--context", "examples/context.json")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / "tests/golden/prompts/bug_fix.md").read_text(encoding="utf-8")


def test_json_output_has_content_and_metadata():
    done = starter("examples/tasks/feature.json", "--context", "examples/context.json", "--json", "--max-context-size", "3000", "--no-best-practices")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"content", "metadata"}
    assert result["metadata"]["task_id"] == "feat-task-sharing" and result["metadata"]["size_chars"] <= 3000
    assert result["metadata"]["truncated_sections"] and "## Best practices" not in result["content"]


def test_flags_change_the_output():
    plain = starter("examples/tasks/refactor.json", "--context", "examples/context.json").stdout
    bare = starter("examples/tasks/refactor.json", "--context", "examples/context.json", "--no-code-examples", "--no-best-practices").stdout
    assert "### Code examples" in plain and "## Best practices" in plain
    assert "### Code examples" not in bare and "## Best practices" not in bare


def test_task_without_id_is_fine(tmp_path):
    done = starter(write_json(tmp_path / "t.json", {"title": "No id yet", "type": "testing"}))
    assert done.returncode == 0 and done.stdout.startswith("# Testing: No id yet\n")
    assert "Task-ID" not in done.stdout and "submit assigns one" in done.stderr


@pytest.mark.parametrize(
    ("data", "expected_lines"),
    [
        ({"title": "x", "type": "chore"}, ["t.json: type: unknown task type 'chore'; valid types: implementation, bug_fix, feature, refactor, documentation, testing, optimization, security"]),
        ({"title": "x", "acceptanceCriteria": [], "priority": 7}, ["t.json: priority: Input should be less than or equal to 5", "t.json: acceptanceCriteria: Extra inputs are not permitted"]),
        ([{"title": "a"}, {"type": "feature"}], ["t.json: [1].title: Field required"]),
    ],
)
def test_invalid_task_exits_2_naming_each_field(tmp_path, data, expected_lines):
    done = starter(write_json(tmp_path / "t.json", data))
    assert done.returncode == 2 and done.stdout == ""
    assert [line.replace(str(tmp_path) + "/", "") for line in done.stderr.splitlines()] == expected_lines


def test_bad_json_unreadable_file_and_bad_context_exit_2(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"title": "x",}')
    done = starter(str(broken))
    assert done.returncode == 2 and "broken.json: invalid JSON at line 1 column 15" in done.stderr
    done = starter(str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "missing.json: cannot read" in done.stderr
    done = starter("examples/tasks/feature.json", "--context", write_json(tmp_path / "c.json", {"repository": "not a repo", "codebase_context": {"lang": "x"}}))
    assert done.returncode == 2
    assert {line.split(": ")[1] for line in done.stderr.splitlines()} == {"repository", "codebase_context.lang"}


def test_prompt_too_large_and_bad_size_exit_2(tmp_path):
    done = starter(write_json(tmp_path / "t.json", {"title": "x", "description": "d" * 3000}), "--max-context-size", "1000")
    assert done.returncode == 2 and "max_context_size is 1000" in done.stderr
    done = starter("examples/tasks/feature.json", "--max-context-size", "10")
    assert done.returncode == 2 and done.stderr == "--max-context-size: Input should be greater than or equal to 500\n"


def test_templates_dir_from_environment(tmp_path):
    (tmp_path / "feature.md.j2").write_text("TEAM {{ task.title }}\n")
    done = starter("examples/tasks/feature.json", env={"PROMPT_TEMPLATES_DIR": str(tmp_path)})
    assert done.returncode == 0 and done.stdout == "TEAM Share tasks with teammates\n"


def test_a_broken_template_is_reported_with_its_file_and_line(tmp_path):
    (tmp_path / "feature.md.j2").write_text("# {{ task.title }}\n\n{{ task.summary }}\n")
    done = starter("examples/tasks/feature.json", env={"PROMPT_TEMPLATES_DIR": str(tmp_path)})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"prompt template error: {tmp_path}/feature.md.j2:3: 'models.task.Task object' has no attribute 'summary'\n"

    (tmp_path / "feature.md.j2").write_text("# {{ task.title }}\n{{ task.title | upper }\n")
    done = starter("examples/tasks/feature.json", "--templates-dir", str(tmp_path))
    assert done.returncode == 1 and done.stderr.startswith(f"prompt template error: {tmp_path}/feature.md.j2:2: "), done.stderr


# --- the loader submit shares ---------------------------------------------------------------

def test_load_tasks_accepts_one_task_or_a_list(tmp_path):
    assert [t.title for t in load_tasks(write_json(tmp_path / "one.json", {"title": "a"}))] == ["a"]
    assert [t.title for t in load_tasks(write_json(tmp_path / "two.json", [{"title": "a"}, {"title": "b"}]))] == ["a", "b"]
    with pytest.raises(TaskFileError) as caught:
        load_tasks(write_json(tmp_path / "bad.json", [{"title": ""}, {"title": "ok"}, {"priority": 0, "title": "p"}]))
    assert caught.value.lines == [
        f"{tmp_path}/bad.json: [0].title: String should have at least 1 character",
        f"{tmp_path}/bad.json: [2].priority: Input should be greater than or equal to 1",
    ]
    with pytest.raises(TaskFileError, match="expected a task object"):
        load_tasks(write_json(tmp_path / "empty.json", []))


def test_a_workflow_input_given_as_a_task_file_says_what_to_do(tmp_path):
    workflow_input = {"task": {"title": "a"}, "options": {"max_attempts": 2}}
    with pytest.raises(TaskFileError) as caught:
        load_tasks(write_json(tmp_path / "input.json", [{"title": "b"}, workflow_input]))
    assert caught.value.lines == [
        f"{tmp_path}/input.json: [1]: this is a workflow input (options, task), not a task: put the value of "
        '"task" in the file, and pass the context with --context and options with --option'
    ]


def test_every_example_file_validates():
    assert load_context(ROOT / "examples/context.json").repository == "acme/taskmaster-api"
    types = {load_tasks(path)[0].type.value for path in (ROOT / "examples/tasks").glob("*.json")}
    assert len(types) == 8


# The original README's examples, exactly as written there (JavaScript object literals as JSON).
README_IMPLEMENTATION = {
    "id": "task_001",
    "title": "Implement user authentication",
    "description": "Create secure JWT-based authentication system",
    "type": "implementation",
    "requirements": ["Use bcrypt for password hashing", "Implement JWT token generation", "Add rate limiting for login attempts"],
    "acceptance_criteria": ["Users can register and login", "Passwords are securely hashed", "JWT tokens expire after 24 hours"],
}
README_CONTEXT = {
    "project_name": "TaskMaster API",
    "codebase_context": {"language": "JavaScript", "framework": "Node.js with Express", "coding_standards": ["Use ESLint", "Follow JSDoc standards"]},
}
README_BUG_FIX = {
    "type": "bug_fix",
    "title": "Fix critical bug",
    "description": "Bug description and impact",
    "metadata": {"severity": "high", "reproduction_steps": ["Step 1", "Step 2"], "error_details": "Error message or stack trace"},
}
README_FEATURE = {
    "type": "feature",
    "title": "New feature development",
    "description": "Feature requirements and specifications",
    "metadata": {"user_stories": ["As a user, I want..."], "api_design": "API specification", "ui_requirements": "UI/UX requirements"},
}


@pytest.mark.parametrize("task", [README_IMPLEMENTATION, README_BUG_FIX, README_FEATURE], ids=["implementation", "bug_fix", "feature"])
def test_original_readme_examples_validate_and_render(tmp_path, task):
    assert Task.model_validate(task).title == task["title"]
    done = starter(write_json(tmp_path / "t.json", task), "--context", write_json(tmp_path / "c.json", README_CONTEXT))
    assert done.returncode == 0, done.stderr
    assert "- **Language:** JavaScript\n- **Framework:** Node.js with Express" in done.stdout
    for value in task.get("metadata", {}).values():
        assert (value[0] if isinstance(value, list) else value) in done.stdout
    assert TaskContext.model_validate(README_CONTEXT).project_name == "TaskMaster API"
