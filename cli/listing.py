"""`starter.py list [--phase P] [--type T] [--repo R] [--status running|closed|all]`: task workflows from visibility."""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from temporalio.client import Client, WorkflowExecution

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import print_json, print_table, timestamp
from cli.task_workflows import quoted, visibility_query
from models import names
from models.status import TaskPhase, TaskStatus
from models.task import REPOSITORY_PATTERN, TaskType
from settings import Settings

EXECUTION_FILTERS = {"running": "ExecutionStatus='Running'", "closed": "ExecutionStatus!='Running'", "all": None}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `list` subcommand."""
    parser = subparsers.add_parser("list", help="task workflows, newest first, filtered by search attributes")
    parser.add_argument("--phase", choices=[phase.value for phase in TaskPhase], help="TaskPhase")
    parser.add_argument("--type", choices=[kind.value for kind in TaskType], help="TaskType")
    parser.add_argument("--repo", type=repository_name, metavar="OWNER/NAME", help="Repository")
    parser.add_argument("--graph", metavar="GRAPH", help="GraphId: the tasks of one graph")
    parser.add_argument("--status", choices=list(EXECUTION_FILTERS), default="all", help="workflow state (default all)")
    parser.add_argument("--limit", type=_limit, default=50, metavar="N", help="at most N rows (default 50)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(run=run)


def repository_name(value: str) -> str:
    if not re.match(REPOSITORY_PATTERN, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not owner/name")
    return value


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if limit < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; expected 0 or more rows")
    return limit


def list_query(settings: Settings, args: argparse.Namespace) -> str:
    """The visibility query for the filters given."""
    conditions = [
        f"{key.name}={quoted(value)}"
        for key, value in (
            (names.TASK_PHASE, args.phase), (names.TASK_TYPE, args.type), (names.REPOSITORY, args.repo), (names.GRAPH_ID, args.graph)
        )
        if value
    ]
    execution_filter = EXECUTION_FILTERS[args.status]
    if execution_filter:
        conditions.append(execution_filter)
    return visibility_query(settings, *conditions)


def run(args: argparse.Namespace) -> int:
    async def list_tasks(client: Client, settings: Settings) -> int:
        rows = [_row(execution) async for execution in client.list_workflows(list_query(settings, args), limit=args.limit)]
        await _say_why_queued(client, rows)
        if args.json:
            print_json(rows)
        else:
            print_table(
                ["TASK", "TYPE", "PHASE", "PR", "PR STATUS", "STATE", "STARTED", "WAITING FOR"],
                [[r["task_id"], r["task_type"], r["phase"], r["pr_key"], r["pr_status"], r["execution_status"], timestamp(r["start_time"]),
                  (r["queued_reason"] or "").removeprefix("waiting for ")]
                 for r in rows],
            )
        return exit_codes.OK

    return run_with_client(list_tasks)


async def _say_why_queued(client: Client, rows: list[dict[str, Any]]) -> None:
    """`queued_reason` for each queued task, from its status (visibility keeps only the phase)."""

    async def reason(row: dict[str, Any]) -> None:
        if row["phase"] == TaskPhase.QUEUED.value and row["execution_status"] == "running":
            status = await client.get_workflow_handle(row["workflow_id"]).query(names.QUERY_STATUS, result_type=TaskStatus)
            row["queued_reason"] = status.queued.reason if status.queued else None

    await asyncio.gather(*(reason(row) for row in rows))


def _row(execution: WorkflowExecution) -> dict[str, Any]:
    attributes = execution.typed_search_attributes
    return {
        "task_id": attributes.get(names.TASK_ID),
        "workflow_id": execution.id,
        "task_type": attributes.get(names.TASK_TYPE),
        "phase": attributes.get(names.TASK_PHASE),
        "pr_key": attributes.get(names.PR_KEY),
        "pr_status": attributes.get(names.PR_STATUS),
        "repository": attributes.get(names.REPOSITORY),
        "execution_status": execution.status.name.lower() if execution.status else None,
        "start_time": execution.start_time,
        "close_time": execution.close_time,
        "queued_reason": None,
    }
