"""The prompt engine: every field shows up, options change the output, the budget holds."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from models.prompt import PromptInput, PromptOptions
from models.task import CodebaseContext, CodeExample, Task, TaskContext, TaskType
from prompts.engine import GENERATOR_VERSION, PromptGenerator, PromptTemplateError, PromptTooLargeError
from prompts.view import CUT_ORDER
from tests.prompt_fixtures import example_context, example_task

generator = PromptGenerator()


def render(task: Task | dict, context: TaskContext | dict | None = None, **options) -> str:
    return generate(task, context, **options).content


def generate(task, context=None, previous_failures=(), **options):
    return generator.generate(
        PromptInput(
            task=task,
            context=context if context is not None else TaskContext(),
            options=PromptOptions(**options),
            previous_failures=list(previous_failures),
        )
    )


@pytest.mark.parametrize("task_type", list(TaskType))
def test_each_type_has_its_own_template(task_type):
    result = generate(example_task(task_type), example_context())
    assert result.metadata.template == f"{task_type.value}.md.j2"
    assert result.metadata.task_type == task_type.value


def test_optimization_and_security_are_not_aliases():
    task = {"title": "Same title", "description": "Same text"}
    headings = {t: render({**task, "type": t}).splitlines()[0] for t in TaskType}
    assert len(set(headings.values())) == len(TaskType)
    assert headings[TaskType.OPTIMIZATION] == "# Optimization: Same title"
    assert headings[TaskType.SECURITY] == "# Security: Same title"


@pytest.mark.parametrize("task_type", list(TaskType))
def test_every_user_field_appears(task_type):
    task, context = example_task(task_type), example_context()
    content = render(task, context, max_context_size=50_000)
    codebase = context.codebase_context
    expected = [
        task.title, task.description, *task.requirements, *task.acceptance_criteria, *task.affected_files,
        context.project_name, codebase.language, codebase.framework, codebase.architecture,
        *codebase.key_files, *codebase.coding_standards, *codebase.test_patterns,
        *(example.code for example in codebase.code_examples),
        *(f"{name}: {version}" for name, version in context.dependencies.items()),
        *(f"{name}={value}" for name, value in context.environment.items()),
        f"`{context.repository}`", f"`{context.base_branch}`", f"Task-ID: {task.id}",
    ]
    for text in expected:
        assert text in content, text
    for value in task.metadata.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                assert item in content, item


def test_bug_metadata_has_its_own_section():
    content = render(example_task("bug_fix"))
    section = content.split("## Bug details", 1)[1]
    assert "**Severity:** high" in section
    assert "1. POST /auth/register" in section and "3. Observe 401 Unauthorized" in section
    assert "```text\nAuthError: invalid credentials\n" in section
    assert "**Expected behavior:**" in section and "**Current behavior:**" in section


def test_feature_metadata_is_rendered():
    content = render(example_task("feature"))
    section = content.split("## Feature details", 1)[1]
    assert "**User stories:**" in section and "- As a task owner" in section
    assert "**API design:**" in section and "**UI requirements:**" in section


def test_unknown_metadata_keys_are_kept_but_scenario_is_hidden():
    content = render({"title": "t", "metadata": {"rollback_plan": "Revert the migration", "scenario": "fail_checks"}})
    assert "### Additional details" in content
    assert "**rollback_plan:** Revert the migration" in content
    assert "scenario" not in content and "fail_checks" not in content


def test_empty_sections_are_left_out():
    content = render({"title": "Only a title"})
    assert "Not specified" not in content
    for heading in ("## Description", "## Requirements", "## Codebase", "## Previous attempts", "details"):
        assert heading not in content


def test_file_structure_is_a_tree():
    context = TaskContext(codebase_context=CodebaseContext(file_structure=["src/app/main.py", "src/app/db.py", "tests/test_main.py"]))
    content = render({"title": "t"}, context)
    assert "```text\n├── src/\n│   └── app/\n│       ├── main.py\n│       └── db.py\n└── tests/\n    └── test_main.py\n```" in content


def test_repository_base_branch_and_task_id_line():
    content = render({"id": "T-9", "title": "t"}, {"repository_url": "https://github.com/acme/api.git", "base_branch": "develop"})
    assert "Open exactly one pull request against `acme/api`, base branch `develop`." in content
    assert "\nTask-ID: T-9\n" in content


def test_previous_failures_are_shown_oldest_first():
    content = generate({"title": "t"}, previous_failures=["checks failed: lint", "agent run timed out"]).content
    section = content.split("## Previous attempts", 1)[1]
    assert section.index("1. checks failed: lint") < section.index("2. agent run timed out")


def test_code_examples_option_changes_output():
    context = example_context()
    with_examples = render({"title": "t"}, context, include_code_examples=True)
    without = render({"title": "t"}, context, include_code_examples=False)
    assert "### Code examples" in with_examples and "```typescript\nrouter.post(" in with_examples
    assert "### Code examples" not in without and "router.post(" not in without


def test_best_practices_option_changes_output():
    with_checklist = render({"title": "t", "type": "bug_fix"}, enhance_with_best_practices=True)
    without = render({"title": "t", "type": "bug_fix"}, enhance_with_best_practices=False)
    assert "## Best practices" in with_checklist
    assert "Reproduce the bug with a failing test" in with_checklist
    assert "## Best practices" not in without


def test_best_practices_differ_per_type():
    sections = {t: render({"title": "t", "type": t}).split("## Best practices", 1)[1].split("##", 1)[0] for t in TaskType}
    assert len(set(sections.values())) == len(TaskType)


def test_code_fence_outgrows_backticks_in_the_code():
    context = TaskContext(codebase_context=CodebaseContext(code_examples=[CodeExample(language="md", code="```py\nx = 1\n```")]))
    content = render({"title": "t"}, context)
    assert "````md\n```py\nx = 1\n```\n````" in content


def test_same_input_gives_byte_identical_content():
    task, context = example_task("feature"), example_context()
    first = generate(task, context, previous_failures=["x"])
    again = PromptGenerator().generate(PromptInput(task=task, context=context, previous_failures=["x"]))
    assert first.content.encode() == again.content.encode()


def test_metadata():
    result = generate(example_task("implementation"), example_context())
    meta = result.metadata
    assert meta.task_id == "task_001" and meta.generator_version == GENERATOR_VERSION
    assert meta.size_chars == len(result.content) and meta.estimated_tokens == -(-len(result.content) // 4)
    assert meta.truncated_sections == []
    assert "All existing tests pass" in meta.validation_requirements
    assert "Acceptance criterion met: Users can register and login" in meta.validation_requirements
    assert meta.generated_at.tzinfo is not None


def test_complexity_follows_the_task_not_the_template():
    small = generate({"title": "Fix a typo", "type": "documentation"}).metadata.estimated_complexity
    big_task = {
        "title": "Rewrite billing", "type": "feature", "description": "word " * 400,
        "requirements": [f"r{i}" for i in range(12)], "acceptance_criteria": [f"c{i}" for i in range(8)],
        "affected_files": [f"f{i}.py" for i in range(9)],
    }
    big = generate(big_task).metadata.estimated_complexity
    assert small == 1 and big == 10
    # A large context (template boilerplate, codebase) does not make the task itself more complex.
    assert generate({"title": "Fix a typo", "type": "documentation"}, example_context()).metadata.estimated_complexity == small


# --- the budget ---------------------------------------------------------------------------

def test_over_budget_cuts_in_declared_order_with_a_visible_note():
    task, context = example_task("bug_fix"), example_context()
    full = generate(task, context, max_context_size=50_000)
    assert full.metadata.truncated_sections == []
    budget = len(full.content) - 400
    cut = generate(task, context, max_context_size=budget)
    assert len(cut.content) <= budget
    order = [section.key for section in CUT_ORDER]
    assert cut.metadata.truncated_sections == order[: len(cut.metadata.truncated_sections)]
    assert cut.metadata.truncated_sections[0] == "best_practices"
    assert f"> Note: context was cut to fit the {budget}-character limit." in cut.content
    assert "Left out: best practices" in cut.content or "Shortened: best practices" in cut.content


def test_required_parts_survive_any_cut():
    task, context = example_task("security"), example_context()
    result = generate(task, context, previous_failures=["x" * 3000], max_context_size=1500)
    assert len(result.content) <= 1500
    for text in (task.title, task.description, *task.requirements, *task.acceptance_criteria, f"Task-ID: {task.id}"):
        assert text in result.content


def test_shortened_list_says_how_much_was_left_out():
    context = TaskContext(codebase_context=CodebaseContext(key_files=[f"src/module_{i:03}.py" for i in range(300)]))
    result = generate({"title": "t"}, context, max_context_size=2000, enhance_with_best_practices=False)
    assert len(result.content) <= 2000
    assert "- src/module_004.py\n- … 295 more not shown" in result.content
    assert "Shortened: key files" in result.content


def test_required_parts_over_budget_raise_with_both_sizes():
    with pytest.raises(PromptTooLargeError) as caught:
        generate({"title": "t", "description": "d" * 5000}, max_context_size=4000)
    assert caught.value.budget == 4000 and caught.value.size > 5000
    assert "4000" in str(caught.value) and str(caught.value.size) in str(caught.value)


# --- regressions of the original generator -----------------------------------------------

def test_regression_braces_in_description_are_not_replaced():
    text = "Use {title} and {{ task.id }} and {% raw %} and ${HOME} literally"
    assert text in render({"title": "{title}", "description": text})


def test_regression_dollar_patterns_are_not_mangled():
    text = "Replace with $& then $1, $$, $' and $` and a \\1 backreference"
    assert text in render({"title": "t", "requirements": [text]})


def test_regression_known_language_and_framework_are_shown():
    content = render({"title": "t"}, {"codebase_context": {"language": "Python", "framework": "FastAPI"}})
    assert "- **Language:** Python\n- **Framework:** FastAPI" in content
    assert "Not specified" not in content


def test_regression_bug_metadata_is_not_ignored():
    content = render({"title": "t", "type": "bug_fix", "metadata": {"severity": "critical", "reproduction_steps": ["Click save"], "error_details": "KeyError: 'x'"}})
    assert "critical" in content and "1. Click save" in content and "KeyError: 'x'" in content


def test_regression_size_limit_is_enforced():
    context = TaskContext(codebase_context=CodebaseContext(file_structure=[f"pkg/m{i}.py" for i in range(2000)]))
    result = generate({"title": "t"}, context, max_context_size=8000)
    assert len(result.content) <= 8000 and "file_tree" in result.metadata.truncated_sections


# --- team templates -----------------------------------------------------------------------

def test_override_dir_replaces_templates_by_name(tmp_path):
    (tmp_path / "partials").mkdir()
    (tmp_path / "bug_fix.md.j2").write_text("Team bug template for {{ task.title }}\n")
    (tmp_path / "partials" / "delivery.md.j2").write_text("\nTeam delivery rules for {{ base_branch }}.\n")
    team = PromptGenerator(tmp_path)
    bug = team.generate(PromptInput(task={"title": "Crash", "type": "bug_fix"}))
    assert bug.content == "Team bug template for Crash\n"
    assert bug.metadata.template == str(tmp_path / "bug_fix.md.j2")
    feature = team.generate(PromptInput(task={"title": "New", "type": "feature"}))
    assert "Team delivery rules for main." in feature.content and "## Delivery" not in feature.content
    assert feature.metadata.template == "feature.md.j2"


def test_override_dir_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PromptGenerator(tmp_path / "missing")


def test_undefined_variables_fail_loudly_with_file_and_line(tmp_path):
    (tmp_path / "testing.md.j2").write_text("# {{ task.title }}\n\n{{ task.titel }}")
    with pytest.raises(PromptTemplateError) as caught:
        PromptGenerator(tmp_path).generate(PromptInput(task={"title": "t", "type": "testing"}))
    assert str(caught.value) == f"{tmp_path}/testing.md.j2:3: 'models.task.Task object' has no attribute 'titel'"
    assert isinstance(caught.value.__cause__, UndefinedError)


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    (tmp_path / "bug_fix.md.j2").write_text("# {{ task.title }}\n\n{% if task.description %}\nno endif\n")
    with pytest.raises(PromptTemplateError) as caught:
        PromptGenerator(tmp_path).generate(PromptInput(task={"title": "t", "type": "bug_fix"}))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}/bug_fix.md.j2:4: Unexpected end of template"), message
    assert (caught.value.filename, caught.value.lineno) == (f"{tmp_path}/bug_fix.md.j2", 4)


def test_a_broken_partial_is_named_not_the_template_that_includes_it(tmp_path):
    # The bundled feature.md.j2 includes partials/delivery.md.j2: the team's copy is where the fault is.
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "delivery.md.j2").write_text("\nDeliver to {{ base_branch }}.\n{{ base_branch | nosuchfilter }}\n")
    with pytest.raises(PromptTemplateError) as caught:
        PromptGenerator(tmp_path).generate(PromptInput(task={"title": "t", "type": "feature"}))
    assert str(caught.value).startswith(f"{tmp_path}/partials/delivery.md.j2:3: "), str(caught.value)
    assert "nosuchfilter" in str(caught.value)

    (tmp_path / "partials" / "delivery.md.j2").write_text("\nDeliver to {{ base_branch }}.\n\n{{ base_branch.nope }}\n")
    with pytest.raises(PromptTemplateError) as caught:
        PromptGenerator(tmp_path).generate(PromptInput(task={"title": "t", "type": "feature"}))
    assert str(caught.value).startswith(f"{tmp_path}/partials/delivery.md.j2:4: "), str(caught.value)


def test_a_missing_include_and_an_error_while_rendering_are_placed_too(tmp_path):
    (tmp_path / "refactor.md.j2").write_text("# {{ task.title }}\n{% include 'partials/nothere.md.j2' %}\n")
    (tmp_path / "security.md.j2").write_text("# {{ task.title }}\n\n\n{{ task.priority / 0 }}\n")
    team = PromptGenerator(tmp_path)
    with pytest.raises(PromptTemplateError) as caught:
        team.generate(PromptInput(task={"title": "t", "type": "refactor"}))
    assert str(caught.value) == f"{tmp_path}/refactor.md.j2:2: included template 'partials/nothere.md.j2' not found"
    with pytest.raises(PromptTemplateError) as caught:
        team.generate(PromptInput(task={"title": "t", "type": "security"}))
    assert str(caught.value) == f"{tmp_path}/security.md.j2:4: ZeroDivisionError: division by zero"


def test_without_repository_the_base_branch_is_still_named():
    assert "\nOpen exactly one pull request against base branch `main`.\n" in render({"title": "t"})
