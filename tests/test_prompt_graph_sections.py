"""The sections a task graph adds to a prompt: the task's own `details` ("## Approach") and the merged work of
the tasks it depends on ("## Builds on merged work")."""

from __future__ import annotations

from models.prompt import PromptInput, PromptOptions
from models.task import DeliveredDependency, Task, TaskContext, TaskType
from prompts.engine import PromptGenerator
from prompts.view import CUT_ORDER

generator = PromptGenerator()

MIDDLEWARE = DeliveredDependency(
    task_id="tm-backend-3",
    title="Add key store",
    pr_url="https://github.com/acme/api/pull/57",
    pr_title="Load signing keys from JWKS",
    merge_commit_sha="9f3c2e1a7b5d",
    summary="Added src/keys.ts with getKey(kid).\nKeys are cached for 10 minutes.",
)


def generate(task: Task, built_on=(), **options):
    context = TaskContext(repository="acme/api", base_branch="develop")
    return generator.generate(PromptInput(task=task, context=context, built_on=list(built_on), options=PromptOptions(**options)))


def test_details_have_their_own_section_in_every_task_type():
    for task_type in TaskType:
        content = generate(Task(title="Add auth", type=task_type, details="Use jose.\n\n### Subtask 4.2\n\nRead the header.")).content
        assert "\n## Approach\n\nUse jose.\n\n### Subtask 4.2\n\nRead the header.\n" in content, task_type


def test_each_delivered_dependency_is_named_with_its_pr_commit_and_summary():
    other = DeliveredDependency(task_id="tm-backend-2", title="Add user model", pr_url="https://github.com/acme/api/pull/51")
    content = generate(Task(title="Add auth"), built_on=[MIDDLEWARE, other]).content
    assert (
        "## Builds on merged work\n\n"
        "This task depends on the work below, which has merged: base branch `develop` already contains it. "
        "Build on it rather than redo it.\n\n"
        "### tm-backend-3: Add key store\n\n"
        "Pull request [Load signing keys from JWKS](https://github.com/acme/api/pull/57), merged as commit `9f3c2e1a7b5d`.\n\n"
        "What the agent said it did:\n\n"
        "Added src/keys.ts with getKey(kid).\nKeys are cached for 10 minutes.\n\n"
        "### tm-backend-2: Add user model\n\n"
        "Pull request [https://github.com/acme/api/pull/51](https://github.com/acme/api/pull/51).\n"
    ) in content


def test_without_details_or_dependencies_neither_section_appears():
    content = generate(Task(title="Add auth")).content
    assert "## Approach" not in content and "## Builds on merged work" not in content


def test_the_budget_cuts_the_new_sections_last_and_shortens_before_dropping():
    assert [section.key for section in CUT_ORDER][-5:] == ["overview", "built_on", "previous_failures", "details", "approach"]
    task = Task(title="Add auth", details="How: " + "x" * 5000)
    summary = "Did " + "y" * 3000
    full = generate(task, built_on=[MIDDLEWARE.model_copy(update={"summary": summary})], max_context_size=50_000)
    assert full.metadata.truncated_sections == []
    result = generate(task, built_on=[MIDDLEWARE.model_copy(update={"summary": summary})], max_context_size=4000)
    assert len(result.content) <= 4000
    assert "approach" in result.metadata.truncated_sections
    assert "Shortened: " in result.content and "approach" in result.content.split("> Note:")[1]
    # The dependency's PR stays named even when its summary is cut.
    shortened = generate(task, built_on=[MIDDLEWARE.model_copy(update={"summary": summary})], max_context_size=len(full.content) - 2000)
    assert "https://github.com/acme/api/pull/57" in shortened.content


def test_task_master_provenance_is_not_shown_to_the_agent():
    content = generate(Task(title="Add auth", metadata={"taskmaster": {"tag": "backend", "id": "4"}, "githubIssue": 42})).content
    assert "githubIssue" in content and "taskmaster" not in content
