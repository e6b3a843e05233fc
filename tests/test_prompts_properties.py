"""Property tests: arbitrary user text comes through byte for byte, and the budget always holds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.followup import FailingCheck, FollowupPromptInput
from models.github import CommitSummary
from models.prompt import PromptInput, PromptOptions
from models.task import CodebaseContext, Task, TaskContext, TaskType
from prompts.engine import PromptGenerator, PromptTooLargeError

generator = PromptGenerator()

# Text that broke the original generator, mixed into arbitrary Unicode.
tricky = st.sampled_from(["{{ task.title }}", "{title}", "{% if %}", "$&", "$1", "$$", "\\", "\\n", "```", "# h", "*", "\u00e9\u4e2d\U0001f600", "\r\n", "\t"])
user_text = st.lists(st.one_of(tricky, st.text(max_size=30)), max_size=8).map("".join)
nonblank_text = user_text.filter(lambda text: text.strip() != "")
task_types = st.sampled_from(list(TaskType))
# What a base branch may be (no spaces or control characters, none of ~^:?*[\\, no '..' or '@{'), tricky still.
branch_tricky = st.sampled_from(["{{task.title}}", "{title}", "{%if%}", "$&", "$1", "$$", "```", "#h", "\u00e9\u4e2d\U0001f600"])
branch_text = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zs", "Zl", "Zp"], blacklist_characters="~^:?*[\\.@"), min_size=1, max_size=20)
branch_names = st.lists(st.one_of(branch_tricky, branch_text), min_size=1, max_size=5).map("".join)


@st.composite
def tasks(draw) -> Task:
    return Task(
        title=draw(nonblank_text),
        description=draw(user_text),
        type=draw(task_types),
        requirements=draw(st.lists(user_text, max_size=4)),
        acceptance_criteria=draw(st.lists(user_text, max_size=4)),
        metadata=draw(st.dictionaries(st.sampled_from(["severity", "user_stories", "notes", "error_details", "x"]), st.one_of(user_text, st.lists(user_text, max_size=3)), max_size=3)),
    )


@st.composite
def contexts(draw) -> TaskContext:
    return TaskContext(
        project_name=draw(st.none() | user_text),
        base_branch=draw(branch_names),
        codebase_context=CodebaseContext(
            language=draw(st.none() | user_text),
            framework=draw(st.none() | user_text),
            key_files=draw(st.lists(user_text, max_size=30)),
            coding_standards=draw(st.lists(user_text, max_size=10)),
            file_structure=draw(st.lists(st.text("abc/._", min_size=1, max_size=12), max_size=60)),
        ),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task=tasks(), context=contexts())
def test_user_text_is_inserted_verbatim(task, context):
    content = generator.generate(PromptInput(task=task, context=context, options=PromptOptions(max_context_size=200_000))).content
    codebase = context.codebase_context
    for text in (task.title, task.description, *task.requirements, *task.acceptance_criteria, context.base_branch,
                 codebase.language or "", codebase.framework or "", *codebase.key_files, *codebase.coding_standards):
        assert text in content
    for value in task.metadata.values():
        for item in value if isinstance(value, list) else [value]:
            assert item in content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task=tasks(), context=contexts(), failures=st.lists(user_text, max_size=3), budget=st.integers(500, 6000))
def test_budget_is_never_exceeded(task, context, failures, budget):
    prompt = PromptInput(task=task, context=context, previous_failures=failures, options=PromptOptions(max_context_size=budget))
    try:
        result = generator.generate(prompt)
    except PromptTooLargeError as error:
        assert error.size > budget and error.budget == budget
        # Refused only when the required parts (rendered without any optional data) plus the
        # note about cuts (at most 300 characters) do not fit.
        bare = PromptInput(
            task=task.model_copy(update={"metadata": {}}),
            context=TaskContext(base_branch=context.base_branch),
            options=PromptOptions(max_context_size=200_000, enhance_with_best_practices=False),
        )
        assert len(generator.generate(bare).content) + 300 > budget
        return
    assert len(result.content) == result.metadata.size_chars <= budget
    for text in (task.title, task.description, *task.requirements, *task.acceptance_criteria):
        assert text in result.content


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["fix_checks", "address_review", "resolve_conflicts"]),
    body=st.none() | user_text,
    comments=st.lists(user_text, max_size=4),
    check_texts=st.lists(user_text, max_size=3),
    commit_messages=st.lists(user_text, max_size=20),
    files=st.lists(user_text, max_size=60),
    budget=st.integers(500, 4000),
)
def test_followups_keep_text_verbatim_within_budget(kind, body, comments, check_texts, commit_messages, files, budget):
    followup = FollowupPromptInput(
        task=Task(title="t"), kind=kind, pr_url="https://github.com/a/b/pull/1", head_sha="abc",
        failing_checks=[FailingCheck(name=f"c{i}", text=text) for i, text in enumerate(check_texts)],
        review_body=body, review_comments=comments,
        base_commits=[CommitSummary(sha=f"{i:040x}", message=message) for i, message in enumerate(commit_messages)],
        base_commits_total=len(commit_messages), conflicting_files=files, max_context_size=budget,
    )
    try:
        content = generator.generate_followup_prompt(followup).content
    except PromptTooLargeError as error:
        assert error.size > budget
        return
    assert len(content) <= budget
    if kind == "address_review" and body:
        assert body in content
