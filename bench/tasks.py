"""Submitting many task workflows and watching them through visibility, as the benchmarks need."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import Client

from cli.task_workflows import start_task
from models import names
from models.names import WORKFLOW_NAME
from models.task import TaskOptions, WorkflowInput
from settings import Settings
from workflows.pr_following import REAL_RECONCILE_INTERVAL

# How often a task reads its PR from real GitHub while no webhook comes (mock mode's 3 s are for demos), and the
# interval's ceiling as it backs off while nothing changes.
REAL_RECONCILE_S = REAL_RECONCILE_INTERVAL.total_seconds()
REAL_RECONCILE_MAX_S = TaskOptions().reconcile_max_interval.total_seconds()
RUNNING_TASKS = f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
START_CONCURRENCY = 50


def task_input(task_id: str, *, scenario: dict[str, Any] | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The workflow input of one benchmark task (a small feature in acme/api), with task `options` if any."""
    task: dict[str, Any] = {"id": task_id, "title": f"Benchmark task {task_id}", "type": "feature"}
    if scenario:
        task["metadata"] = {"scenario": scenario}
    return {"task": task, "context": {"repository": "acme/api"}, "options": options or {}}


async def bounded(count: int, concurrency: int, job: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """`job(0..count-1)` with at most `concurrency` in flight; results in order."""
    results: list[Any] = [None] * count
    next_index = iter(range(count))

    async def lane() -> None:
        for index in next_index:
            results[index] = await job(index)

    await asyncio.gather(*(lane() for _ in range(min(concurrency, count))))
    return results


async def start_tasks(
    client: Client, task_queue: str, count: int, *, scenario: dict[str, Any] | None = None, options: dict[str, Any] | None = None
) -> list[str]:
    """Start `count` CodegenTaskWorkflows; returns their workflow ids."""
    prefix = f"bench-{uuid.uuid4().hex[:6]}"

    settings = Settings(task_queue=task_queue)

    async def start(index: int) -> str:
        task_id = f"{prefix}-{index}"
        input = WorkflowInput.model_validate(task_input(task_id, scenario=scenario, options=options))
        # As `starter.py submit` starts a task: with its search attributes and Web UI summary.
        return (await start_task(client, settings, input)).id

    return await bounded(count, START_CONCURRENCY, start)


async def wait_for_count(client: Client, query: str, done: Callable[[int], bool], *, timeout: float, what: str) -> int:
    """Poll `count_workflows(query)` until `done(count)`; returns the last count, raising after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        count = (await client.count_workflows(query)).count
        if done(count):
            return count
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: still {count} after {timeout:.0f} s ({query})")
        await asyncio.sleep(0.5)


@dataclass(frozen=True)
class ClosedRun:
    workflow_id: str
    start: datetime
    close: datetime
    status: str
    phase: str | None

    @property
    def seconds(self) -> float:
        return (self.close - self.start).total_seconds()


async def closed_runs(client: Client, query: str) -> list[ClosedRun]:
    """Start and close times (server clock) of every closed workflow `query` matches."""
    runs = []
    async for execution in client.list_workflows(f"({query}) AND ExecutionStatus != 'Running'", page_size=1000):
        assert execution.close_time is not None
        runs.append(
            ClosedRun(
                execution.id,
                execution.start_time,
                execution.close_time,
                execution.status.name if execution.status else "",
                execution.typed_search_attributes.get(names.TASK_PHASE),
            )
        )
    return runs


async def finished(client: Client, workflow_type: str, task_queue: str, workflow_ids: list[str], *, timeout: float) -> list[ClosedRun]:
    """Wait until all of `workflow_ids` (of the type, on the queue) have closed; their runs."""
    query = f"WorkflowType = '{workflow_type}' AND TaskQueue = '{task_queue}'"
    wanted = set(workflow_ids)
    await wait_for_count(
        client, f"{query} AND ExecutionStatus = 'Running'", lambda running: running == 0,
        timeout=timeout, what=f"{workflow_type} still running",
    )  # fmt: skip
    runs = [run for run in await closed_runs(client, query) if run.workflow_id in wanted]
    if len(runs) != len(wanted):
        raise RuntimeError(f"{len(wanted) - len(runs)} of {len(wanted)} {workflow_type} runs not found closed")
    return runs


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (0 < fraction <= 1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
