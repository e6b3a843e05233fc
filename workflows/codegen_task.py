"""CodegenTaskWorkflow: one durable workflow per task, from prompt to merged (or closed) PR.

The process reads top to bottom in `run`: get a PR (`attempts`), follow it until it ends
(`pr_following`, which sends follow-ups through `followups` when `followup_policy` says so), and
report the outcome (`presentation`). The whole state is one `TaskState`; the PR rules are in `pr_tracking`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError, is_cancelled_exception

from workflows import pr_tracking
from workflows.agent import stop_agents_on_pr
from workflows.attempts import obtain_pull_request
from workflows.calls import CallFailed, TaskFinished
from workflows.graph_membership import tell_graph
from workflows.pr_following import follow_pull_request
from workflows.presentation import initial_status, task_outcome
from workflows.running_task import RunningTask
from workflows.slot_holding import release_repository_slot, slot_granted

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.codegen import AgentRunNews
    from models.errors import describe_validation_error
    from models.github import PullRequestRead
    from models.names import (
        OUTCOMES_METRIC,
        SIGNAL_AGENT_RUN,
        SIGNAL_BASE_PUSHED,
        SIGNAL_CHECK_RESULT,
        SIGNAL_PR_EVENT,
        SIGNAL_REVIEW,
        SIGNAL_SLOT_GRANTED,
        SIGNAL_SLOT_PRIORITY,
        UPDATE_PRIORITY,
        WORKFLOW_NAME,
    )
    from models.signals import BasePush, CheckResult, PrEvent, Review
    from models.slots import SlotPriority
    from models.status import TERMINAL_PHASES, ErrorInfo, Reason, TaskOutcome, TaskPhase, TaskState, TaskStatus
    from models.task import WorkflowInput

# Patch id: workflows cancelled before a cancel stopped Codegen's agents on the PR replay as they ran.
STOP_AGENTS_PATCH = "stop-agents-on-cancel"
# Patch id: workflows whose reviews counted in delivery order (a late or repeated delivery, a comment
# after a change request, all replaced the reviewer's review) replay as they ran.
REVIEWS_IN_ORDER_PATCH = "reviews-in-order"
# Patch id: workflows that ended on a webhook's close without reading GitHub replay as they ran.
CONFIRM_CLOSE_PATCH = "confirm-close-with-github"
# Patch id, asked first thing in every run: workflows that neither read nor acted on mergeability (no conflict
# follow-ups, no branch updates, no merge_when_green, a second follow-up of one kind on one head) replay as they
# ran, and ask for each earlier patch where they did (RunningTask.patched).
MERGE_LADDER_PATCH = "merge-ladder"
SEEN_DELIVERIES_LIMIT = 2000
EARLY_EVENTS_LIMIT = 200


@workflow.defn(name=WORKFLOW_NAME)
class CodegenTaskWorkflow:
    @workflow.init
    def __init__(self, raw_input: Any) -> None:
        input: WorkflowInput | None = None
        self._input_errors: list[str] = []
        try:
            input = WorkflowInput.model_validate(raw_input)
        except ValidationError as error:
            self._input_errors = describe_validation_error(error)
        if input and input.carried_state:
            # Before any handler runs: signals in this run's first activation need the PR.
            self._state = TaskState.model_validate(input.carried_state)
        else:
            self._state = TaskState(status=initial_status(input))
        # None with invalid input: `run` fails at once, and the query still answers from the state.
        self._task = RunningTask(input, self._state) if input else None
        if self._task and self._task.input.carried_state:
            self._task.note("continued as new")

    # ---- the process -------------------------------------------------------------------------

    @workflow.run
    async def run(self, raw_input: Any) -> TaskOutcome:
        if self._task is None:
            raise ApplicationError(
                "Invalid task input: " + "; ".join(self._input_errors),
                self._input_errors,
                type="InvalidInput",
                non_retryable=True,
            )
        task, state = self._task, self._state
        # First, in the run's first workflow task, where replay always asks it at the same point.
        task.ladder = workflow.patched(MERGE_LADDER_PATCH)
        # Before any wait: a continued run's first publish may come only after a follow-up's settle window.
        task.show()
        if not task.input.carried_state:
            task.note("submitted", task.input.task.title)
        try:
            if state.status.pr is None:
                self._start_following(await obtain_pull_request(task))
            await follow_pull_request(task)
            assert state.status.pr is not None
            pr_status = state.status.pr.status
            reason = Reason.MERGED if pr_status == "merged" else Reason.CLOSED_UNMERGED
            if pr_status == "merged":
                state.status.merged_by = state.status.merged_by or "person"
            outcome = self._finish(TaskPhase(pr_status), reason, f"PR {pr_status}")
        except TaskFinished as finished:
            phase = TaskPhase.EXPIRED if finished.reason is Reason.EXPIRED else TaskPhase.FAILED
            outcome = self._finish(phase, finished.reason, finished.message)
        except (asyncio.CancelledError, FailureError) as error:
            if not is_cancelled_exception(error):
                raise
            outcome = self._finish(TaskPhase.FAILED, Reason.CANCELLED, await self._stop_agents())
        await release_repository_slot(task)
        await tell_graph(outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    def _start_following(self, read: PullRequestRead) -> None:
        """The agent's PR is open: track it, then apply what webhooks brought before it was known."""
        task = self._running()
        pull_request_changes = pr_tracking.open_pull_request(task.state, read)
        # Only now: a status that says tracking_pr always has its PR.
        task.set_phase(TaskPhase.TRACKING_PR, codegen_status="completed")
        task.note("pull request opened", read.pr.html_url)
        for change in pull_request_changes:
            task.record(change)
        for event in task.state.early_events:
            self._apply(event)
        task.state.early_events = []

    async def _stop_agents(self) -> str:
        """A cancelled task asks Codegen to stop its agents on the PR, if one is open: best effort."""
        state, task = self._state, self._running()
        run_id = state.pr_run_id
        if state.status.pr is None or run_id is None or pr_tracking.pr_finished(state) or not task.patched(STOP_AGENTS_PATCH):
            return "the workflow was cancelled"
        try:
            stopped = await stop_agents_on_pr(task, run_id)
            state.status.agents_stopped, detail = stopped.confirmed, stopped.detail
        except (CallFailed, TaskFinished) as error:
            state.status.agents_stopped, detail = False, error.message
        said = "Codegen confirmed its agents on the PR stopped" if state.status.agents_stopped else "Codegen did not confirm its agents on the PR stopped"
        task.note("agents stopped on the PR" if state.status.agents_stopped else "agents not confirmed stopped", detail)
        return f"the workflow was cancelled; {said}"

    def _finish(self, phase: TaskPhase, reason: Reason, message: str) -> TaskOutcome:
        task, status = self._running(), self._state.status
        task.set_phase(phase, codegen_status="failed" if phase is TaskPhase.FAILED and not status.pr else None)
        if phase is not TaskPhase.MERGED and reason is not Reason.CLOSED_UNMERGED:
            status.error = ErrorInfo(reason=reason, message=message)
        task.note(f"finished: {phase.value}", message)
        task.publish()
        # For dashboards and alerts (success rate, failures by reason); the SDK skips it on replay.
        workflow.metric_meter().create_counter(OUTCOMES_METRIC, "task workflows ended, by outcome and reason").add(
            1, {"status": phase.value, "reason": reason.value}
        )
        return task_outcome(task.state, phase, reason, message, workflow.now())

    def _running(self) -> RunningTask:
        assert self._task is not None, "only a valid input gets this far"
        return self._task

    # ---- messages ----------------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> TaskStatus:
        return self._state.status

    @workflow.signal(name=SIGNAL_PR_EVENT)
    def pr_event(self, event: PrEvent) -> None:
        self._receive(event)

    @workflow.signal(name=SIGNAL_CHECK_RESULT)
    def check_result(self, result: CheckResult) -> None:
        self._receive(result)

    @workflow.signal(name=SIGNAL_REVIEW)
    def review(self, review: Review) -> None:
        self._receive(review)

    @workflow.signal(name=SIGNAL_BASE_PUSHED)
    def base_pushed(self, push: BasePush) -> None:
        """The relay saw commits land on a branch this task's PR may target: GitHub recomputes mergeability."""
        state = self._state
        if self._task is None or state.status.pr is None or push.delivery_id in state.seen_deliveries:
            return
        if push.host and push.host.lower() != state.status.pr.ref.host.lower():
            return
        state.seen_deliveries.append(push.delivery_id)
        del state.seen_deliveries[:-SEEN_DELIVERIES_LIMIT]
        self._task.record(pr_tracking.apply_base_push(state, push))

    @workflow.signal(name=SIGNAL_AGENT_RUN)
    def agent_run(self, news: AgentRunNews) -> None:
        """The worker's run watcher saw the awaited run change; news of any other run is stale."""
        if self._task is not None and self._task.awaited_run_id == news.run.id:
            self._task.run_news = news.run

    @workflow.signal(name=SIGNAL_SLOT_GRANTED)
    def slot_granted(self, repository: str) -> None:
        if self._task is not None:
            slot_granted(self._task)

    @workflow.update(name=UPDATE_PRIORITY)
    async def set_priority(self, priority: int) -> str:
        task, status = self._running(), self._state.status
        before, status.priority = task.priority, priority
        task.note("priority changed", f"{before} to {priority}")
        task.show()
        slot = self._state.slot
        if slot is not None and not slot.granted:
            change = SlotPriority(workflow_id=workflow.info().workflow_id, priority=priority)
            await workflow.get_external_workflow_handle(slot.slots_workflow_id).signal(SIGNAL_SLOT_PRIORITY, change)
            return f"{status.task_id}: priority {before} to {priority}; its place in line for a repository slot follows it"
        return f"{status.task_id}: priority {before} to {priority}"

    @set_priority.validator
    def _validate_priority(self, priority: int) -> None:
        status = self._state.status
        if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 5:
            raise ValueError(f"priority must be a whole number from 1 (first) to 5, not {priority!r}")
        if self._task is None or status.phase in TERMINAL_PHASES:
            raise ValueError(f"task {status.task_id} is {status.phase.value}: its priority no longer matters")

    @workflow.update(name="retry")
    def retry(self) -> str:
        self._state.retry_requested = True
        return f"retrying {self._state.status.task_id}: {self._running().input.options.max_attempts} more attempts"

    @retry.validator
    def _validate_retry(self) -> None:
        status = self._state.status
        if status.phase is not TaskPhase.AWAITING_RETRY:
            raise ValueError(
                f"task {status.task_id} is {status.phase.value}, not awaiting_retry: retry applies only after every attempt has failed"
            )

    def _receive(self, event: PrEvent | CheckResult | Review) -> None:
        state = self._state
        if event.delivery_id in state.seen_deliveries:
            return
        state.seen_deliveries.append(event.delivery_id)
        del state.seen_deliveries[:-SEEN_DELIVERIES_LIMIT]
        if state.status.pr is None:
            # Webhooks can beat the workflow to its own PR (routed by the Task-ID line): keep them.
            state.early_events = [*state.early_events, event][-EARLY_EVENTS_LIMIT:]
            return
        self._apply(event)

    def _apply(self, event: PrEvent | CheckResult | Review) -> None:
        state, task = self._state, self._running()
        assert state.status.pr is not None
        if event.host and event.host.lower() != state.status.pr.ref.host.lower():
            # A mock PR's event never moves a real task, nor the reverse, whatever the PR numbers.
            task.note("event from another host ignored", f"{event.host}; the PR is on {state.status.pr.ref.host}")
            return
        if isinstance(event, PrEvent) and event.action == "closed" and task.patched(CONFIRM_CLOSE_PATCH):
            task.record(pr_tracking.report_close(state, event))
        elif isinstance(event, PrEvent):
            task.record(pr_tracking.apply_pr_event(state, event))
        elif isinstance(event, CheckResult):
            task.record(pr_tracking.apply_check(state, event))
        else:
            task.record(pr_tracking.apply_review(state, event, in_order=task.patched(REVIEWS_IN_ORDER_PATCH)))
