"""Per-task fault vocabulary: the `scenario` object in a run's metadata.

    {"scenario": {"fail_attempts": 1, "checks": {"fail_until_followup": 1},
                  "review": "changes_requested_then_approve", "outcome": "merge",
                  "delays": {"run_seconds": 0.2}}}

- `fail_attempts: N`     runs of task attempts 1..N end `failure_status` (default FAILED).
- `no_pr_attempts: N`    runs of task attempts 1..N end COMPLETE without a PR.
- `checks`               "pass" (default) | "fail" | {"fail_until_followup": K}: checks fail until
                         K resumes have pushed new commits ("fail_until_followup" alone means K=1).
- `check_names`          the checks each commit gets (default ["build", "test"]).
- `check_output_chars: N`  each completed check's output summary and text are N characters long
                         (GitHub allows up to 65,535 each): CI that writes whole logs.
- `check_events_without_pull_requests: true`  check webhooks carry `pull_requests: []` (fork PRs).
- `review`               null (default: no review) | "approve" | "changes_requested_then_approve"
                         (changes requested on the first commit, approval on any later one).
- `outcome`              "merge" (default: once checks pass and the review, if any, approves)
                         | "close" (closed unmerged once checks finish) | "leave_open".
- `drop_create_response: true`  the create takes effect but its response is a 500, once per attempt.
- `resume_pushes: false` a resume does not push a commit (default true).
- `status_spelling`      "upper" (COMPLETE, FAILED) | "lower" (completed, failed); default FAKE_STATUS_SPELLING.
- `intermediate_statuses: true`  a new run says PENDING, then EVALUATION, before ACTIVE.
- `pause`                "once": the run stops PAUSED before opening its PR; a resume makes it go on
                         | "again": after that resume it pauses once more, a second resume finishes it
                         | "stays": resumes are accepted and it stays PAUSED.
- `autofix: true`        Codegen's checks auto-fixer: once the PR's checks fail, a new run (source_type
                         GITHUB_CHECK_SUITE, ACTIVE, with the PR) appears by itself, pushes a commit whose
                         checks pass, and completes. Not after remove-from-pr.
- `base_moves`           "behind" | "conflicting": right after the PR opens, a commit lands on its base branch
                         (a signed `push` webhook); the PR is then behind it, or also in conflict with it.
- `conflicts_with_merges: true`  every PR merged into its base through the API while it is open conflicts with it.
- `push_before_merge: true`  a person pushes to the PR's branch just as the first `PUT .../merge` arrives (a
                         synchronize webhook, new checks that pass per the scenario): that merge, asked for the
                         head before the push, is refused 409 "Head branch was modified"; later ones go as usual.
- `branch_protection`    {"required_approvals": N, "require_up_to_date": bool, "required_checks": [names]}:
                         the merge endpoint refuses (405) what these rules refuse, and `mergeable_state` says
                         `blocked`, `behind` or `unstable` as GitHub does.
- `merge_queue: true`    the base requires a merge queue: the merge endpoint answers 405.
- `write_forbidden: true`  the token may read but not write: merge and update-branch answer 403.
- `delays`               {"run_seconds", "checks_seconds", "review_seconds", "merge_seconds",
                          "resume_lag_seconds" (a resumed PAUSED run still says PAUSED this long)}.

Unknown keys are refused with a 422 naming them, so a typo cannot silently mean "happy path".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioDelays(_Strict):
    run_seconds: float | None = Field(default=None, ge=0)
    checks_seconds: float | None = Field(default=None, ge=0)
    review_seconds: float | None = Field(default=None, ge=0)
    merge_seconds: float | None = Field(default=None, ge=0)
    resume_lag_seconds: float | None = Field(default=None, ge=0)


class BranchProtection(_Strict):
    """The base branch's protection rules, as far as merging is concerned."""

    required_approvals: int = Field(default=0, ge=0)
    # "Require branches to be up to date before merging".
    require_up_to_date: bool = False
    required_checks: list[str] = Field(default_factory=list)


class FailUntilFollowup(_Strict):
    fail_until_followup: int = Field(ge=0)


class Scenario(_Strict):
    fail_attempts: int = Field(default=0, ge=0)
    failure_status: str = "FAILED"
    no_pr_attempts: int = Field(default=0, ge=0)
    checks: Literal["pass", "fail"] | FailUntilFollowup = "pass"
    check_names: list[str] = Field(default_factory=lambda: ["build", "test"], min_length=1)
    check_output_chars: int | None = Field(default=None, ge=1, le=65_535)
    check_events_without_pull_requests: bool = False
    review: Literal["approve", "changes_requested_then_approve"] | None = None
    outcome: Literal["merge", "close", "leave_open"] = "merge"
    drop_create_response: bool = False
    resume_pushes: bool = True
    status_spelling: Literal["upper", "lower"] | None = None
    intermediate_statuses: bool | None = None
    pause: Literal["once", "again", "stays"] | None = None
    autofix: bool = False
    base_moves: Literal["behind", "conflicting"] | None = None
    conflicts_with_merges: bool = False
    push_before_merge: bool = False
    branch_protection: BranchProtection | None = None
    merge_queue: bool = False
    write_forbidden: bool = False
    delays: ScenarioDelays = Field(default_factory=ScenarioDelays)

    @field_validator("checks", mode="before")
    @classmethod
    def _bare_followup(cls, value: Any) -> Any:
        return {"fail_until_followup": 1} if value == "fail_until_followup" else value

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> Scenario:
        """The scenario of a run; a run without one follows the happy path."""
        return cls.model_validate((metadata or {}).get("scenario") or {})

    @property
    def pauses(self) -> int:
        """How many times a run pauses before opening its PR ("stays": the first pause never ends)."""
        return {"once": 1, "again": 2, "stays": 1}.get(self.pause or "", 0)

    def checks_pass(self, followups_pushed: int) -> bool:
        """Whether the checks of a commit pass, given how many resumes have pushed so far."""
        if self.checks == "pass":
            return True
        if self.checks == "fail":
            return False
        return followups_pushed >= self.checks.fail_until_followup
