"""What the follow-up templates (fix_checks, address_review, resolve_conflicts) see, and what the budget may cut."""

from __future__ import annotations

from typing import Any

from models.bounds import CHECK_SUMMARY_CHARS, CHECK_TEXT_CHARS, COMMIT_MESSAGE_CHARS, REVIEW_BODY_CHARS, shorten_text
from models.followup import FollowupPromptInput
from models.github import CommitSummary
from prompts.budget import OptionalSection, shorten_list

# Check output and review text come from CI and people, and can be megabytes; the prompt keeps
# the start of each (models.bounds), which is where summaries and the first errors are.
REVIEW_COMMENT_LIMIT = 1500
# The files both sides changed say where to look; past a few dozen, `git merge` lists the rest better.
CONFLICTING_FILE_LIMIT = 50
FILE_PATH_CHARS = 300


def _short_check_output(outputs: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {"name": output["name"], "summary": shorten_text(output["summary"], 300), "text": shorten_text(output["text"], 300)}
        for output in outputs
    ]


def _short_followups(followups: list[str]) -> list[str]:
    return [shorten_text(followup, 300) for followup in followups[-2:]]


def _newest_commits(commits: list[dict[str, str]]) -> list[dict[str, str]]:
    # Oldest first, so the newest are the last; the template counts the rest as "more".
    return commits[-5:]


def _first_files(paths: list[str]) -> list[str]:
    return paths[:10]


def _commit_line(commit: CommitSummary) -> dict[str, str]:
    subject = commit.message.split("\n", 1)[0]
    return {"sha": commit.sha[:7], "subject": shorten_text(subject, COMMIT_MESSAGE_CHARS)}


def _short_reference(reference: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: shorten_list(items, keep=3, text_limit=200) for name, items in reference.items()}


# Cut first to last: history and the task's background before the reviewer's, CI's or the base branch's own
# words; of a conflict, the base's commits before the files both sides changed, which say where to look.
FOLLOWUP_CUT_ORDER: tuple[OptionalSection, ...] = (
    OptionalSection("previous_followups", "previous follow-ups", _short_followups),
    OptionalSection("task_reference", "task requirements", _short_reference),
    OptionalSection("base_commits", "commits on the base branch", _newest_commits),
    OptionalSection("conflicting_files", "files changed on both sides", _first_files),
    OptionalSection("check_output", "check output", _short_check_output),
    OptionalSection("review_comments", "review comments", lambda items: shorten_list(items, keep=5, text_limit=400)),
)


def build_followup_view(followup: FollowupPromptInput) -> dict[str, Any]:
    """The template variables for one follow-up prompt; every key of FOLLOWUP_CUT_ORDER is present."""
    task = followup.task
    check_output = [
        {
            "name": check.name,
            "summary": shorten_text(check.summary or "", CHECK_SUMMARY_CHARS),
            "text": shorten_text(check.text or "", CHECK_TEXT_CHARS),
        }
        for check in followup.failing_checks
        if check.summary or check.text
    ]
    reference = {"Requirements": list(task.requirements), "Acceptance criteria": list(task.acceptance_criteria)}
    return {
        "task": task,
        "pr_url": followup.pr_url,
        "head_sha": followup.head_sha,
        "budget": followup.max_context_size,
        "checks": followup.failing_checks,
        "check_output": check_output,
        "review_body": shorten_text(followup.review_body, REVIEW_BODY_CHARS) if followup.review_body else None,
        "review_comments": [shorten_text(comment, REVIEW_COMMENT_LIMIT) for comment in followup.review_comments],
        # The workflow names the PR's base for resolve_conflicts; otherwise the task's, which the PR was opened against.
        "base_ref": followup.base_ref or followup.context.base_branch,
        "base_commits": [_commit_line(commit) for commit in followup.base_commits],
        # The totals stay when the lists are shortened, so the template can say how many are not shown.
        "base_commits_total": max(followup.base_commits_total, len(followup.base_commits)),
        "conflicting_files": [
            shorten_text(path, FILE_PATH_CHARS) for path in followup.conflicting_files[:CONFLICTING_FILE_LIMIT]
        ],
        "conflicting_files_total": len(followup.conflicting_files),
        "previous_followups": list(followup.previous_followups),
        "task_reference": {name: items for name, items in reference.items() if items},
    }
