"""What a template sees: the task, its context and the options, flattened into plain data.

Each optional section is one key of the view, so the budget can shorten or drop it without
knowing anything about the template that shows it.
"""

from __future__ import annotations

from typing import Any

from models.bounds import shorten_text
from models.prompt import PromptInput
from models.taskmaster import PROVENANCE_KEY
from prompts.budget import OptionalSection, shorten_list, shorten_value
from prompts.markdown import file_tree

# Never shown to the agent: `scenario` picks the mock Codegen service's scripted outcome; the Task Master
# import's provenance is for tools.
HIDDEN_METADATA_KEYS = frozenset({"scenario", PROVENANCE_KEY})

_TREE_LINES_KEPT = 25


def _short_list(items: list[Any]) -> list[Any]:
    return shorten_list(items, keep=5, text_limit=200)


def _short_details(details: dict[str, Any]) -> dict[str, Any]:
    return {key: shorten_value(value, keep=5, text_limit=600) for key, value in details.items()}


def _short_tree(tree: str) -> str:
    lines = tree.split("\n")
    if len(lines) <= _TREE_LINES_KEPT:
        return tree
    return "\n".join([*lines[:_TREE_LINES_KEPT], f"… {len(lines) - _TREE_LINES_KEPT} more entries not shown"])


def _short_failures(failures: list[str]) -> list[str]:
    # The newest failures matter most; they come last.
    return [shorten_text(failure, 500) for failure in failures[-2:]]


def _short_approach(text: str) -> str:
    return shorten_text(text, 2000)


def _short_built_on(delivered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The links and commits say what the base branch holds; the agents' summaries are the long part.
    return [{**dependency, "summary": dependency["summary"] and shorten_text(dependency["summary"], 300)} for dependency in delivered]


def _short_overview(overview: dict[str, str]) -> dict[str, str]:
    return {key: shorten_text(value, 300) for key, value in overview.items()}


# Cut first to last: generic advice before the user's own details, the task's own
# details (what it builds on, earlier failures, metadata, how to do it) last of all.
CUT_ORDER: tuple[OptionalSection, ...] = (
    OptionalSection("best_practices", "best practices", lambda items: items[:3]),
    OptionalSection("code_examples", "code examples", lambda examples: examples[:1]),
    OptionalSection("file_tree", "file structure", _short_tree),
    OptionalSection("environment", "environment", _short_list),
    OptionalSection("dependencies", "dependencies", _short_list),
    OptionalSection("key_files", "key files", _short_list),
    OptionalSection("test_patterns", "test patterns", _short_list),
    OptionalSection("coding_standards", "coding standards", _short_list),
    OptionalSection("validation", "validation checklist", lambda items: items[:3]),
    OptionalSection("affected_files", "affected files", _short_list),
    OptionalSection("overview", "project overview", _short_overview),
    OptionalSection("built_on", "merged work it builds on", _short_built_on),
    OptionalSection("previous_failures", "previous attempts", _short_failures),
    OptionalSection("details", "type-specific details", _short_details),
    OptionalSection("approach", "approach", _short_approach),
)


def build_view(
    prompt: PromptInput, best_practices: list[str], validation: list[str]
) -> dict[str, Any]:
    """The template variables for one prompt; every optional section key of CUT_ORDER is present."""
    task, context, options = prompt.task, prompt.context, prompt.options
    codebase = context.codebase_context
    overview = {
        "Project": context.project_name,
        "Language": codebase.language,
        "Framework": codebase.framework,
        "Architecture": codebase.architecture,
    }
    dependencies = context.dependencies
    if isinstance(dependencies, dict):
        dependencies = [f"{name}: {version}" for name, version in dependencies.items()]
    return {
        "task": task,
        "priority": task.priority if "priority" in task.model_fields_set else None,
        "repository": context.repository,
        "base_branch": context.base_branch,
        "budget": options.max_context_size,
        "details": {key: value for key, value in task.metadata.items() if key not in HIDDEN_METADATA_KEYS},
        "approach": task.details.strip(),
        "built_on": [dependency.model_dump() for dependency in prompt.built_on],
        "previous_failures": list(prompt.previous_failures),
        "overview": {label: value for label, value in overview.items() if value},
        "key_files": list(codebase.key_files),
        "file_tree": file_tree(tuple(codebase.file_structure)),
        "coding_standards": list(codebase.coding_standards),
        "test_patterns": list(codebase.test_patterns),
        "dependencies": list(dependencies),
        "environment": [f"{name}={value}" for name, value in context.environment.items()],
        "code_examples": list(codebase.code_examples) if options.include_code_examples else [],
        "affected_files": list(task.affected_files),
        "best_practices": list(best_practices) if options.enhance_with_best_practices else [],
        "validation": list(validation),
    }
