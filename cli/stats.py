"""`starter.py stats`: the original system's statistics, computed by Temporal visibility count queries.

Counting stays cheap however many tasks exist: one GROUP BY ExecutionStatus count plus one count per
known value of TaskPhase, PRStatus and TaskType (the server groups only by ExecutionStatus). Only the
averages (time to merge, follow-ups per task, iterations to green) and the failure reasons read
results, from bounded samples of the latest tasks that ended with a PR merged or closed, and of the
latest that failed or expired.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, get_args

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import duration, print_json
from cli.task_workflows import quoted, visibility_query
from models import names
from models.github import PRState
from models.status import OutcomeStatus, TaskOutcome
from models.task import TaskType
from settings import Settings

OUTCOME_SAMPLE = 200
CLOSED = "ExecutionStatus!='Running'"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `stats` subcommand."""
    parser = subparsers.add_parser("stats", help="totals, outcomes, PR statuses, task types, success rate, time to merge, failure reasons")
    parser.add_argument("--graph", metavar="GRAPH", help="only the tasks of this graph (GraphId)")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def stats(client: Client, settings: Settings) -> int:
        numbers = await compute_stats(client, settings, graph=args.graph)
        if args.json:
            print_json(numbers)
        else:
            _print(numbers)
        return exit_codes.OK

    return run_with_client(stats)


async def compute_stats(client: Client, settings: Settings, graph: str | None = None) -> dict[str, Any]:
    """total, active, completed, by_outcome, by_pr_status, by_type, success_rate, average time to merge;
    of one graph's tasks with `graph`."""
    scope = [f"{names.GRAPH_ID.name}={quoted(graph)}"] if graph else []

    async def count(*conditions: str) -> int:
        return (await client.count_workflows(visibility_query(settings, *scope, *conditions))).count

    async def count_each(key: SearchAttributeKey[str], values: list[str], *conditions: str) -> dict[str, int]:
        counts = await asyncio.gather(*(count(f"{key.name}={quoted(value)}", *conditions) for value in values))
        return dict(zip(values, counts, strict=True))

    # Two gathers in one, all concurrent: asyncio.gather is typed for at most six awaitables.
    (by_execution, by_outcome, (needs_attention, queued), by_pr_status, by_type), (outcomes, failures) = await asyncio.gather(
        asyncio.gather(
            client.count_workflows(visibility_query(settings, *scope) + " GROUP BY ExecutionStatus"),
            count_each(names.TASK_PHASE, list(get_args(OutcomeStatus)), CLOSED),
            asyncio.gather(
                count(f"{names.TASK_PHASE.name}='needs_attention'", "ExecutionStatus='Running'"),
                count(f"{names.TASK_PHASE.name}='queued'", "ExecutionStatus='Running'"),
            ),
            count_each(names.PR_STATUS, list(get_args(PRState))),
            count_each(names.TASK_TYPE, [kind.value for kind in TaskType]),
        ),
        asyncio.gather(
            _recent_outcomes(client, settings, ("merged", "closed"), scope),
            _recent_outcomes(client, settings, ("failed", "expired"), scope),
        ),
    )
    merge_times = [o.timings.time_to_merge_s for o in outcomes if o.timings.time_to_merge_s is not None]
    to_green = [o.iterations_to_green for o in outcomes if o.iterations_to_green is not None]
    execution_counts = {str(group.group_values[0]).lower(): group.count for group in by_execution.groups}
    active = execution_counts.get("running", 0)
    finished = by_execution.count - active
    return {
        "total": by_execution.count,
        "active": active,
        "needs_attention": needs_attention,
        "queued": queued,
        "completed": finished,
        "by_execution_status": execution_counts,
        "by_outcome": by_outcome,
        "by_pr_status": by_pr_status,
        "by_type": by_type,
        "success_rate": round(100 * by_outcome["merged"] / finished, 1) if finished else None,
        "average_time_to_merge_s": _average(merge_times, 1),
        "time_to_merge_sample": len(merge_times),
        "average_followups_per_task": _average([o.followups for o in outcomes], 2),
        "average_iterations_to_green": _average(to_green, 2),
        "outcome_sample": len(outcomes),
        # Most frequent first, ties by name.
        "failure_reasons": dict(sorted(Counter(f.reason.value for f in failures).items(), key=lambda item: (-item[1], item[0]))),
        "failure_sample": len(failures),
    }


def _average(values: Sequence[float], digits: int) -> float | None:
    return round(sum(values) / len(values), digits) if values else None


async def _recent_outcomes(client: Client, settings: Settings, phases: tuple[str, ...], scope: list[str]) -> list[TaskOutcome]:
    """The results of the latest OUTCOME_SAMPLE tasks (within `scope`) that ended in one of `phases`."""
    either = " OR ".join(f"{names.TASK_PHASE.name}={quoted(phase)}" for phase in phases)
    query = visibility_query(settings, *scope, "ExecutionStatus='Completed'", f"({either})")
    handles = [
        client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=TaskOutcome)
        async for execution in client.list_workflows(query, limit=OUTCOME_SAMPLE)
    ]
    limit = asyncio.Semaphore(20)

    async def outcome_of(handle: WorkflowHandle) -> TaskOutcome:
        async with limit:
            return await handle.result(follow_runs=False)

    return list(await asyncio.gather(*(outcome_of(handle) for handle in handles)))


def _print(numbers: dict[str, Any]) -> None:
    rate = numbers["success_rate"]
    print(f"Tasks        {numbers['total']} total, {numbers['active']} active "
          f"({numbers['queued']} queued, {numbers['needs_attention']} need attention), {numbers['completed']} completed")
    for label, key in (("Outcomes", "by_outcome"), ("PR status", "by_pr_status"), ("Task types", "by_type"),
                       ("Executions", "by_execution_status")):
        counts = ", ".join(f"{name} {count}" for name, count in numbers[key].items() if count)
        print(f"{label:<12} {counts or '-'}")
    print(f"Success rate {'-' if rate is None else f'{rate}%'} (merged / completed)")
    reasons = ", ".join(f"{reason} {count}" for reason, count in numbers["failure_reasons"].items())
    failures = numbers["failure_sample"]
    print(f"Failures     {reasons} (latest {failures} failed or expired; at most {OUTCOME_SAMPLE})" if failures else "Failures     -")
    sample = numbers["outcome_sample"]
    if not sample:
        print("Time to merge - (no merged or closed tasks yet)")
        return
    merge_time = numbers["average_time_to_merge_s"]
    print(f"Time to merge {'-' if merge_time is None else duration(merge_time)} average")
    green = numbers["average_iterations_to_green"]
    print(f"Follow-ups   {numbers['average_followups_per_task']} per task; {'-' if green is None else green} "
          "iterations to green on average")
    print(f"             (averages over the latest {sample} tasks whose PR merged or closed; at most {OUTCOME_SAMPLE})")
