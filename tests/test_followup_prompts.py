"""Follow-up prompts: fix failing checks, address a review, resolve conflicts with the base, on the PR the agent already opened."""

from __future__ import annotations

import pytest

from models.bounds import CHECK_TEXT_CHARS, COMMIT_MESSAGE_CHARS, REVIEW_BODY_CHARS, TRUNCATION_MARKER
from models.followup import FailingCheck, FollowupPromptInput
from models.github import CommitSummary
from models.task import TaskContext
from prompts.engine import PromptGenerator, PromptTooLargeError
from tests.prompt_fixtures import example_task

generator = PromptGenerator()
PR = "https://github.com/acme/taskmaster-api/pull/42"


def followup(kind: str, **fields) -> FollowupPromptInput:
    return FollowupPromptInput(task=example_task("bug_fix"), kind=kind, pr_url=PR, head_sha="9f1c2ab", **fields)


def test_fix_checks_names_each_check_and_the_pr():
    checks = [
        FailingCheck(name="lint", conclusion="failure", details_url="https://ci.example/run/1", summary="2 problems", text="src/a.ts:3 no-unused-vars"),
        FailingCheck(name="unit tests", conclusion="timed_out"),
    ]
    result = generator.generate_followup_prompt(followup("fix_checks", failing_checks=checks, previous_followups=["Renamed the helper"]))
    content = result.content
    assert content.startswith("# Fix failing checks: Login fails for e-mail addresses with upper-case letters\n")
    assert f"pull request {PR} (head commit `9f1c2ab`)" in content and "Do not open a new pull request" in content
    assert "- lint: failure (https://ci.example/run/1)\n- unit tests: timed_out\n" in content
    assert "```text\n2 problems\n```" in content and "```text\nsrc/a.ts:3 no-unused-vars\n```" in content
    assert "1. Renamed the helper" in content
    assert "- Compare e-mail addresses case-insensitively at login and registration" in content
    assert "Keep the line `Task-ID: bug-214` in the pull request body." in content
    assert result.metadata.template == "fix_checks.md.j2" and result.metadata.task_id == "bug-214"


def test_check_output_is_bounded_in_the_prompt():
    log = "E" * (CHECK_TEXT_CHARS * 20)
    content = generator.generate_followup_prompt(
        followup("fix_checks", failing_checks=[FailingCheck(name="build", text=log)], max_context_size=50_000)
    ).content
    cut = TRUNCATION_MARKER.format(count=len(log) - CHECK_TEXT_CHARS)
    assert "E" * CHECK_TEXT_CHARS + cut in content and "E" * (CHECK_TEXT_CHARS + 1) not in content


def test_address_review_keeps_reviewer_text_verbatim():
    comments = ["src/auth.ts:48: use `toLowerCase()` {{ not a template }} $&", "Add a test for `Ünïcödé@Example.com`"]
    content = generator.generate_followup_prompt(followup("address_review", review_body="Nearly there.\n\n- [ ] tests", review_comments=comments)).content
    assert content.startswith("# Address review: ")
    assert "## Review\n\nNearly there.\n\n- [ ] tests\n" in content
    assert f"1. {comments[0]}\n2. {comments[1]}\n" in content


def test_review_body_is_bounded():
    content = generator.generate_followup_prompt(followup("address_review", review_body="r" * (REVIEW_BODY_CHARS * 3), max_context_size=50_000)).content
    assert "r" * REVIEW_BODY_CHARS + TRUNCATION_MARKER.format(count=2 * REVIEW_BODY_CHARS) in content


def test_followup_budget_cuts_history_first_and_never_exceeds():
    checks = [FailingCheck(name=f"check {i}", summary="s" * 1500, text="t" * 3000) for i in range(4)]
    result = generator.generate_followup_prompt(
        followup("fix_checks", failing_checks=checks, previous_followups=["p" * 2000] * 3, max_context_size=4000)
    )
    assert len(result.content) <= 4000
    assert result.metadata.truncated_sections[0] == "previous_followups"
    assert "check_output" in result.metadata.truncated_sections
    assert all(f"- check {i}: failure" in result.content for i in range(4))
    assert "> Note: context was cut to fit the 4000-character limit." in result.content


def base_commits(count: int, body: str = "") -> list[CommitSummary]:
    return [CommitSummary(sha=f"{index:07x}" + "0" * 33, message=f"Base change {index}{body}") for index in range(count)]


def test_resolve_conflicts_names_the_base_its_commits_and_the_files():
    result = generator.generate_followup_prompt(followup(
        "resolve_conflicts", base_ref="release/2.4", base_commits=base_commits(3, body="\n\nWhy it changed, at length."),
        base_commits_total=15, conflicting_files=["src/services/authService.ts", "prisma/schema.prisma"],
        previous_followups=["Merged main, tests failed"],
    ))
    content = result.content
    assert content.startswith("# Resolve merge conflicts: Login fails for e-mail addresses with upper-case letters\n")
    assert f"Pull request {PR} (head commit `9f1c2ab`) no longer merges cleanly into `release/2.4`" in content
    assert "push to the same branch. Do not open a new pull request." in content
    assert "15 commits landed on `release/2.4` since the pull request branched, oldest first." in content
    lines = "- … and 12 more before these\n- `0000000` Base change 0\n- `0000001` Base change 1\n- `0000002` Base change 2\n"
    assert lines in content and "Why it changed" not in content  # a commit's first line only
    assert "## Likely conflicts\n\nBoth the pull request and `release/2.4` changed these files:\n\n- src/services/authService.ts\n- prisma/schema.prisma\n" in content
    assert "1. Merged main, tests failed" in content
    assert "- Compare e-mail addresses case-insensitively at login and registration" in content
    assert "Keep the line `Task-ID: bug-214` in the pull request body." in content
    assert result.metadata.template == "resolve_conflicts.md.j2" and result.metadata.truncated_sections == []


def test_resolve_conflicts_says_when_github_named_no_files():
    content = generator.generate_followup_prompt(
        followup("resolve_conflicts", base_ref="main", base_commits=base_commits(1), base_commits_total=1)
    ).content
    assert "1 commit landed on `main`" in content and "more before these" not in content
    assert "GitHub did not name the files both sides changed; merging `main` into the branch shows where the conflicts are." in content
    assert "changed these files" not in content


def test_resolve_conflicts_falls_back_to_the_tasks_base_branch():
    content = generator.generate_followup_prompt(followup("resolve_conflicts", context=TaskContext(base_branch="develop"))).content
    assert "no longer merges cleanly into `develop`" in content and "commits landed" not in content


def test_resolve_conflicts_bounds_commit_messages_and_file_lists():
    long_subject = "s" * (COMMIT_MESSAGE_CHARS * 3)
    content = generator.generate_followup_prompt(followup(
        "resolve_conflicts", base_ref="main", base_commits=[CommitSummary(sha="abcdef0123", message=long_subject)], base_commits_total=1,
        conflicting_files=[f"src/module_{index}/file.ts" for index in range(300)], max_context_size=50_000,
    )).content
    assert "- `abcdef0` " + "s" * COMMIT_MESSAGE_CHARS + TRUNCATION_MARKER.format(count=2 * COMMIT_MESSAGE_CHARS) + "\n" in content
    assert "- src/module_49/file.ts\n- … and 250 more\n" in content and "src/module_50/" not in content


@pytest.mark.parametrize(
    ("budget", "shown", "note"),
    [
        # The newest commits stay, the count says how many are not shown.
        (8000, "- … and 55 more before these\n- `000000f` Base change 15", "Shortened: commits on the base branch. Left out: previous follow-ups, task requirements."),
        (2000, "- src/module_9/file.ts\n- … and 290 more\n", "Shortened: files changed on both sides. Left out: previous follow-ups, task requirements, commits on the base branch."),
    ],
)
def test_resolve_conflicts_fits_the_budget_with_300_files_and_long_messages(budget, shown, note):
    result = generator.generate_followup_prompt(followup(
        "resolve_conflicts", base_ref="main", base_commits=base_commits(20, body="m" * 5000), base_commits_total=60,
        conflicting_files=[f"src/module_{index}/file.ts" for index in range(300)], previous_followups=["p" * 2000] * 3,
        max_context_size=budget,
    ))
    content = result.content
    assert len(content) <= budget and shown in content
    assert "60 commits landed on `main`" in content and "- src/module_0/file.ts\n" in content
    assert f"> Note: context was cut to fit the {budget}-character limit. {note}" in content


def test_followup_too_large_raises():
    with pytest.raises(PromptTooLargeError):
        generator.generate_followup_prompt(followup("address_review", review_body="x" * 3000, max_context_size=1000))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="fix_checks"):
        followup("rewrite_everything")
