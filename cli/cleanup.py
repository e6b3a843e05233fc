"""`starter.py cleanup --older-than DAYS [--dry-run]`: delete closed task workflows that closed long ago."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import print_json
from cli.task_workflows import quoted, visibility_query
from settings import Settings

PARALLEL_DELETES = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `cleanup` subcommand."""
    parser = subparsers.add_parser("cleanup", help="delete closed task workflows older than DAYS (never running ones)")
    parser.add_argument("--older-than", type=_days, required=True, metavar="DAYS", help="closed more than DAYS ago (0: all closed)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    parser.add_argument("--json", action="store_true", help="print {deleted, dry_run, workflow_ids} as JSON")
    parser.set_defaults(run=run)


def _days(value: str) -> float:
    days = float(value)
    if days < 0:
        raise argparse.ArgumentTypeError("DAYS must be 0 or more")
    return days


def cleanup_query(settings: Settings, older_than_days: float, now: datetime) -> str:
    """Closed task workflows whose CloseTime is before now - DAYS."""
    cutoff = (now - timedelta(days=older_than_days)).isoformat().replace("+00:00", "Z")
    return visibility_query(settings, "ExecutionStatus!='Running'", f"CloseTime<{quoted(cutoff)}")


def run(args: argparse.Namespace) -> int:
    async def cleanup(client: Client, settings: Settings) -> int:
        query = cleanup_query(settings, args.older_than, datetime.now(UTC))
        # By run id: a newer run of the same task (a retry) is never touched.
        executions = [(execution.id, execution.run_id) async for execution in client.list_workflows(query)]
        if not args.dry_run:
            limit = asyncio.Semaphore(PARALLEL_DELETES)

            async def delete(workflow_id: str, run_id: str) -> None:
                async with limit:
                    await client.workflow_service.delete_workflow_execution(
                        DeleteWorkflowExecutionRequest(
                            namespace=client.namespace,
                            workflow_execution=ExecutionRef(workflow_id=workflow_id, run_id=run_id),
                        )
                    )

            await asyncio.gather(*(delete(*execution) for execution in executions))
        ids = [workflow_id for workflow_id, _ in executions]
        if args.json:
            print_json({"deleted": 0 if args.dry_run else len(ids), "dry_run": args.dry_run, "workflow_ids": ids})
        else:
            verb = "would delete" if args.dry_run else "deleted"
            print(f"{verb} {len(ids)} closed task workflow(s) that closed more than {args.older_than:g} day(s) ago")
        return exit_codes.OK

    return run_with_client(cleanup)
