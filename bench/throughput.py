"""Tasks per second end to end in mock mode, against a minimal workflow doing the same Temporal work.

    python -m bench.throughput [--tasks 500]

The fake answers at once (the run completes at once; checks pass and the PR merges two seconds
after it opens, each sent as a signed webhook through the relay). The baseline runs on the same
dev server in the same run, with a worker of the same settings, and makes as many activity calls
and receives as many signals per workflow as the task workflows did (counted from a sample of
their histories).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.baseline import BASELINE_SIGNAL, BASELINE_WORKFLOW, BaselineInput
from bench.results import record
from bench.stack import cpu_ms_per, cpu_seconds, full_stack, worker_process
from bench.tasks import ClosedRun, bounded, closed_runs, percentile, start_tasks, wait_for_count
from workflows.codegen_task import WORKFLOW_NAME

HISTORY_SAMPLE = 20
# At 0 the PR merges before the workflow's first GitHub read and no webhook matters. Two seconds
# let the checks and the merge reach a waiting workflow as webhooks; in a burst of hundreds the
# first read may still find the PR merged. `signals_per_task` says what happened (the baseline
# receives as many).
CHECKS_AFTER = {"FAKE_CHECKS_SECONDS": "2"}
FINISH_TIMEOUT_S = 900.0


async def messages_per_workflow(client: Client, workflow_ids: list[str]) -> tuple[int, int]:
    """Mean activity calls and signals per workflow over `workflow_ids`, rounded."""
    activities = signals = 0
    for workflow_id in workflow_ids:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            activities += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            signals += event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    return round(activities / len(workflow_ids)), round(signals / len(workflow_ids))


async def finished(client: Client, workflow_type: str, task_queue: str, count: int) -> list[ClosedRun]:
    """Wait until `count` workflows of the type on the queue have closed; their runs."""
    query = f"WorkflowType = '{workflow_type}' AND TaskQueue = '{task_queue}'"
    await wait_for_count(
        client, f"{query} AND ExecutionStatus != 'Running'", lambda closed: closed >= count,
        timeout=FINISH_TIMEOUT_S, what=f"{workflow_type} closed",
    )  # fmt: skip
    return await closed_runs(client, query)


def rates(runs: list[ClosedRun]) -> dict[str, float]:
    """Workflows per second from the first start to the last close, and start-to-close percentiles."""
    span = (max(run.close for run in runs) - min(run.start for run in runs)).total_seconds()
    latencies = [run.seconds for run in runs]
    return {
        "per_s": round(len(runs) / span, 1),
        "p50_s": round(percentile(latencies, 0.5), 2),
        "p95_s": round(percentile(latencies, 0.95), 2),
    }


async def run_baseline(client: Client, task_queue: str, count: int, shape: BaselineInput) -> list[ClosedRun]:
    prefix = f"baseline-{uuid.uuid4().hex[:6]}"

    async def start_and_signal(index: int) -> None:
        handle = await client.start_workflow(BASELINE_WORKFLOW, shape, id=f"{prefix}-{index}", task_queue=task_queue)
        for _ in range(shape.signals):
            await handle.signal(BASELINE_SIGNAL)

    await bounded(count, 50, start_and_signal)
    return await finished(client, BASELINE_WORKFLOW, task_queue, count)


async def measure(tasks: int) -> dict[str, Any]:
    """Run both halves on one stack; the figures under the issue's keys."""
    async with full_stack(fake_env=CHECKS_AFTER) as stack:
        cpu_before = cpu_seconds()
        workflow_ids = await start_tasks(stack.client, stack.task_queue, tasks)
        runs = await finished(stack.client, WORKFLOW_NAME, stack.task_queue, tasks)
        task_cpu = cpu_ms_per(tasks, cpu_before, cpu_seconds())
        activities, signals = await messages_per_workflow(stack.client, workflow_ids[:HISTORY_SAMPLE])
        shape = BaselineInput(activities=activities, signals=signals)
        baseline_queue = f"{stack.task_queue}-baseline"
        async with worker_process(stack.client, baseline_queue, [sys.executable, "-m", "bench.baseline"], {}):
            cpu_before = cpu_seconds()
            baseline_runs = await run_baseline(stack.client, baseline_queue, tasks, shape)
            baseline_cpu = cpu_ms_per(tasks, cpu_before, cpu_seconds())
    task_rates, baseline_rates = rates(runs), rates(baseline_runs)
    return {
        "tasks": tasks,
        "tasks_per_s": task_rates["per_s"],
        "baseline_per_s": baseline_rates["per_s"],
        "ratio": round(task_rates["per_s"] / baseline_rates["per_s"], 2),
        "p50_s": task_rates["p50_s"],
        "p95_s": task_rates["p95_s"],
        "baseline_p50_s": baseline_rates["p50_s"],
        "baseline_p95_s": baseline_rates["p95_s"],
        "merged": sum(run.phase == "merged" for run in runs),
        "activities_per_task": activities,
        "signals_per_task": signals,
        # Where the time goes: CPU per task (per baseline workflow) in each process.
        "cpu_ms_per_task": task_cpu,
        "baseline_cpu_ms_per_workflow": baseline_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.tasks))
    print(figures)
    record("throughput", figures)


if __name__ == "__main__":
    main()
