"""Follow-up prompts: fix failing checks, address a review, on the PR the agent already opened."""

from __future__ import annotations

import pytest

from models.bounds import CHECK_TEXT_CHARS, REVIEW_BODY_CHARS, TRUNCATION_MARKER
from models.followup import FailingCheck, FollowupPromptInput
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


def test_followup_too_large_raises():
    with pytest.raises(PromptTooLargeError):
        generator.generate_followup_prompt(followup("address_review", review_body="x" * 3000, max_context_size=1000))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="fix_checks"):
        followup("rewrite_everything")
