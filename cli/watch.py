"""`starter.py watch ID`: follow a task live (phase changes, timeline entries) until its outcome."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from cli import exit_codes
from cli.connection import run_with_client
from cli.output import fail, print_json
from cli.task_view import render_outcome, timeline_line
from cli.task_workflows import TaskLookupError, find_task, web_ui_url
from models.names import QUERY_STATUS
from models.status import TaskOutcome, TaskStatus, TimelineEntry
from settings import Settings

QUERY_TIMEOUT = timedelta(seconds=5)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `watch` subcommand."""
    parser = subparsers.add_parser("watch", help="follow a task live until its outcome; exit 0 if merged")
    parser.add_argument("id", metavar="ID", help="task id or workflow id")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="how often to ask (default 1)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON at the end")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def watch(client: Client, settings: Settings) -> int:
        try:
            workflow_id = (await find_task(client, settings, args.id)).id
        except TaskLookupError as error:
            return fail(str(error), exit_codes.FAILURE)
        print(f"watching {workflow_id}  {web_ui_url(settings, workflow_id)}  (Ctrl-C stops watching, not the task)", flush=True)
        return await follow(client.get_workflow_handle(workflow_id, result_type=TaskOutcome), args.interval, as_json=args.json, settings=settings)

    return run_with_client(watch)


async def follow(handle: WorkflowHandle, interval: float, *, as_json: bool, settings: Settings) -> int:
    """Print what changes until the workflow (following continue-as-new) ends; 0 only if merged."""
    # The result arrives by long poll; the status query is polled beside it for progress.
    result = asyncio.ensure_future(handle.result())
    progress = _Progress()
    try:
        while not result.done():
            await progress.update(handle)
            await asyncio.wait([result], timeout=interval)
        # The last entries, if a worker still answers queries on the closed workflow.
        await progress.update(handle, quiet=True)
        outcome = result.result()
    except WorkflowFailureError as error:
        return fail(f"{handle.id} did not finish with an outcome: {error.cause or error}", exit_codes.FAILURE)
    finally:
        result.cancel()
    if as_json:
        print_json(outcome.model_dump(mode="json"))
    else:
        print(render_outcome(outcome, web_ui_url(settings, handle.id)))
    return exit_codes.OK if outcome.status == "merged" else exit_codes.FAILURE


class _Progress:
    """What has been printed so far, so each poll prints only what is new."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.seen: set[tuple[object, str, str]] = set()
        self.worker_silent = False

    async def update(self, handle: WorkflowHandle, *, quiet: bool = False) -> None:
        try:
            status = await handle.query(QUERY_STATUS, result_type=TaskStatus, rpc_timeout=QUERY_TIMEOUT)
        except (WorkflowQueryFailedError, RPCError) as error:
            if not (self.worker_silent or quiet):
                print(f"(no answer to the status query: {error}; still waiting)", flush=True)
            self.worker_silent = True
            return
        self.worker_silent = False
        if status.phase.value != self.phase:
            self.phase = status.phase.value
            print(f"phase: {self.phase}  (attempt {status.attempt}/{status.max_attempts})", flush=True)
        for entry in status.timeline:
            if _key(entry) not in self.seen:
                self.seen.add(_key(entry))
                print(f"  {timeline_line(entry)}", flush=True)


def _key(entry: TimelineEntry) -> tuple[object, str, str]:
    return (entry.at, entry.event, entry.detail)
