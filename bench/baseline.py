"""The throughput baseline: a minimal workflow with the task workflow's activity calls and signals, and nothing else.

    python -m bench.baseline     # a worker for it on TEMPORAL_TASK_QUEUE (TEMPORAL_ADDRESS)

Same worker settings as worker.py, so the ratio of the two rates is what the task workflow's own
logic (prompt rendering, HTTP to the fake, the relay's lookups, search attributes) costs on top of Temporal.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.worker import Worker

BASELINE_WORKFLOW = "BaselineWorkflow"
BASELINE_SIGNAL = "nudge"


class BaselineInput(BaseModel):
    activities: int
    signals: int


@activity.defn(name="baseline_step")
async def baseline_step(step: int) -> int:
    return step


@workflow.defn(name=BASELINE_WORKFLOW)
class BaselineWorkflow:
    @workflow.init
    def __init__(self, input: BaselineInput) -> None:
        self._signals = 0

    @workflow.run
    async def run(self, input: BaselineInput) -> int:
        for step in range(input.activities):
            await workflow.execute_activity(baseline_step, step, start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(lambda: self._signals >= input.signals)
        return self._signals

    @workflow.signal(name=BASELINE_SIGNAL)
    def nudge(self) -> None:
        self._signals += 1


async def serve() -> None:
    # Imported here: the worker's module brings the HTTP clients, which the workflow never needs.
    import temporal_client
    from settings import Settings
    from worker import MAX_CACHED_WORKFLOWS, WORKFLOW_RUNNER

    settings = Settings.from_env()
    client = await temporal_client.connect(settings)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BaselineWorkflow],
        activities=[baseline_step],
        graceful_shutdown_timeout=timedelta(seconds=30),
        workflow_runner=WORKFLOW_RUNNER,
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())
