"""Golden prompts: the examples/ tasks rendered with examples/context.json at the default options, a task
of the Task Master example as a graph renders it, once the task it depends on has merged, and the follow-up
asking to resolve a pull request's conflicts with its base branch.

A template change shows up here as a readable diff. After an intended change, regenerate with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_prompts_golden.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from models.followup import FollowupPromptInput
from models.github import CommitSummary
from models.prompt import PromptInput
from models.task import DeliveredDependency, TaskType
from models.taskmaster import read_taskmaster
from prompts.engine import PromptGenerator
from tests.prompt_fixtures import EXAMPLES, example_context, example_task

GOLDEN = Path(__file__).parent / "golden" / "prompts"
generator = PromptGenerator()


@pytest.mark.parametrize("task_type", list(TaskType))
def test_prompt_matches_golden_file(task_type):
    content = generator.generate(PromptInput(task=example_task(task_type), context=example_context())).content
    assert_golden(GOLDEN / f"{task_type.value}.md", content)


def test_task_master_prompt_matches_golden_file():
    backlog = read_taskmaster(json.loads((EXAMPLES / "taskmaster" / "tasks.json").read_text()), tag="reminders")
    task = next(task for task in backlog.tasks if task.id == "tm-reminders-3")
    merged = DeliveredDependency(
        task_id="tm-reminders-2",
        title="Schedule reminders for due tasks",
        pr_url="https://github.com/acme/taskmaster-api/pull/57",
        pr_title="Schedule a reminder job one hour before a task is due",
        merge_commit_sha="9f3c2e1a7b5d4c6e8f0a1b2c3d4e5f6a7b8c9d0e",
        summary="Added src/services/reminderService.ts with schedule(task) and cancel(taskId); the job id is the task id.",
    )
    content = generator.generate(PromptInput(task=task, context=example_context(), built_on=[merged])).content
    assert_golden(GOLDEN / "taskmaster_reminders_3.md", content)


def test_resolve_conflicts_prompt_matches_golden_file():
    followup = FollowupPromptInput(
        task=example_task("bug_fix"),
        context=example_context(),
        kind="resolve_conflicts",
        pr_url="https://github.com/acme/taskmaster-api/pull/42",
        head_sha="9f1c2ab4e7d05b3c8a61f2e9d0b7c4a5e3f81d26",
        base_ref="main",
        base_commits=[
            CommitSummary(sha="3e8a1f0c9b2d7e6f5a4b3c2d1e0f9a8b7c6d5e4f", message="Store e-mails as typed in the audit log"),
            CommitSummary(
                sha="b71d0e4c2a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d",
                message="Move user lookups into userRepository.findByEmail\n\nThe auth service no longer queries Prisma directly.",
            ),
        ],
        base_commits_total=7,
        conflicting_files=["src/services/authService.ts", "src/repositories/userRepository.ts"],
        previous_followups=["Checks failed: the unit tests for registration returned 500 instead of 409."],
    )
    assert_golden(GOLDEN / "resolve_conflicts.md", generator.generate_followup_prompt(followup).content)


def assert_golden(golden: Path, content: str) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(content, encoding="utf-8", newline="")
    assert golden.read_text(encoding="utf-8") == content
