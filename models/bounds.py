"""How much free text from GitHub (CI output, people's reviews) and Codegen (a run's result) a task keeps, and the one helper that cuts it.

GitHub allows 65,535 characters in each of a check run's summary and text, and reviews of any length. What a
workflow reads or is signalled is recorded in its history (every reconcile read, every webhook), and the
state keeps checks for a few heads through continue-as-new: text is cut where it enters (the GitHub client's
reducers, the relay's translation), so neither grows with what CI or a reviewer writes.
"""

from __future__ import annotations

# A check's output title is one line; GitHub shows about this much of it.
CHECK_TITLE_CHARS = 200
# A check's summary sits in every read and webhook of every check, and in the state for 3 heads: a read
# of 100 checks stays near 140 KB. A summary's first lines say what failed; its full log is read for follow-ups only.
CHECK_SUMMARY_CHARS = 1_000
# A failing check's log as the follow-up prompt shows it (prompts/followups.py): the start holds the
# first errors. Read only for the failing checks, only when a follow-up is prepared; all of them together
# are also held to the task's max_context_size, since the prompt can hold no more.
CHECK_TEXT_CHARS = 3_000
# A review's body is the reviewer's request, sent whole to the agent when short enough: a long review
# is still read in full up to here, and the follow-up prompt shows no more.
REVIEW_BODY_CHARS = 4_000

# An agent run's `result` and `summary` (Codegen's words): in every read of the run, and quoted by a failed
# attempt's message; the run's page has the rest.
RUN_TEXT_CHARS = 2_000

# A comparison of a PR's head with its base, read when the base has moved or conflicts: the follow-up prompt names
# the base's newest commits since the PR branched (their messages' first lines, mostly) and the files both sides changed.
COMPARE_COMMITS = 20
COMMIT_MESSAGE_CHARS = 300
COMPARE_FILES = 100

TRUNCATION_MARKER = "… [truncated, {count} more characters]"


def shorten_text(text: str, limit: int) -> str:
    """The first `limit` characters of `text`, marked as cut, with how much was cut, when anything was removed."""
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATION_MARKER.format(count=len(text) - limit)


def bounded(text: str | None, limit: int) -> str | None:
    """`shorten_text` for a text that may be absent."""
    return None if text is None else shorten_text(text, limit)
