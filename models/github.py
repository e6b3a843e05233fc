"""Pull requests and check runs as read from GitHub's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field

from models.codegen import PullRequestRef

PRState = Literal["open", "closed", "merged", "draft"]
# Conclusions that make a PR unmergeable / that count as green.
FAILING_CONCLUSIONS = frozenset({"failure", "timed_out", "cancelled", "action_required", "startup_failure", "stale"})
PASSING_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
# A review's states as webhooks spell them; GitHub's REST API spells them in upper case.
ReviewStateName = Literal["approved", "changes_requested", "commented", "dismissed"]
REVIEW_STATES: frozenset[str] = frozenset(get_args(ReviewStateName))


class PullRequestInfo(BaseModel):
    ref: PullRequestRef
    html_url: str
    title: str = ""
    state: Literal["open", "closed"]
    merged: bool = False
    merged_at: datetime | None = None
    # The commit the merge made on the base branch.
    merge_commit_sha: str | None = None
    # The login that merged it (the service's token's account, or a person's); None unmerged, and in the
    # commit-pulls list, which leaves it out.
    merged_by: str | None = None
    draft: bool = False
    head_sha: str
    head_ref: str
    base_ref: str
    mergeable: bool | None = None
    # GitHub's word for it: clean | behind | blocked | dirty (conflicts) | draft | unstable | unknown | has_hooks;
    # None when GitHub sent none. Both it and `mergeable` may be unknown (null) right after a change.
    mergeable_state: str | None = None
    # The account that opened the PR (the agent's): its own reviews never trigger follow-ups.
    author: str | None = None

    @property
    def status(self) -> PRState:
        if self.merged:
            return "merged"
        if self.state == "closed":
            return "closed"
        return "draft" if self.draft else "open"


class CheckRunInfo(BaseModel):
    name: str
    head_sha: str
    status: str  # queued | in_progress | completed
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    details_url: str | None = None
    output_title: str | None = None
    output_summary: str | None = None


class CheckRunsInput(BaseModel):
    ref: PullRequestRef
    sha: str


class CheckOutputsInput(BaseModel):
    """The failing checks whose output a follow-up prompt shows, and how many characters it can hold."""

    ref: PullRequestRef
    sha: str
    names: list[str]
    # The prompt's max_context_size: all the outputs together are held to it.
    max_chars: int


class CheckOutput(BaseModel):
    name: str
    summary: str | None = None
    text: str | None = None


class CheckOutputsResult(BaseModel):
    sha: str
    # The latest run of each named check found on the commit, by name.
    outputs: list[CheckOutput] = Field(default_factory=list)


class CheckRunsResult(BaseModel):
    sha: str
    # Latest run per check name.
    checks: list[CheckRunInfo] = Field(default_factory=list)


class ReviewState(BaseModel):
    """A reviewer's submitted review, as a read lists it and as the task keeps it; its state spelled as
    webhooks spell it."""

    # GitHub's review id, to read the review's line comments; None for reviews recorded before it was kept.
    id: int | None = None
    reviewer: str
    state: str
    submitted_at: datetime | None = None
    body: str | None = None
    # The head the review was given on: an approval counts toward merging only on the head it saw.
    commit_id: str | None = None


class PullRequestRead(BaseModel):
    """GitHub's view of a PR at one moment: the PR, the latest check run per name on its head, its reviews."""

    pr: PullRequestInfo
    checks: list[CheckRunInfo] = Field(default_factory=list)
    # Oldest first; reads recorded before reviews were read have none.
    reviews: list[ReviewState] = Field(default_factory=list)


class ReviewComment(BaseModel):
    """A reviewer's comment on a line (or, with no line, a whole file) of the PR's diff."""

    path: str
    # The diff line it is on; None when the comment is on the file or its line is outdated.
    line: int | None = None
    body: str

    def located(self) -> str:
        """`path:line: body`, as the follow-up prompt lists it."""
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.body}"


class ReviewCommentsInput(BaseModel):
    ref: PullRequestRef
    review_id: int


class ReviewCommentsResult(BaseModel):
    review_id: int
    comments: list[ReviewComment] = Field(default_factory=list)


MergeMethod = Literal["merge", "squash", "rebase"]


class UpdateBranchInput(BaseModel):
    ref: PullRequestRef
    # The head the caller saw: GitHub refuses the update if the branch has moved since (`HeadChanged`).
    expected_head_sha: str


class UpdateBranchResult(BaseModel):
    # False: the branch already had every commit of its base (GitHub's 422 "There are no new commits on the base branch").
    updated: bool
    message: str


class MergeInput(BaseModel):
    ref: PullRequestRef
    # The head that was judged green: GitHub refuses the merge if the branch has moved since (`HeadChanged`).
    sha: str
    method: MergeMethod = "merge"
    title: str | None = None


class MergeResult(BaseModel):
    # The commit the merge made on the base branch.
    sha: str
    merged: bool
    message: str


class CommitSummary(BaseModel):
    sha: str
    # Cut to COMMIT_MESSAGE_CHARS.
    message: str


class ChangedFile(BaseModel):
    filename: str
    status: str  # added | removed | modified | renamed | copied | changed | unchanged


class Comparison(BaseModel):
    """`GET /repos/{owner}/{repo}/compare/{base}...{head}`: what head has that base lacks, bounded."""

    status: Literal["diverged", "ahead", "behind", "identical"]
    ahead_by: int
    behind_by: int
    # Head's commits since the merge base, oldest first: the newest COMPARE_COMMITS of `total_commits`.
    commits: list[CommitSummary] = Field(default_factory=list)
    total_commits: int = 0
    # The files head changed since the merge base, the first COMPARE_FILES of `total_files` (GitHub lists 300 at most).
    files: list[ChangedFile] = Field(default_factory=list)
    total_files: int = 0


class CompareWithBaseInput(BaseModel):
    ref: PullRequestRef
    base_ref: str
    head_sha: str


class BaseComparison(BaseModel):
    """Where a PR's head stands against its base branch, and what landed on the base since the PR branched."""

    base_ref: str
    head_sha: str
    status: Literal["diverged", "ahead", "behind", "identical"]
    ahead_by: int
    behind_by: int
    # The base's commits since the merge base, oldest first (the newest COMPARE_COMMITS of `base_commits_total`).
    base_commits: list[CommitSummary] = Field(default_factory=list)
    base_commits_total: int = 0
    # Files changed both on the base since the merge base and on the PR: where conflicts are, if there are any.
    files_changed_on_both_sides: list[str] = Field(default_factory=list)
