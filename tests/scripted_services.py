"""Same-named stand-ins for the activities, scripted per test, for workflow-logic tests.

The workflow calls activities by name; these answer from in-memory state that the test
controls, so a test can say "attempt 1 fails, attempt 2 opens PR #7" and then drive the PR.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.graph_tasks import GraphTaskActivities
from activities.repository_slots import MOCK_RECLAIM_EVERY, RepositorySlotActivities
from models.codegen import (
    ActiveRunQuery,
    ActiveRunResult,
    AgentPullRequest,
    AgentRun,
    AgentRunNews,
    PullRequestRef,
    ResumeRunInput,
    RunSighting,
    StartRunInput,
    StopAgentInput,
    StopAgentResult,
    WatchRunInput,
    classify_run_status,
    codegen_api_task_queue,
)
from models.followup import FollowupPromptInput
from models.github import (
    BaseComparison,
    CheckOutput,
    CheckOutputsInput,
    CheckOutputsResult,
    CheckRunInfo,
    CommitSummary,
    CompareWithBaseInput,
    MergeInput,
    MergeResult,
    PullRequestInfo,
    PullRequestRead,
    ReviewComment,
    ReviewCommentsInput,
    ReviewCommentsResult,
    ReviewState,
    UpdateBranchInput,
    UpdateBranchResult,
)
from models.names import SIGNAL_AGENT_RUN
from models.prompt import PromptInput, PromptMetadata, PromptResult
from models.signals import PrEvent
from models.slots import RepositoryLimits, SlotAnswer, SlotRequest
from models.status import TaskOutcome, TaskPhase, TaskStatus
from models.task import Task
from tests.waiting import wait_until
from workflows.codegen_task import CodegenTaskWorkflow
from workflows.repository_slots import RepositorySlotsWorkflow
from workflows.task_graph import TaskGraphWorkflow

REPO = "acme/api"
PR_KEY = f"{REPO}#7"  # the PR every scripted attempt opens
# Runs Codegen starts by itself (`codegen_runs`) take ids from here; the task's own runs are 101, 102, ...
CODEGEN_RUN_IDS = 900


@dataclass
class ScriptedServices:
    """`attempts[n]` is what attempt n+1 does: "pr", "failed", "no_pr", "hang", "error:<ApplicationError type>",
    "paused_once" (waits for input until told to proceed, then opens the PR) or "paused" (waits for good)."""

    attempts: list[str] = field(default_factory=lambda: ["pr"])
    prompts: list[PromptInput] = field(default_factory=list)
    created: list[StartRunInput] = field(default_factory=list)
    pr_state: str = "open"
    merged: bool = False
    head_sha: str = "sha-1"
    checks: list[CheckRunInfo] = field(default_factory=list)
    # The PR's reviews as reads list them.
    reviews: list[ReviewState] = field(default_factory=list)
    # The checks' summaries and logs, by name, for read_check_outputs; each read's input is kept.
    check_outputs: dict[str, CheckOutput] = field(default_factory=dict)
    check_output_reads: list[CheckOutputsInput] = field(default_factory=list)
    github_reads: int = 0
    author: str = "codegen-bot"
    # What GitHub says of merging the PR (`mergeable`, `mergeable_state`), and the writes asked of it.
    mergeable: bool | None = True
    mergeable_state: str | None = "clean"
    merges: list[MergeInput] = field(default_factory=list)
    branch_updates: list[UpdateBranchInput] = field(default_factory=list)
    # When set, the next branch update is refused with this error type (HeadChanged, MergeConflict, ...); with
    # `moved_head` too, because the head moved there (clean), as when someone pushed just before.
    update_branch_error: str | None = None
    moved_head: str | None = None
    # When set, the next merge is refused with this error type, and GitHub computes mergeability afresh: the
    # next read answers null, the one after it what it said before.
    merge_error: str | None = None
    _mergeability_after_null: tuple[bool | None, str | None] | None = None
    followup_prompts: list[FollowupPromptInput] = field(default_factory=list)
    resumes: list[ResumeRunInput] = field(default_factory=list)
    # When set, a resumed run keeps running until the test sets it.
    followup_gate: asyncio.Event | None = None
    # Line comments by review id; reading a review not listed fails as not found.
    review_comments: dict[int, list[ReviewComment]] = field(default_factory=dict)
    review_comment_reads: list[int] = field(default_factory=list)
    # When set, generate_prompt fails with an ApplicationError of this type (non-retryable).
    prompt_error: str | None = None
    # When set, GitHub reads fail as a retryable outage.
    github_down: bool = False
    # When set, reading check runs for their output fails with an ApplicationError of this type (non-retryable).
    check_output_error: str | None = None
    # Runs Codegen starts on the PR by itself, found by the next look(s) for one; each is found once.
    codegen_runs: list[AgentRun] = field(default_factory=list)
    active_run_queries: list[ActiveRunQuery] = field(default_factory=list)
    stops: list[StopAgentInput] = field(default_factory=list)
    # When set, Codegen refuses to stop the agents on the PR.
    stop_refused: bool = False
    # Every registration and look at a run (`watch_agent_run`).
    looks: list[WatchRunInput] = field(default_factory=list)
    client: Client | None = None
    # MAX_ACTIVE_TASKS_PER_REPOSITORY as the scripted worker reads it (None: no limit), and workflow ids
    # that take their slots first, as tasks elsewhere would.
    repository_limits: RepositoryLimits | None = None
    slot_holders: list[str] = field(default_factory=list)
    _signals: set[asyncio.Future[None]] = field(default_factory=set)

    def close(self, delivery_id: str, *, merged: bool = True) -> PrEvent:
        """GitHub closes the PR, so reads say so from now on, and the webhook that tells of it."""
        self.pr_state, self.merged = "closed", merged
        return PrEvent(delivery_id=delivery_id, action="closed", merged=merged, pr_key=PR_KEY)

    def ref(self, number: int = 7) -> PullRequestRef:
        owner, repo = REPO.split("/")
        return PullRequestRef(owner=owner, repo=repo, number=number)

    @activity.defn(name="generate_prompt")
    async def generate_prompt(self, input: PromptInput) -> PromptResult:
        self.prompts.append(input)
        if self.prompt_error:
            raise ApplicationError(f"the prompt cannot be rendered: {self.prompt_error}", type=self.prompt_error, non_retryable=True)
        content = f"# {input.task.title}\n" + "".join(f"- before: {f}\n" for f in input.previous_failures)
        return _prompt(content, input.task, "scripted")

    @activity.defn(name="start_agent_run")
    async def start_agent_run(self, input: StartRunInput) -> AgentRun:
        self.created.append(input)
        behaviour = self.attempts[input.attempt - 1]
        if behaviour.startswith("error:"):
            raise ApplicationError(f"Codegen refused: {behaviour}", type=behaviour.removeprefix("error:"), non_retryable=True)
        return AgentRun(id=100 + input.attempt, status="ACTIVE", web_url=f"https://codegen.test/run/{100 + input.attempt}")

    @activity.defn(name="watch_agent_run")
    async def watch_agent_run(self, input: WatchRunInput) -> RunSighting:
        """A registration is answered as the worker's watcher would: a signal once the scripted run is not
        in the state the task knows (at once, or when `followup_gate` opens; a hanging run never is); a
        look sees the run as it is."""
        self.looks.append(input)
        if input.read:
            return RunSighting(run=self._run_now(input.run_id))
        signal = asyncio.ensure_future(self._tell_when_changed(input))
        self._signals.add(signal)  # kept until sent: the loop holds only weak references
        signal.add_done_callback(self._signals.discard)
        return RunSighting()

    async def _tell_when_changed(self, input: WatchRunInput) -> None:
        if self.followup_gate and self.resumes and input.run_id == self.resumes[-1].run_id:
            await self.followup_gate.wait()
        run = self._run_now(input.run_id)
        if run.state is not classify_run_status(input.status):
            assert self.client is not None, "workers() keeps the client the watcher signals through"
            await self.client.get_workflow_handle(input.workflow_id).signal(SIGNAL_AGENT_RUN, AgentRunNews(run=run))

    def _run_now(self, run_id: int) -> AgentRun:
        if self.resumes and run_id == self.resumes[-1].run_id and self.followup_gate and not self.followup_gate.is_set():
            return AgentRun(id=run_id, status="ACTIVE")
        if run_id >= CODEGEN_RUN_IDS:
            return AgentRun(id=run_id, status="COMPLETE")
        behaviour = self.attempts[run_id - 101]
        told_to_proceed = any(r.run_id == run_id and r.followup == 0 for r in self.resumes)
        if behaviour == "paused" or (behaviour == "paused_once" and not told_to_proceed):
            return AgentRun(id=run_id, status="PAUSED", web_url=f"https://codegen.test/run/{run_id}")
        if behaviour == "hang":
            return AgentRun(id=run_id, status="ACTIVE")
        if behaviour == "failed":
            return AgentRun(id=run_id, status="FAILED", result="tests did not compile")
        pull_requests = []
        if behaviour in ("pr", "paused_once"):
            url = f"https://github.com/{REPO}/pull/7"
            pull_requests = [AgentPullRequest(url=url, head_branch_name="codegen/t", ref=PullRequestRef.from_url(url))]
        return AgentRun(id=run_id, status="COMPLETE", pull_requests=pull_requests)

    @activity.defn(name="generate_followup_prompt")
    async def generate_followup_prompt(self, input: FollowupPromptInput) -> PromptResult:
        self.followup_prompts.append(input)
        content = f"{input.kind}: " + ", ".join(c.name for c in input.failing_checks) + (input.review_body or "")
        return _prompt(content, input.task, input.kind)

    @activity.defn(name="resume_agent_run")
    async def resume_agent_run(self, input: ResumeRunInput) -> AgentRun:
        self.resumes.append(input)
        return AgentRun(id=input.run_id, status="ACTIVE")

    @activity.defn(name="read_pull_request")
    async def read_pull_request(self, ref: PullRequestRef) -> PullRequestRead:
        self.github_reads += 1
        if self.github_down:
            raise ApplicationError("GitHub answered 503", type="ServiceUnavailable")
        read = PullRequestRead(pr=self._pull_request(ref), checks=self._checks_on(self.head_sha), reviews=list(self.reviews))
        if self._mergeability_after_null is not None:
            (self.mergeable, self.mergeable_state), self._mergeability_after_null = self._mergeability_after_null, None
        return read

    def _pull_request(self, ref: PullRequestRef) -> PullRequestInfo:
        return PullRequestInfo(
            ref=ref,
            html_url=f"https://github.com/{ref.repository}/pull/{ref.number}",
            title="Scripted PR",
            state="closed" if self.pr_state == "closed" else "open",
            merged=self.merged,
            head_sha=self.head_sha,
            head_ref="codegen/t",
            base_ref="main",
            author=self.author,
            mergeable=self.mergeable,
            mergeable_state=self.mergeable_state,
        )

    @activity.defn(name="compare_with_base")
    async def compare_with_base(self, input: CompareWithBaseInput) -> BaseComparison:
        return BaseComparison(
            base_ref=input.base_ref,
            head_sha=input.head_sha,
            status="diverged",
            ahead_by=1,
            behind_by=1,
            base_commits=[CommitSummary(sha="base-2", message="Rework the limiter (#6)")],
            base_commits_total=1,
            files_changed_on_both_sides=["src/limiter.py"],
        )

    @activity.defn(name="update_pull_request_branch")
    async def update_pull_request_branch(self, input: UpdateBranchInput) -> UpdateBranchResult:
        self.branch_updates.append(input)
        error, self.update_branch_error = self.update_branch_error, None
        if error is not None:
            if self.moved_head is not None:
                self.head_sha, self.mergeable_state = self.moved_head, "clean"
            raise ApplicationError(f"update-branch refused ({error})", type=error, non_retryable=True)
        return UpdateBranchResult(updated=True, message="Updating pull request branch.")

    @activity.defn(name="merge_pull_request")
    async def merge_pull_request(self, input: MergeInput) -> MergeResult:
        """Merges when `input.sha` is the head, as GitHub does; the PR reads merged from then on."""
        self.merges.append(input)
        error, self.merge_error = self.merge_error, None
        if error is not None:
            self._mergeability_after_null = (self.mergeable, self.mergeable_state)
            self.mergeable, self.mergeable_state = None, None
            raise ApplicationError("Pull Request is not mergeable", {"blocker": "unspecified"}, type=error, non_retryable=True)
        if input.sha != self.head_sha:
            raise ApplicationError("Head branch was modified. Review and try the merge again.", type="HeadChanged", non_retryable=True)
        self.pr_state, self.merged = "closed", True
        return MergeResult(sha="merge-1", merged=True, message="Pull Request successfully merged")

    @activity.defn(name="read_check_outputs")
    async def read_check_outputs(self, input: CheckOutputsInput) -> CheckOutputsResult:
        self.check_output_reads.append(input)
        if self.check_output_error:
            raise ApplicationError(f"GitHub refused the check runs: {self.check_output_error}", type=self.check_output_error, non_retryable=True)
        return CheckOutputsResult(sha=input.sha, outputs=[self.check_outputs[name] for name in input.names if name in self.check_outputs])

    @activity.defn(name="read_review_comments")
    async def read_review_comments(self, input: ReviewCommentsInput) -> ReviewCommentsResult:
        self.review_comment_reads.append(input.review_id)
        if input.review_id not in self.review_comments:
            raise ApplicationError(f"review {input.review_id} not found", type="NotFound", non_retryable=True)
        return ReviewCommentsResult(review_id=input.review_id, comments=self.review_comments[input.review_id])

    @activity.defn(name="request_repository_slot")
    async def request_repository_slot(self, request: SlotRequest) -> SlotAnswer:
        """The worker's own activity, with `repository_limits` as its setting."""
        slots = self._slots()
        for holder in self.slot_holders:
            await slots.request_repository_slot(request.model_copy(update={"workflow_id": holder, "task_id": holder}))
        return await slots.request_repository_slot(request)

    @activity.defn(name="ended_workflows")
    async def ended_workflows(self, workflow_ids: list[str]) -> list[str]:
        return await self._slots().ended_workflows([w for w in workflow_ids if w not in self.slot_holders])

    def _slots(self) -> RepositorySlotActivities:
        assert self.client is not None, "set services.client (workers() does)"
        return RepositorySlotActivities(self.client, self.repository_limits, MOCK_RECLAIM_EVERY)

    @activity.defn(name="find_active_run_on_pr")
    async def find_active_run_on_pr(self, query: ActiveRunQuery) -> ActiveRunResult:
        self.active_run_queries.append(query)
        return ActiveRunResult(run=self.codegen_runs.pop(0) if self.codegen_runs else None)

    @activity.defn(name="stop_agent_on_pr")
    async def stop_agent_on_pr(self, input: StopAgentInput) -> StopAgentResult:
        self.stops.append(input)
        if self.stop_refused:
            return StopAgentResult(confirmed=False, detail="Codegen answered 404: Agent run not found.")
        return StopAgentResult(confirmed=True, detail="agents on the PR stopped")

    def _checks_on(self, sha: str) -> list[CheckRunInfo]:
        return [c for c in self.checks if c.head_sha == sha]

    def activities(self) -> list[Any]:
        """The stand-ins for the task queue's activities (creation's are `start_agent_run`, `resume_agent_run`)."""
        return [
            self.generate_prompt,
            self.generate_followup_prompt,
            self.watch_agent_run,
            self.request_repository_slot,
            self.ended_workflows,
            self.read_pull_request,
            self.read_check_outputs,
            self.read_review_comments,
            self.find_active_run_on_pr,
            self.stop_agent_on_pr,
            self.compare_with_base,
            self.update_pull_request_branch,
            self.merge_pull_request,
        ]

    def workers(self, client: Client, task_queue: str) -> list[Worker]:
        self.client = client
        return [
            Worker(
                client,
                task_queue=task_queue,
                workflows=[CodegenTaskWorkflow, RepositorySlotsWorkflow, TaskGraphWorkflow],
                activities=[*self.activities(), *GraphTaskActivities(client).all()],
                # A bug in workflow code fails the test at once instead of retrying the task forever.
                workflow_failure_exception_types=[Exception],
            ),
            Worker(client, task_queue=codegen_api_task_queue(task_queue), activities=[self.start_agent_run, self.resume_agent_run]),
        ]


def _prompt(content: str, task: Task, template: str) -> PromptResult:
    metadata = PromptMetadata(
        task_id=task.id,
        task_type=task.type.value,
        template=template,
        generator_version="test",
        generated_at=datetime.now(UTC),
        size_chars=len(content),
        estimated_tokens=len(content) // 4,
        estimated_complexity=1,
    )
    return PromptResult(content=content, metadata=metadata)


def task_input(task_id: str, **options: Any) -> dict[str, Any]:
    return {
        "task": {"id": task_id, "title": "Add rate limiting", "type": "feature"},
        "context": {"repository": REPO},
        "options": {"attempt_backoff": 5, **options},
    }


def at(seconds: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


# ---- driving a task workflow on the time-skipping server -------------------------------------


async def start(env: WorkflowEnvironment, task_queue: str, raw_input: dict) -> WorkflowHandle:
    return await env.client.start_workflow(
        CodegenTaskWorkflow.run,
        raw_input,
        id=f"codegen-task-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=TaskOutcome,
    )


async def status_of(handle: WorkflowHandle) -> TaskStatus:
    return await handle.query("status", result_type=TaskStatus)


async def wait_for_phase(handle: WorkflowHandle, phase: TaskPhase) -> TaskStatus:
    latest: list[TaskStatus] = []

    async def reached() -> bool:
        latest[:] = [await status_of(handle)]
        return latest[0].phase is phase

    await wait_until(reached, what=f"phase {phase}")
    return latest[0]


async def run_workers(stack: AsyncExitStack, services: ScriptedServices, env: WorkflowEnvironment, task_queue: str) -> None:
    for worker in services.workers(env.client, task_queue):
        await stack.enter_async_context(worker)
