"""CodegenTaskWorkflow: one durable workflow per task, from prompt to merged (or closed) PR.

Activities are called by name so this module never imports httpx or jinja2; the worker
registers the implementations from `activities/`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, TimeoutError, is_cancelled_exception

from models import names
from models.names import OUTCOMES_METRIC, SIGNAL_CHECK_RESULT, SIGNAL_PR_EVENT, SIGNAL_REVIEW, WORKFLOW_ID_PREFIX, WORKFLOW_NAME
from models.codegen import AgentRun, PullRequestRef, ResumeRunInput, RunState, StartRunInput, WaitRunInput, codegen_api_task_queue
from models.errors import describe_validation_error
from models.followup import FailingCheck, FollowupPromptInput
from models.github import CheckRunInfo, CheckRunsInput, CheckRunsResult, PullRequestRead, ReviewCommentsInput, ReviewCommentsResult
from models.prompt import PromptInput, PromptOptions, PromptResult
from models.signals import CheckResult, PrEvent, Review
from models.status import (
    AgentRunRecord,
    AttemptRecord,
    CarriedState,
    ErrorInfo,
    Reason,
    ReviewState,
    TaskOutcome,
    TaskPhase,
    TaskStatus,
    TimelineEntry,
    Timings,
)
from models.task import WorkflowInput
from workflows.calls import CallFailed, TaskFinished, call
from workflows.pr_tracking import PullRequestTracker, pr_state_from

# Starting or resuming an agent heartbeats once it takes a while: a worker dying mid-call is noticed
# after this long, not after the minute the call may take.
AGENT_CALL_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# Between rounds of reading a new PR while GitHub does not answer (each round is LOCAL_RETRY's attempts).
OPENED_PR_READ_PAUSE = timedelta(minutes=1)
OPENED_PR_READ_MAX_PAUSE = timedelta(minutes=30)
MOCK_RECONCILE_INTERVAL = timedelta(seconds=3)
MOCK_RECONCILE_MAX_INTERVAL = timedelta(seconds=15)
REAL_RECONCILE_INTERVAL = timedelta(minutes=10)
REAL_FOLLOWUP_SETTLE = timedelta(seconds=60)
MOCK_FOLLOWUP_SETTLE = timedelta(seconds=2)
TIMELINE_LIMIT = 200
SEEN_DELIVERIES_LIMIT = 2000
EARLY_EVENTS_LIMIT = 200
# Patch id: workflows that addressed a review before the follow-up read its line comments replay without the read.
REVIEW_COMMENTS_PATCH = "read-review-comments"
# Patch id: workflows that ended when GitHub refused a failing check's output (a 404, say) replay as they ran.
CHECK_OUTPUT_PATCH = "follow-up-without-check-output"


@workflow.defn(name=WORKFLOW_NAME)
class CodegenTaskWorkflow:
    @workflow.init
    def __init__(self, raw_input: Any) -> None:
        self._input: WorkflowInput | None = None
        self._input_errors: list[str] = []
        try:
            self._input = WorkflowInput.model_validate(raw_input)
        except ValidationError as error:
            self._input_errors = describe_validation_error(error)
        self._retry_requested = False
        self._changed = False
        self._seen: dict[str, None] = {}  # ordered set of delivery ids
        self._tracker: PullRequestTracker | None = None
        self._prompt_s = 0.0
        self._agent_s = 0.0
        self._pr_opened_at: datetime | None = None
        self._pr_run_id: int | None = None
        self._followed_shas: list[str] = []
        self._handled_reviews: list[str] = []
        self._followup_history: list[str] = []
        self._followup_ended_at: datetime | None = None
        # What visibility already holds (the starter sets the task's attributes when it starts the workflow).
        self._published = {pair.key.name: pair.value for pair in workflow.info().typed_search_attributes}
        self._early_events: list[PrEvent | CheckResult | Review] = []
        self._status = self._initial_status()
        if self._input and self._input.carried_state:
            # Before any handler runs: signals in this run's first activation need the tracker.
            self._resume_from(CarriedState.model_validate(self._input.carried_state))

    # ---- entry point -------------------------------------------------------------------------

    @workflow.run
    async def run(self, raw_input: Any) -> TaskOutcome:
        if self._input is None:
            raise ApplicationError(
                "Invalid task input: " + "; ".join(self._input_errors),
                self._input_errors,
                type="InvalidInput",
                non_retryable=True,
            )
        if not self._input.carried_state:
            self._note("submitted", self._input.task.title)
        try:
            if self._tracker is None:
                await self._obtain_pull_request()
            await self._follow_pull_request()
            pr_status = self._tracker.pr.status
            reason = Reason.MERGED if pr_status == "merged" else Reason.CLOSED_UNMERGED
            outcome = self._finish(TaskPhase(pr_status), reason, f"PR {pr_status}")
        except TaskFinished as finished:
            phase = TaskPhase.EXPIRED if finished.reason is Reason.EXPIRED else TaskPhase.FAILED
            outcome = self._finish(phase, finished.reason, finished.message)
        except (asyncio.CancelledError, FailureError) as error:
            if not is_cancelled_exception(error):
                raise
            outcome = self._finish(TaskPhase.FAILED, Reason.CANCELLED, "the workflow was cancelled")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    # ---- messages ----------------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> TaskStatus:
        return self._snapshot()

    @workflow.signal(name=SIGNAL_PR_EVENT)
    def pr_event(self, event: PrEvent) -> None:
        self._receive(event)

    @workflow.signal(name=SIGNAL_CHECK_RESULT)
    def check_result(self, result: CheckResult) -> None:
        self._receive(result)

    @workflow.signal(name=SIGNAL_REVIEW)
    def review(self, review: Review) -> None:
        self._receive(review)

    @workflow.update(name="retry")
    def retry(self) -> str:
        self._retry_requested = True
        return f"retrying {self._status.task_id}: {self._input.options.max_attempts} more attempts"

    @retry.validator
    def _validate_retry(self) -> None:
        if self._status.phase is not TaskPhase.AWAITING_RETRY:
            raise ValueError(
                f"task {self._status.task_id} is {self._status.phase.value}, not awaiting_retry: "
                "retry applies only after every attempt has failed"
            )

    # ---- getting a PR ------------------------------------------------------------------------

    async def _obtain_pull_request(self) -> None:
        """Attempts until one opens a PR; when they run out, wait for a `retry` update."""
        options = self._input.options
        while True:
            last_failure = await self._run_attempts(options.max_attempts)
            if last_failure is None:
                return
            self._set_phase(TaskPhase.AWAITING_RETRY, codegen_status="failed")
            self._status.error = ErrorInfo(reason=last_failure.reason, message=last_failure.message)
            self._note("awaiting retry", f"all attempts failed; send the retry update within {options.retry_window}")
            self._publish()
            self._retry_requested = False
            if not await self._wait(lambda: self._retry_requested, options.retry_window):
                raise TaskFinished(
                    last_failure.reason, f"no retry within {options.retry_window}; last failure: {last_failure.message}"
                )
            self._status.error = None
            self._note("retry requested")

    async def _run_attempts(self, budget: int) -> TaskFinished | None:
        """Up to `budget` attempts; None once a PR is open, else the last failure."""
        options = self._input.options
        last_failure: TaskFinished | None = None
        for index in range(budget):
            if index:
                pause = options.attempt_backoff * (2 ** (index - 1))
                self._set_phase(TaskPhase.RETRYING, codegen_status="retrying")
                self._note("backing off", f"next attempt in {pause}")
                self._publish()
                await workflow.sleep(pause)
            failure = await self._attempt()
            if failure is None:
                return None
            last_failure = failure
        return last_failure

    async def _attempt(self) -> TaskFinished | None:
        number = self._status.attempt + 1
        self._status.attempt = number
        record = AttemptRecord(number=number, started_at=workflow.now())
        self._status.attempts.append(record)
        try:
            return await self._attempt_steps(record)
        except CallFailed as failed:
            # Retries ran out (service down for longer than CALL_BUDGET): a failed attempt, not a lost task.
            return self._attempt_failed(record, "failed", Reason.SERVICE_UNAVAILABLE, failed.message)

    async def _attempt_steps(self, record: AttemptRecord) -> TaskFinished | None:
        task, options = self._input.task, self._input.options
        number = record.number
        # Not published: rendering takes milliseconds, and each upsert is a visibility write.
        self._set_phase(TaskPhase.GENERATING_PROMPT, codegen_status="pending")
        began = workflow.now()
        prompt = await call(
            "generate_prompt",
            PromptInput(
                task=task,
                context=self._input.context,
                options=PromptOptions(
                    max_context_size=options.max_context_size,
                    include_code_examples=options.include_code_examples,
                    enhance_with_best_practices=options.enhance_with_best_practices,
                ),
                previous_failures=[a.error for a in self._status.attempts if a.error],
            ),
            PromptResult,
            local=True,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self._prompt_s += (workflow.now() - began).total_seconds()

        self._set_phase(TaskPhase.PROCESSING, codegen_status="processing")
        self._publish()
        run = await call(
            "start_agent_run",
            StartRunInput(
                task_id=self._status.task_id,
                workflow_id=workflow.info().workflow_id,
                attempt=number,
                prompt=prompt.content,
                repository=self._input.context.repository,
                metadata=_scenario_metadata(task.metadata),
            ),
            AgentRun,
            task_queue=codegen_api_task_queue(workflow.info().task_queue),
            start_to_close_timeout=timedelta(minutes=1),
            schedule_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=AGENT_CALL_HEARTBEAT_TIMEOUT,
        )
        self._status.mock_mode = run.mock_mode
        record.agent_run_id = run.id
        self._status.agent_runs.append(AgentRunRecord(id=run.id, web_url=run.web_url, status=run.status, attempt=number))
        self._note("agent run started", run.web_url or f"run {run.id}")
        self._publish()

        try:
            run = await self._wait_for_run(run.id)
        except CallFailed as failed:
            if not isinstance(failed.cause, TimeoutError):
                raise
            return self._attempt_failed(record, "timed_out", Reason.AGENT_TIMEOUT, f"agent run {run.id} did not finish within {options.agent_timeout}")
        self._status.agent_runs[-1].status = run.status

        if run.state is RunState.FAILED:
            detail = run.result or run.summary or "no detail given"
            return self._attempt_failed(record, "failed", Reason.CODEGEN_FAILED, f"agent run {run.id} ended {run.status}: {detail}")
        opened = next((pr.ref for pr in run.pull_requests if pr.ref), None)
        if opened is None:
            return self._attempt_failed(record, "no_pr", Reason.NO_PR, f"agent run {run.id} completed without opening a pull request")

        record.outcome, record.finished_at = "pr_opened", workflow.now()
        read = await self._read_opened_pull_request(opened)
        self._pr_opened_at = workflow.now()
        self._pr_run_id = run.id
        self._tracker = PullRequestTracker(pr_state_from(read.pr), [], [])
        # Only now: a status that says tracking_pr always has its PR.
        self._set_phase(TaskPhase.TRACKING_PR, codegen_status="completed")
        self._note("pull request opened", read.pr.html_url)
        for change in self._tracker.apply_github_read(read):
            self._record(change)
        for event in self._early_events:
            self._apply(event)
        self._early_events = []
        return None

    async def _read_opened_pull_request(self, ref: PullRequestRef) -> PullRequestRead:
        """The agent's new PR, read until GitHub answers or pr_timeout passes: failing the attempt on a
        GitHub outage would start a second agent, and a second PR."""
        deadline = workflow.now() + self._input.options.pr_timeout
        pause = OPENED_PR_READ_PAUSE
        while True:
            try:
                return await self._read_pull_request(ref)
            except CallFailed as failed:
                if workflow.now() + pause >= deadline:
                    raise TaskFinished(Reason.SERVICE_UNAVAILABLE, f"GitHub did not answer for {ref.key} within {self._input.options.pr_timeout}: {failed.message}") from failed
                self._note("PR read failed; retrying", failed.message)
                await workflow.sleep(pause)
                pause = min(pause * 2, OPENED_PR_READ_MAX_PAUSE)

    async def _wait_for_run(self, run_id: int) -> AgentRun:
        """Until the run ends; CallFailed with a TimeoutError cause means agent_timeout passed."""
        timeout = self._input.options.agent_timeout
        poll = 1.0 if self._status.mock_mode else 15.0
        began = workflow.now()
        try:
            return await call(
                "wait_for_agent_run",
                WaitRunInput(run_id=run_id, poll_interval_seconds=poll),
                AgentRun,
                start_to_close_timeout=timeout,
                schedule_to_close_timeout=timeout,
                heartbeat_timeout=timedelta(seconds=poll * 4 + 30),
            )
        finally:
            self._agent_s += (workflow.now() - began).total_seconds()

    def _attempt_failed(self, record: AttemptRecord, outcome: str, reason: Reason, message: str) -> TaskFinished:
        record.outcome, record.finished_at, record.error = outcome, workflow.now(), message
        self._status.error = ErrorInfo(reason=reason, message=message)
        self._note(f"attempt {record.number} {outcome.replace('_', ' ')}", message)
        return TaskFinished(reason, message)

    # ---- following the PR --------------------------------------------------------------------

    async def _follow_pull_request(self) -> None:
        """Until merged or closed: apply signals as they come, send failures back to the agent, read GitHub when quiet."""
        options = self._input.options
        mock_defaults = self._status.mock_mode
        base = options.reconcile_interval or (MOCK_RECONCILE_INTERVAL if mock_defaults else REAL_RECONCILE_INTERVAL)
        ceiling = MOCK_RECONCILE_MAX_INTERVAL if mock_defaults and options.reconcile_interval is None else options.reconcile_max_interval
        settle = options.followup_settle or (MOCK_FOLLOWUP_SETTLE if mock_defaults else REAL_FOLLOWUP_SETTLE)
        deadline = self._pr_opened_at + options.pr_timeout
        interval = base
        next_read: asyncio.Future[None] | None = None
        while not self._tracker.finished:
            if self._status.iterations_to_green is None and self._tracker.verdict() == "passing":
                self._status.iterations_to_green = self._status.followups
            due = self._due_followup()
            if due is None and self._awaiting_agent_push(settle):
                # The follow-up's commit usually lands right after its run ends: give it the settle window.
                self._changed = False
                await self._wait(lambda: self._changed, settle)
                continue
            self._show_attention(due)
            self._publish()
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                raise TaskFinished(Reason.EXPIRED, f"the PR was neither merged nor closed within {options.pr_timeout}")
            self._changed = False
            if due == "fix_checks":
                # Late checks may still arrive; any change means judging again.
                if not await self._wait(lambda: self._changed, min(settle, remaining)):
                    await self._follow_up(due)
                continue
            if due == "address_review":
                await self._follow_up(due)
                continue
            if next_read is None:
                # One timer per read, kept while signals come and go (restarting it on each signal
                # cost two timer commands per webhook): webhooks flowing make reads less needed, not more.
                next_read = asyncio.ensure_future(workflow.sleep(min(interval, remaining)))
            await workflow.wait_condition(lambda timer=next_read: self._changed or timer.done())
            if self._changed:
                interval = base
                continue
            next_read = None
            if workflow.now() >= deadline:
                continue
            interval = base if await self._reconcile() else min(interval * 2, ceiling)

    # ---- follow-ups --------------------------------------------------------------------------

    def _unaddressed_review(self) -> ReviewState | None:
        ignored = {*self._input.options.ignored_reviewers, self._tracker.pr.author}
        for review in self._tracker.reviews:
            if review.state == "changes_requested" and review.reviewer not in ignored and _review_key(review) not in self._handled_reviews:
                return review
        return None

    def _awaiting_agent_push(self, settle: timedelta) -> bool:
        ended = self._followup_ended_at
        return ended is not None and self._tracker.pr.head_sha in self._followed_shas and workflow.now() - ended < settle

    def _due_followup(self) -> str | None:
        """What the agent should be asked to fix next, if the budget allows."""
        if self._status.followups >= self._input.options.max_followups:
            return None
        tracker = self._tracker
        if tracker.checks_settled() and tracker.failing_checks() and tracker.pr.head_sha not in self._followed_shas:
            return "fix_checks"
        return "address_review" if self._unaddressed_review() else None

    def _show_attention(self, due: str | None) -> None:
        """needs_attention when failures remain that no follow-up will handle: a person must act."""
        failing = self._tracker.failing_checks() if self._tracker.checks_settled() else []
        review = self._unaddressed_review()
        spent = f"after {self._status.followups} follow-up(s)"
        if due is None and failing:
            failing_names = ", ".join(c.name for c in failing)
            self._status.error = ErrorInfo(reason=Reason.CHECKS_FAILING, message=f"checks failing {spent}: {failing_names}")
        elif due is None and review:
            self._status.error = ErrorInfo(reason=Reason.CHANGES_REQUESTED, message=f"changes requested by {review.reviewer} {spent}")
        else:
            self._status.error = None
            self._set_phase(TaskPhase.TRACKING_PR)
            return
        if self._status.phase is not TaskPhase.NEEDS_ATTENTION:
            self._note("needs attention", self._status.error.message)
        self._set_phase(TaskPhase.NEEDS_ATTENTION)

    async def _follow_up(self, kind: str) -> None:
        """Resume the agent's run with what failed; one at a time, events meanwhile are kept for next round."""
        tracker, number = self._tracker, self._status.followups + 1
        self._set_phase(TaskPhase.FOLLOWING_UP)
        self._publish()
        request = FollowupPromptInput(
            task=self._input.task,
            context=self._input.context,
            kind=kind,
            pr_url=tracker.pr.url,
            head_sha=tracker.pr.head_sha,
            previous_followups=self._followup_history,
            max_context_size=self._input.options.max_context_size,
        )
        if kind == "fix_checks":
            self._followed_shas.append(tracker.pr.head_sha)
            request.failing_checks = await self._failing_check_details()
            subject = ", ".join(c.name for c in request.failing_checks)
        else:
            review = self._unaddressed_review()
            self._handled_reviews.append(_review_key(review))
            request.review_body = review.body
            request.review_comments = await self._review_comments(review)
            subject = f"review by {review.reviewer}"
        self._status.followups = number
        self._note(f"follow-up {number}: {kind.replace('_', ' ')}", subject)
        try:
            prompt = await call("generate_followup_prompt", request, PromptResult, local=True, start_to_close_timeout=timedelta(seconds=30))
            run = await call(
                "resume_agent_run",
                ResumeRunInput(run_id=self._pr_run_id, prompt=prompt.content, task_id=self._status.task_id, workflow_id=workflow.info().workflow_id, followup=number),
                AgentRun,
                task_queue=codegen_api_task_queue(workflow.info().task_queue),
                start_to_close_timeout=timedelta(minutes=1),
                schedule_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=AGENT_CALL_HEARTBEAT_TIMEOUT,
            )
            self._status.agent_runs.append(AgentRunRecord(id=run.id, web_url=run.web_url, status=run.status, attempt=self._status.attempt, kind="followup"))
            run = await self._wait_for_run(run.id)
            self._status.agent_runs[-1].status = run.status
            result = f"run {run.id} ended {run.status}"
        except (CallFailed, TaskFinished) as error:
            # The PR stays open: a failed follow-up spends budget and the task carries on.
            result = f"failed: {error.message}"
        self._followup_history.append(f"{kind} for {subject}: {result}")
        self._followup_ended_at = workflow.now()
        self._note(f"follow-up {number} done", result)

    async def _failing_check_details(self) -> list[FailingCheck]:
        """The failing checks with their output text from GitHub (the prompt bounds its size); with the
        summaries their webhooks brought when GitHub cannot say."""
        failing = self._tracker.failing_checks()
        details: dict[str, CheckRunInfo] = {}
        try:
            runs = await call(
                "list_check_runs",
                CheckRunsInput(ref=self._tracker.pr.ref, sha=self._tracker.pr.head_sha),
                CheckRunsResult,
                local=True,
                start_to_close_timeout=timedelta(seconds=30),
            )
            details = {run.name: run for run in runs.checks}
        except (CallFailed, TaskFinished) as error:
            if isinstance(error, TaskFinished) and not workflow.patched(CHECK_OUTPUT_PATCH):
                raise
            self._note("check output unavailable", error.message)
        return [
            FailingCheck(
                name=check.name,
                conclusion=check.conclusion,
                details_url=check.details_url,
                summary=(details[check.name].output_summary if check.name in details else None) or check.summary,
                text=details[check.name].output_text if check.name in details else None,
            )
            for check in failing
        ]

    async def _review_comments(self, review: ReviewState) -> list[str]:
        """The review's line comments as `path:line: body`; none when GitHub cannot say (the review's body still goes)."""
        if review.id is None or not workflow.patched(REVIEW_COMMENTS_PATCH):
            return []
        try:
            result = await call(
                "read_review_comments",
                ReviewCommentsInput(ref=self._tracker.pr.ref, review_id=review.id),
                ReviewCommentsResult,
                local=True,
                start_to_close_timeout=timedelta(seconds=30),
            )
        except (CallFailed, TaskFinished) as error:
            self._note("review comments unavailable", error.message)
            return []
        return [comment.located() for comment in result.comments]

    async def _reconcile(self) -> bool:
        """The safety net for lost webhooks: read the PR and its checks; True if anything changed."""
        try:
            read = await self._read_pull_request(self._tracker.pr.ref)
        except CallFailed as failed:
            # GitHub unreachable for a while: webhooks may still arrive; try again next round.
            self._note("reconcile failed", failed.message)
            return False
        changes = self._tracker.apply_github_read(read)
        for change in changes:
            self._record(change)
        return bool(changes)

    async def _read_pull_request(self, ref: PullRequestRef) -> PullRequestRead:
        return await call("read_pull_request", ref, PullRequestRead, local=True, start_to_close_timeout=timedelta(seconds=30))

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = CarriedState(
            status=self._snapshot(),
            all_checks=self._tracker.checks,
            seen_deliveries=list(self._seen),
            pr_opened_at=self._pr_opened_at,
            prompt_s=self._prompt_s,
            agent_s=self._agent_s,
            pr_run_id=self._pr_run_id,
            followed_shas=self._followed_shas[-50:],
            handled_reviews=self._handled_reviews[-50:],
            followup_history=self._followup_history,
        )
        next_input = self._input.model_copy(update={"carried_state": carried.model_dump(mode="json")})
        workflow.continue_as_new(next_input.model_dump(mode="json"))

    def _resume_from(self, carried: CarriedState) -> None:
        self._status = carried.status
        self._seen = dict.fromkeys(carried.seen_deliveries)
        self._pr_opened_at = carried.pr_opened_at
        self._prompt_s, self._agent_s = carried.prompt_s, carried.agent_s
        self._pr_run_id = carried.pr_run_id
        self._followed_shas = carried.followed_shas
        self._handled_reviews = carried.handled_reviews
        self._followup_history = carried.followup_history
        if carried.status.pr:
            self._tracker = PullRequestTracker(carried.status.pr, carried.all_checks, carried.status.reviews)
        self._note("continued as new")

    # ---- bookkeeping -------------------------------------------------------------------------

    def _initial_status(self) -> TaskStatus:
        info = workflow.info()
        task = self._input.task if self._input else None
        task_id = (task.id if task and task.id else None) or info.workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
        return TaskStatus(
            task_id=task_id,
            workflow_id=info.workflow_id,
            title=task.title if task else "(invalid input)",
            task_type=task.type.value if task else "",
            phase=TaskPhase.PENDING,
            codegen_status="pending",
            attempt=0,
            max_attempts=self._input.options.max_attempts if self._input else 0,
            started_at=workflow.now(),
        )

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def _receive(self, event: PrEvent | CheckResult | Review) -> None:
        if not self._first_delivery(event.delivery_id):
            return
        if self._tracker is None:
            # Webhooks can beat the workflow to its own PR (routed by the Task-ID line): keep them.
            self._early_events = [*self._early_events, event][-EARLY_EVENTS_LIMIT:]
            return
        self._apply(event)

    def _apply(self, event: PrEvent | CheckResult | Review) -> None:
        if isinstance(event, PrEvent):
            self._record(self._tracker.apply_pr_event(event))
        elif isinstance(event, CheckResult):
            self._record(self._tracker.apply_check(event))
        else:
            self._record(self._tracker.apply_review(event))

    def _first_delivery(self, delivery_id: str) -> bool:
        if delivery_id in self._seen:
            return False
        self._seen[delivery_id] = None
        while len(self._seen) > SEEN_DELIVERIES_LIMIT:
            del self._seen[next(iter(self._seen))]
        return True

    def _record(self, change: str | None) -> None:
        if change:
            self._changed = True
            self._note(change)

    def _note(self, event: str, detail: str = "") -> None:
        self._status.timeline.append(TimelineEntry(at=workflow.now(), event=event, detail=detail))
        del self._status.timeline[:-TIMELINE_LIMIT]

    def _set_phase(self, phase: TaskPhase, codegen_status: str | None = None) -> None:
        self._status.phase = phase
        if codegen_status:
            self._status.codegen_status = codegen_status

    def _snapshot(self) -> TaskStatus:
        status = self._status.model_copy()
        if self._tracker:
            status.pr = self._tracker.pr
            status.checks = self._tracker.current_checks()
            status.verdict = self._tracker.verdict()
            status.reviews = self._tracker.reviews
        return status

    def _publish(self) -> None:
        """Search attributes (only those that changed) and the Web UI's current details."""
        status = self._snapshot()
        wanted = {names.TASK_ID: status.task_id, names.TASK_TYPE: status.task_type, names.TASK_PHASE: status.phase.value}
        if self._input.context.repository:
            wanted[names.REPOSITORY] = self._input.context.repository
        if status.pr:
            wanted |= {
                names.PR_KEY: status.pr.ref.key,
                names.PR_HEAD_SHA: status.pr.head_sha,
                names.PR_STATUS: status.pr.status,
                names.REPOSITORY: status.pr.ref.repository,
            }
        updates = [key.value_set(value) for key, value in wanted.items() if self._published.get(key.name) != value]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published |= {key.name: value for key, value in wanted.items()}
        workflow.set_current_details(_details_markdown(status))

    def _finish(self, phase: TaskPhase, reason: Reason, message: str) -> TaskOutcome:
        self._set_phase(phase, codegen_status="failed" if phase is TaskPhase.FAILED and not self._tracker else None)
        if phase is not TaskPhase.MERGED and reason is not Reason.CLOSED_UNMERGED:
            self._status.error = ErrorInfo(reason=reason, message=message)
        self._note(f"finished: {phase.value}", message)
        self._publish()
        # For dashboards and alerts (success rate, failures by reason); the SDK skips it on replay.
        workflow.metric_meter().create_counter(OUTCOMES_METRIC, "task workflows ended, by outcome and reason").add(
            1, {"status": phase.value, "reason": reason.value}
        )
        status = self._snapshot()
        now = workflow.now()
        opened = self._pr_opened_at
        return TaskOutcome(
            task_id=status.task_id,
            workflow_id=status.workflow_id,
            status=phase.value,
            reason=reason,
            message=message,
            pr=status.pr,
            agent_runs=status.agent_runs,
            attempts=status.attempts,
            checks=status.checks,
            reviews=status.reviews,
            followups=status.followups,
            iterations_to_green=status.iterations_to_green,
            timings=Timings(
                prompt_s=round(self._prompt_s, 3),
                agent_s=round(self._agent_s, 3),
                time_to_pr_s=(opened - status.started_at).total_seconds() if opened else None,
                time_to_merge_s=(now - opened).total_seconds() if opened and phase is TaskPhase.MERGED else None,
                total_s=(now - status.started_at).total_seconds(),
            ),
            mock_mode=status.mock_mode,
        )


def _review_key(review: ReviewState) -> str:
    return f"{review.reviewer}@{review.submitted_at.isoformat() if review.submitted_at else review.body}"


def _scenario_metadata(task_metadata: dict[str, Any]) -> dict[str, Any]:
    """Only the fake reads `scenario` (fault injection per task); the real API just stores it."""
    return {"scenario": task_metadata["scenario"]} if "scenario" in task_metadata else {}


def _details_markdown(status: TaskStatus) -> str:
    lines = [f"**Phase:** {status.phase.value} · attempt {status.attempt}/{status.max_attempts}"]
    if status.agent_runs:
        run = status.agent_runs[-1]
        lines.append(f"**Agent run:** [{run.id}]({run.web_url}) {run.status}" if run.web_url else f"**Agent run:** {run.id} {run.status}")
    if status.pr:
        lines.append(f"**PR:** [{status.pr.ref.key}]({status.pr.url}) {status.pr.status} · checks {status.verdict}")
    if status.checks:
        lines += ["", "| check | result |", "|---|---|"]
        lines += [f"| {c.name} | {c.conclusion or c.status} |" for c in status.checks]
    if status.error:
        lines.append(f"**Error:** {status.error.reason.value}: {status.error.message}")
    return "\n".join(lines)
