"""Sending a failure back to the agent: resume its run with the failing checks' output, the review's comments, or
what landed on the base branch the PR now conflicts with.

`followup_policy` decides when; this module gathers what the agent needs and runs the follow-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow

from workflows import followup_policy as policy
from workflows.agent import AgentTimedOut, find_active_run, resume_run, run_to_end, wait_for_run
from workflows.calls import CallFailed, TaskFinished, call
from workflows.pr_tracking import failing_checks
from workflows.running_task import RunningTask

with workflow.unsafe.imports_passed_through():
    from activities.github import GitHubActivities
    from activities.prompts import PromptActivities
    from models.codegen import AgentRun, ResumeRunInput
    from models.followup import FailingCheck, FollowupKind, FollowupPromptInput
    from models.github import (
        CheckOutput,
        CheckOutputsInput,
        CheckRunsInput,
        CompareWithBaseInput,
        ReviewCommentsInput,
        ReviewState,
    )
    from models.status import AgentRunRecord, RunKind, TaskPhase

# Patch id: workflows that addressed a review before the follow-up read its line comments replay without the read.
REVIEW_COMMENTS_PATCH = "read-review-comments"
# Patch id: workflows that ended when GitHub refused a failing check's output (a 404, say) replay as they ran.
CHECK_OUTPUT_PATCH = "follow-up-without-check-output"
# Patch id: workflows whose follow-ups read every check on the head with its whole output (list_check_runs)
# replay as they ran; newer ones read the failing checks' outputs only, bounded (read_check_outputs).
FAILING_CHECK_OUTPUTS_PATCH = "read-failing-check-outputs"


async def follow_up(task: RunningTask, kind: FollowupKind) -> None:
    """Resume the agent's run with what failed; one at a time, events meanwhile are kept for next round."""
    state, input = task.state, task.input
    pr, number = state.status.pr, state.status.followups + 1
    assert pr is not None and state.pr_run_id is not None
    task.set_phase(TaskPhase.FOLLOWING_UP)
    task.publish()
    if task.one_fixer and await _wait_for_codegens_own_run(task, kind):
        return
    request = FollowupPromptInput(
        task=input.task,
        context=input.context,
        kind=kind,
        pr_url=pr.url,
        head_sha=pr.head_sha,
        previous_followups=state.followup_history,
        max_context_size=input.options.max_context_size,
    )
    _mark_handled(task, kind)
    if kind == "fix_checks":
        request.failing_checks = await _failing_check_details(task)
        subject = ", ".join(c.name for c in request.failing_checks)
    elif kind == "resolve_conflicts":
        await _describe_conflict(task, request)
        subject = f"conflicts with {pr.base_ref}"
    else:
        review = policy.unaddressed_review(state, input.options, task.ignored_bots)
        assert review is not None
        state.handled_reviews.append(policy.review_key(review))
        request.review_body = review.body
        request.review_comments = await _review_comments(task, review)
        subject = f"review by {review.reviewer}"
    state.status.followups = number
    task.note(f"follow-up {number}: {kind.replace('_', ' ')}", subject)
    try:
        prompt = await call(PromptActivities.generate_followup_prompt, request, local=True, start_to_close_timeout=timedelta(seconds=30))
        run = await resume_run(
            task,
            ResumeRunInput(
                run_id=state.pr_run_id,
                prompt=prompt.content,
                task_id=state.status.task_id,
                workflow_id=workflow.info().workflow_id,
                followup=number,
                model=input.options.agent_model,
            )
        )
        result = await _recorded_until_it_ends(task, run, "followup", run_to_end)
    except (CallFailed, TaskFinished, AgentTimedOut) as error:
        # The PR stays open: a failed follow-up spends budget and the task carries on.
        result = f"failed: {error}"
    _done(task, number, f"{kind} for {subject}", result)


async def _wait_for_codegens_own_run(task: RunningTask, kind: FollowupKind) -> bool:
    """One fixer per PR head: when Codegen already has a run on the PR (its checks auto-fixer, a reply to a
    comment), wait for it instead of sending a second agent to push to the same branch. The run counts as
    this follow-up; the loop then judges the head it leaves. False when no such run is at work."""
    state = task.state
    try:
        run = await find_active_run(task)
    except (CallFailed, TaskFinished) as error:
        task.note("could not look for Codegen's own runs on the PR", error.message)
        return False
    if run is None:
        return False
    assert state.status.pr is not None
    number = state.status.followups = state.status.followups + 1
    _mark_handled(task, kind)
    if kind == "address_review":
        review = policy.unaddressed_review(state, task.input.options, task.ignored_bots)
        assert review is not None
        state.handled_reviews.append(policy.review_key(review))
    task.note(f"follow-up {number}: Codegen's own run is on the PR", run.web_url or f"run {run.id}")
    try:
        result = "Codegen's " + await _recorded_until_it_ends(task, run, "codegen", wait_for_run)
    except (CallFailed, TaskFinished, AgentTimedOut) as error:
        result = f"failed: {error}"
    _done(task, number, f"{kind}: left to Codegen's own run", result)
    return True


def _mark_handled(task: RunningTask, kind: FollowupKind) -> None:
    """What this follow-up answers, so no other is sent for it: the head's failing checks, or (merge ladder) its kind on this head."""
    state = task.state
    assert state.status.pr is not None
    if kind == "fix_checks":
        state.followed_shas.append(state.status.pr.head_sha)
    if task.ladder:
        state.followup_heads.append(policy.followup_head(kind, state.status.pr.head_sha))


async def _describe_conflict(task: RunningTask, request: FollowupPromptInput) -> None:
    """The base's commits since the PR branched and the files both sides changed, from GitHub's comparisons; the
    prompt goes without them when GitHub cannot say (the agent can still merge the base in and see)."""
    pr = task.state.status.pr
    assert pr is not None
    request.base_ref = pr.base_ref
    try:
        comparison = await call(
            GitHubActivities.compare_with_base,
            CompareWithBaseInput(ref=pr.ref, base_ref=pr.base_ref, head_sha=pr.head_sha),
            local=True,
            start_to_close_timeout=timedelta(seconds=30),
        )
    except (CallFailed, TaskFinished) as error:
        task.note("comparison with the base unavailable", error.message)
        return
    request.base_commits = comparison.base_commits
    request.base_commits_total = comparison.base_commits_total
    request.conflicting_files = comparison.files_changed_on_both_sides


async def _recorded_until_it_ends(
    task: RunningTask, run: AgentRun, kind: RunKind, wait: Callable[[RunningTask, AgentRun], Awaitable[AgentRun]]
) -> str:
    """The run among the task's runs, its status kept as it ends."""
    record = AgentRunRecord(id=run.id, web_url=run.web_url, status=run.status, attempt=task.state.status.attempt, kind=kind)
    task.state.status.agent_runs.append(record)
    run = await wait(task, run)
    record.status = run.status
    return f"run {run.id} ended {run.status}"


def _done(task: RunningTask, number: int, what: str, result: str) -> None:
    task.state.followup_history.append(f"{what}: {result}")
    task.state.followup_ended_at = workflow.now()
    task.note(f"follow-up {number} done", result)


async def _failing_check_details(task: RunningTask) -> list[FailingCheck]:
    """The failing checks with their output from GitHub, bounded to what the prompt can hold; with the
    summaries their webhooks brought when GitHub cannot say."""
    pr = task.state.status.pr
    assert pr is not None
    failing = failing_checks(task.state)
    outputs: dict[str, CheckOutput] = {}
    try:
        if task.patched(FAILING_CHECK_OUTPUTS_PATCH):
            request = CheckOutputsInput(
                ref=pr.ref, sha=pr.head_sha, names=[check.name for check in failing], max_chars=task.input.options.max_context_size
            )
            result = await call(GitHubActivities.read_check_outputs, request, local=True, start_to_close_timeout=timedelta(seconds=30))
            outputs = {output.name: output for output in result.outputs}
        else:
            runs = await call(
                GitHubActivities.list_check_runs,
                CheckRunsInput(ref=pr.ref, sha=pr.head_sha),
                local=True,
                start_to_close_timeout=timedelta(seconds=30),
            )
            outputs = {run.name: CheckOutput(name=run.name, summary=run.output_summary) for run in runs.checks}
    except (CallFailed, TaskFinished) as error:
        if isinstance(error, TaskFinished) and not task.patched(CHECK_OUTPUT_PATCH):
            raise
        task.note("check output unavailable", error.message)
    return [
        FailingCheck(
            name=check.name,
            conclusion=check.conclusion,
            details_url=check.details_url,
            summary=(outputs[check.name].summary if check.name in outputs else None) or check.summary,
            text=outputs[check.name].text if check.name in outputs else None,
        )
        for check in failing
    ]


async def _review_comments(task: RunningTask, review: ReviewState) -> list[str]:
    """The review's line comments as `path:line: body`; none when GitHub cannot say (the review's body still goes)."""
    if review.id is None or not task.patched(REVIEW_COMMENTS_PATCH):
        return []
    assert task.state.status.pr is not None
    try:
        result = await call(
            GitHubActivities.read_review_comments,
            ReviewCommentsInput(ref=task.state.status.pr.ref, review_id=review.id),
            local=True,
            start_to_close_timeout=timedelta(seconds=30),
        )
    except (CallFailed, TaskFinished) as error:
        task.note("review comments unavailable", error.message)
        return []
    return [comment.located() for comment in result.comments]
