"""One task as its workflow runs it: the input, the state, and how a change is recorded and shown.

The attempts, the PR following and the follow-ups all work through this one object, so the timeline,
the phase and what visibility shows change in one way only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow

from workflows.followup_policy import CODEGEN_REVIEW_BOTS
from workflows.presentation import Publisher, show_details

with workflow.unsafe.imports_passed_through():
    from models.codegen import AgentRun
    from models.status import CodegenStatus, QueueKind, QueueWait, TaskPhase, TaskState, TimelineEntry
    from models.task import WorkflowInput

TIMELINE_LIMIT = 200


@dataclass
class RunningTask:
    input: WorkflowInput
    state: TaskState
    publisher: Publisher = field(default_factory=Publisher)
    # Set by every change a signal or read brings; the PR loop waits on it.
    changed: bool = False
    # Whether this run knows Codegen's own work on the PR (the one-fixer-per-head patch): a follow-up first
    # looks for a Codegen run already at work there, and Codegen's review bot never gets one.
    one_fixer: bool = False
    # Whether this task takes a green PR to merged (MERGE_LADDER_PATCH, asked first thing in each run):
    # mergeability read and acted on, conflicts sent to the agent, a branch behind its base updated, the PR
    # merged when merge_when_green. It implies every earlier patch (`patched`).
    ladder: bool = False
    # The agent run the task waits for, and what the worker's run watcher last said of it.
    awaited_run_id: int | None = None
    run_news: AgentRun | None = None

    def patched(self, patch_id: str) -> bool:
        """Whether the change `patch_id` guards applies. A task under the merge ladder has every earlier change
        and never asks for them: asked right after a local activity resolved, a patch can be answered otherwise
        on replay (a run that had to replay after a refused workflow task then failed as non-deterministic)."""
        return self.ladder or workflow.patched(patch_id)

    @property
    def ignored_bots(self) -> frozenset[str]:
        """Reviewers no follow-up answers, beyond the task's options."""
        return CODEGEN_REVIEW_BOTS if self.one_fixer else frozenset()

    def note(self, event: str, detail: str = "") -> None:
        timeline = self.state.status.timeline
        timeline.append(TimelineEntry(at=workflow.now(), event=event, detail=detail))
        del timeline[:-TIMELINE_LIMIT]

    def record(self, change: str | None) -> None:
        if change:
            self.changed = True
            self.note(change)

    @property
    def priority(self) -> int:
        """1 (first) to 5: the task's, or what `starter.py priority` set since."""
        return self.state.status.priority or self.input.task.priority

    def queue(self, waiting_for: QueueKind, reason: str) -> None:
        """Stand in `queued`; the wait's start stays while the task waits for the same thing."""
        status = self.state.status
        if status.queued is None or status.queued.waiting_for != waiting_for:
            status.queued = QueueWait(waiting_for=waiting_for, reason=reason, since=workflow.now())
        else:
            status.queued.reason = reason
        self.set_phase(TaskPhase.QUEUED)

    def set_phase(self, phase: TaskPhase, codegen_status: CodegenStatus | None = None) -> None:
        if phase is not TaskPhase.QUEUED:
            self.state.status.queued = None
        self.state.status.phase = phase
        if codegen_status:
            self.state.status.codegen_status = codegen_status

    def publish(self) -> None:
        self.publisher.publish(self.state.status, self.input)

    def show(self) -> None:
        """Current details only: no search attribute upsert, so no command."""
        show_details(self.state.status, self.input)

    async def wait(self, condition: Callable[[], bool], timeout: timedelta) -> bool:
        """Whether `condition` came true within `timeout`."""
        try:
            await workflow.wait_condition(condition, timeout=timeout)
            return True
        except TimeoutError:
            return False
