"""`starter.py stats`: the original system's statistics, computed by Temporal visibility count queries.

Counting stays cheap however many tasks exist: one GROUP BY ExecutionStatus count plus one count per
known value of TaskPhase, PRStatus and TaskType (the server groups only by ExecutionStatus). Only the
average time to merge reads results, from a bounded sample of the latest merged tasks.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, get_args

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import duration, print_json
from cli.task_workflows import quoted, visibility_query
from models import search_attributes as sa
from models.github import PRState
from models.status import OutcomeStatus, TaskOutcome
from models.task import TaskType
from settings import Settings

MERGE_TIME_SAMPLE = 200
CLOSED = "ExecutionStatus!='Running'"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `stats` subcommand."""
    parser = subparsers.add_parser("stats", help="totals, outcomes, PR statuses, task types, success rate, time to merge")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def stats(client: Client, settings: Settings) -> int:
        numbers = await compute_stats(client, settings)
        if args.json:
            print_json(numbers)
        else:
            _print(numbers)
        return exit_codes.OK

    return run_with_client(stats)


async def compute_stats(client: Client, settings: Settings) -> dict[str, Any]:
    """total, active, completed, by_outcome, by_pr_status, by_type, success_rate, average time to merge."""

    async def count(*conditions: str) -> int:
        return (await client.count_workflows(visibility_query(settings, *conditions))).count

    async def count_each(key: SearchAttributeKey[str], values: list[str], *conditions: str) -> dict[str, int]:
        counts = await asyncio.gather(*(count(f"{key.name}={quoted(value)}", *conditions) for value in values))
        return dict(zip(values, counts))

    by_execution, by_outcome, by_pr_status, by_type, merge_times = await asyncio.gather(
        client.count_workflows(visibility_query(settings) + " GROUP BY ExecutionStatus"),
        count_each(sa.TASK_PHASE, list(get_args(OutcomeStatus)), CLOSED),
        count_each(sa.PR_STATUS, list(get_args(PRState))),
        count_each(sa.TASK_TYPE, [kind.value for kind in TaskType]),
        _merge_times(client, settings),
    )
    execution_counts = {str(group.group_values[0]).lower(): group.count for group in by_execution.groups}
    active = execution_counts.get("running", 0)
    finished = by_execution.count - active
    return {
        "total": by_execution.count,
        "active": active,
        "completed": finished,
        "by_execution_status": execution_counts,
        "by_outcome": by_outcome,
        "by_pr_status": by_pr_status,
        "by_type": by_type,
        "success_rate": round(100 * by_outcome["merged"] / finished, 1) if finished else None,
        "average_time_to_merge_s": round(sum(merge_times) / len(merge_times), 1) if merge_times else None,
        "time_to_merge_sample": len(merge_times),
    }


async def _merge_times(client: Client, settings: Settings) -> list[float]:
    query = visibility_query(settings, "ExecutionStatus='Completed'", f"{sa.TASK_PHASE.name}='merged'")
    handles = [
        client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=TaskOutcome)
        async for execution in client.list_workflows(query, limit=MERGE_TIME_SAMPLE)
    ]
    limit = asyncio.Semaphore(20)

    async def time_to_merge(handle: WorkflowHandle) -> float | None:
        async with limit:
            outcome = await handle.result(follow_runs=False)
        return outcome.timings.time_to_merge_s

    times = await asyncio.gather(*(time_to_merge(handle) for handle in handles))
    return [seconds for seconds in times if seconds is not None]


def _print(numbers: dict[str, Any]) -> None:
    rate = numbers["success_rate"]
    print(f"Tasks        {numbers['total']} total, {numbers['active']} active, {numbers['completed']} completed")
    for label, key in (("Outcomes", "by_outcome"), ("PR status", "by_pr_status"), ("Task types", "by_type"),
                       ("Executions", "by_execution_status")):
        counts = ", ".join(f"{name} {count}" for name, count in numbers[key].items() if count)
        print(f"{label:<12} {counts or '-'}")
    print(f"Success rate {'-' if rate is None else f'{rate}%'} (merged / completed)")
    sample = numbers["time_to_merge_sample"]
    if sample:
        print(f"Time to merge {duration(numbers['average_time_to_merge_s'])} average over the latest {sample} merged "
              f"task(s) (a sample of at most {MERGE_TIME_SAMPLE})")
    else:
        print("Time to merge - (no merged tasks yet)")
