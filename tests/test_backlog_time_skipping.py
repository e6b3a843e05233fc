"""A 1,000-task backlog at Codegen's real creation limit, in skipped time.

At 10 creations a minute, 1,000 tasks submitted at once take 100 minutes to get their runs. Here Codegen
itself keeps the limit: a create beyond it is refused with a 429 saying when to come back, as the real
API may when several workers share a key. The last tasks wait 100 minutes: that must not fail an attempt,
and every task must get exactly one run. (The time-skipping server neither enforces a task queue's rate
limit nor skips time while activities wait in a queue; the drill, tests/test_quota_drill.py, runs the
real rate limiter on a dev server.)
"""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.http_errors import HttpErrorType
from models.codegen import AgentRun, StartRunInput, codegen_api_task_queue
from models.status import TaskOutcome
from tests.scripted_services import ScriptedServices, start, task_input
from workflows.codegen_task import CodegenTaskWorkflow

TASKS = 1000
CREATES_PER_MINUTE = 10


@dataclass
class CodegenAtItsLimit:
    """Creations admitted 10 a minute in order of first asking; the rest told when their turn comes."""

    services: ScriptedServices
    turns: dict[str, datetime] = field(default_factory=dict)
    created_at: list[datetime] = field(default_factory=list)

    @activity.defn(name="start_agent_run")
    async def start_agent_run(self, input: StartRunInput) -> AgentRun:
        now = activity.info().current_attempt_scheduled_time  # the server's clock, which skips
        first = next(iter(self.turns.values()), now)
        turn = self.turns.setdefault(input.workflow_id, first + timedelta(minutes=len(self.turns) // CREATES_PER_MINUTE))
        if now < turn:
            raise ApplicationError("Rate limit exceeded. Please try again later.", type=HttpErrorType.RATE_LIMITED, next_retry_delay=turn - now)
        self.created_at.append(now)
        return await self.services.start_agent_run(input)


async def test_a_thousand_tasks_wait_a_hundred_minutes_for_their_runs_without_failing_an_attempt(time_env: WorkflowEnvironment, task_queue: str):
    # Each PR is already merged when first read: the test is about getting the runs.
    services = ScriptedServices(pr_state="closed", merged=True, client=time_env.client)
    codegen = CodegenAtItsLimit(services)
    async with AsyncExitStack() as stack:
        # Unsandboxed, as the production worker runs it: a thousand sandboxed workflows cost minutes of CPU here.
        main = Worker(
            time_env.client,
            task_queue=task_queue,
            workflows=[CodegenTaskWorkflow],
            activities=services.activities(),
            workflow_runner=UnsandboxedWorkflowRunner(),
            workflow_failure_exception_types=[Exception],
        )
        creating = Worker(time_env.client, task_queue=codegen_api_task_queue(task_queue), activities=[codegen.start_agent_run])
        await stack.enter_async_context(main)
        await stack.enter_async_context(creating)
        handles: list[WorkflowHandle] = [
            await start(time_env, task_queue, task_input(f"backlog-{index}", reconcile_interval=3600)) for index in range(TASKS)
        ]
        # One at a time: the test server refuses a thousand long polls at once, and time skips while any is awaited.
        results: list[TaskOutcome] = [await handle.result() for handle in handles]

    assert Counter(r.status for r in results) == {"merged": TASKS}
    assert all([a.outcome for a in r.attempts] == ["pr_opened"] for r in results), "an attempt failed"
    created = Counter(input.workflow_id for input in services.created)
    assert len(created) == TASKS and set(created.values()) == {1}, "a task got no run, or two"
    # The limit held: the last creations came a hundred minutes after the first.
    assert max(codegen.created_at) - min(codegen.created_at) >= timedelta(minutes=TASKS / CREATES_PER_MINUTE - 1)
