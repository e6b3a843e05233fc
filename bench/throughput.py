"""Tasks per second end to end in mock mode, against a minimal workflow doing the same Temporal work.

    python -m bench.throughput [--tasks 1000] [--cycles 2]

The fake answers at once (the run completes at once; checks pass and the PR merges two seconds
after it opens, each sent as a signed webhook through the relay). Tasks read GitHub on the real
schedule, as the other benchmarks' tasks do: mock mode's read every 3 seconds is for demos. The
baseline runs on the same dev server in the same run, with a worker of the same settings, and makes
as many activity calls (ordinary ones, where the task runs its prompt renders and GitHub reads as
local activities) and receives as many signals per workflow as the task workflows did (counted from
a sample of their histories). The halves alternate in cycles (tasks, baseline, baseline, tasks; two
cycles by default, N/4 per round), so a shared machine that speeds up or slows down during the run
weighs on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.baseline import BASELINE_SIGNAL, BASELINE_WORKFLOW, BaselineInput
from bench.results import record
from bench.stack import cpu_seconds, full_stack, settle_webhooks, worker_process
from bench.tasks import REAL_RECONCILE_S, ClosedRun, bounded, finished, percentile, start_tasks
from models.names import WORKFLOW_NAME
from workflows.calls import LOCAL_ACTIVITY_MARKER

HISTORY_SAMPLE = 20
# At 0 the PR merges before the workflow's first GitHub read and no webhook matters. Two seconds
# let the checks and the merge reach a waiting workflow as webhooks; in a burst of hundreds the
# first read may still find the PR merged. `signals_per_task` says what happened (the baseline
# receives as many).
CHECKS_AFTER = {"FAKE_CHECKS_SECONDS": "2"}
FINISH_TIMEOUT_S = 900.0
ROUNDS_PER_CYCLE = ("tasks", "baseline", "baseline", "tasks")


@dataclass(frozen=True)
class Shape:
    """What a task workflow asked of Temporal, per workflow (mean over a sample, rounded)."""

    activities: int
    local_activities: int
    signals: int
    events: int


async def task_shape(client: Client, workflow_ids: list[str]) -> Shape:
    counts = {"activities": 0, "local_activities": 0, "signals": 0, "events": 0}
    for workflow_id in workflow_ids:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            counts["events"] += 1
            counts["activities"] += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            counts["local_activities"] += event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
            counts["signals"] += event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    return Shape(**{name: round(total / len(workflow_ids)) for name, total in counts.items()})


@dataclass
class Half:
    """One side of the comparison, measured over several rounds: its runs, spans and CPU."""

    runs: list[ClosedRun] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, runs: list[ClosedRun], cpu_before: dict[str, float], cpu_after: dict[str, float]) -> None:
        self.runs += runs
        self.seconds += (max(run.close for run in runs) - min(run.start for run in runs)).total_seconds()
        for part, seconds in cpu_after.items():
            self.cpu[part] = self.cpu.get(part, 0.0) + seconds - cpu_before.get(part, 0.0)

    def figures(self) -> dict[str, Any]:
        """Workflows per second over the rounds' first-start-to-last-close spans, latency percentiles, CPU per workflow."""
        latencies = [run.seconds for run in self.runs]
        return {
            "per_s": round(len(self.runs) / self.seconds, 1),
            "p50_s": round(percentile(latencies, 0.5), 2),
            "p95_s": round(percentile(latencies, 0.95), 2),
            "cpu_ms": {part: round(1000 * seconds / len(self.runs), 1) for part, seconds in self.cpu.items()},
        }


async def run_baseline(client: Client, task_queue: str, count: int, shape: BaselineInput) -> list[str]:
    prefix = f"baseline-{uuid.uuid4().hex[:6]}"

    async def start_and_signal(index: int) -> str:
        handle = await client.start_workflow(BASELINE_WORKFLOW, shape, id=f"{prefix}-{index}", task_queue=task_queue)
        for _ in range(shape.signals):
            await handle.signal(BASELINE_SIGNAL)
        return handle.id

    return await bounded(count, 50, start_and_signal)


def rounds(workflows: int, cycles: int) -> list[tuple[str, int]]:
    """`workflows` of each kind spread over `cycles` cycles of ROUNDS_PER_CYCLE, as evenly as they divide."""
    kinds = ROUNDS_PER_CYCLE * cycles
    per_kind = len(kinds) // 2
    if workflows < per_kind:
        raise ValueError(f"{workflows} workflows of each kind cannot fill {per_kind} rounds each ({cycles} cycles)")
    sizes = [workflows // per_kind + (i < workflows % per_kind) for i in range(per_kind)]
    left = {kind: list(sizes) for kind in ROUNDS_PER_CYCLE}
    return [(kind, left[kind].pop()) for kind in kinds]


async def measure(tasks: int, cycles: int = 2) -> dict[str, Any]:
    """Both halves on one stack in cycles of rounds task, baseline, baseline, task, so drift in a shared
    machine's speed weighs on both alike; the figures under the issue's keys."""
    task_half, baseline_half = Half(), Half()
    async with full_stack(fake_env=CHECKS_AFTER) as stack:
        baseline_queue = f"{stack.task_queue}-baseline"
        async with worker_process(stack.client, baseline_queue, {}, argv=[sys.executable, "-m", "bench.baseline"]):
            shape: Shape | None = None
            for kind, count in rounds(tasks, cycles):
                before = cpu_seconds()
                if kind == "tasks":
                    ids = await start_tasks(stack.client, stack.task_queue, count, options={"reconcile_interval": REAL_RECONCILE_S})
                    runs = await finished(stack.client, WORKFLOW_NAME, stack.task_queue, ids, timeout=FINISH_TIMEOUT_S)
                    # Webhooks still on their way would otherwise land in the next round.
                    await settle_webhooks(stack.fake_url, timeout=FINISH_TIMEOUT_S)
                    task_half.add(runs, before, cpu_seconds())
                    if shape is None:
                        shape = await task_shape(stack.client, ids[:HISTORY_SAMPLE])
                else:
                    assert shape is not None
                    # Every call the task made, local or not, becomes an ordinary activity call here.
                    calls = BaselineInput(activities=shape.activities + shape.local_activities, signals=shape.signals)
                    ids = await run_baseline(stack.client, baseline_queue, count, calls)
                    runs = await finished(stack.client, BASELINE_WORKFLOW, baseline_queue, ids, timeout=FINISH_TIMEOUT_S)
                    baseline_half.add(runs, before, cpu_seconds())
    task_figures, baseline_figures = task_half.figures(), baseline_half.figures()
    return {
        "tasks": tasks,
        "tasks_per_s": task_figures["per_s"],
        "baseline_per_s": baseline_figures["per_s"],
        "ratio": round(task_figures["per_s"] / baseline_figures["per_s"], 2),
        "p50_s": task_figures["p50_s"],
        "p95_s": task_figures["p95_s"],
        "baseline_p50_s": baseline_figures["p50_s"],
        "baseline_p95_s": baseline_figures["p95_s"],
        "merged": sum(run.phase == "merged" for run in task_half.runs),
        "rounds": f"{cycles} x ({', '.join(ROUNDS_PER_CYCLE)}), {tasks // (2 * cycles)} workflows a round",
        "activities_per_task": shape.activities + shape.local_activities,
        "local_activities_per_task": shape.local_activities,
        "signals_per_task": shape.signals,
        "history_events_per_task": shape.events,
        # Where the time goes: CPU per task (per baseline workflow) in each process, webhook settling included.
        "cpu_ms_per_task": task_figures["cpu_ms"],
        "baseline_cpu_ms_per_workflow": baseline_figures["cpu_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=2, help="cycles of rounds (tasks, baseline, baseline, tasks)")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.tasks, args.cycles))
    print(figures)
    record("throughput", figures)


if __name__ == "__main__":
    main()
