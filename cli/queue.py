"""`starter.py queue [--repo R] [--json]`: what waits, per repository, and when it should start.

Per repository: its slots in use and its limit (from its RepositorySlotsWorkflow), then its queued tasks in
the order they should be served, each with its priority and an estimated start. A task waiting for the agent
rate limit is placed among all of those, across repositories, by priority and then by how long it has
waited (the server's order, give or take its fairness between repositories), and starts about one creation
interval after the one ahead of it. A task waiting for a slot starts when one frees: that time is unknown.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from agent_rate import AgentRate, read_agent_rate
from cli import exit_codes
from cli.connection import run_with_client
from cli.listing import repository_name
from cli.output import print_json, print_table, timestamp
from cli.task_workflows import quoted, visibility_query
from models import names
from models.slots import RepositorySlots
from models.status import TaskPhase, TaskStatus
from settings import Settings

# Queries at once: the queue may hold a whole backlog.
QUERY_CONCURRENCY = 20


@dataclass
class QueuedTask:
    task_id: str
    workflow_id: str
    repository: str
    priority: int | None
    waiting_for: str
    reason: str
    since: datetime
    estimated_start: datetime | None = None


@dataclass
class RepositoryQueue:
    repository: str
    active: int | None  # None: no limit, so no slots workflow counts them
    limit: int | None
    queued: list[QueuedTask]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `queue` subcommand."""
    parser = subparsers.add_parser("queue", help="tasks waiting for a repository slot or the agent rate, per repository")
    parser.add_argument("--repo", type=repository_name, metavar="OWNER/NAME", help="only this repository")
    parser.add_argument("--json", action="store_true", help="print {agent_rate, repositories} as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    async def queue(client: Client, settings: Settings) -> int:
        rate, repositories = await read_queue(client, settings, args.repo)
        if args.json:
            print_json({"agent_rate": asdict(rate), "repositories": [asdict(r) for r in repositories]})
        else:
            _print(rate, repositories)
        return exit_codes.OK

    return run_with_client(queue)


async def read_queue(client: Client, settings: Settings, repository: str | None) -> tuple[AgentRate, list[RepositoryQueue]]:
    rate, lines, queued = await asyncio.gather(
        read_agent_rate(client, settings.task_queue), _slot_lines(client, settings, repository), _queued_tasks(client, settings, repository)
    )
    _estimate_starts(queued, rate, datetime.now(UTC))
    by_repository: dict[str, RepositoryQueue] = {
        line.repository: RepositoryQueue(line.repository, len(line.holders), line.limit, []) for line in lines
    }
    # In each repository's slot line, its order; then the rest by when they should start.
    place = {waiter.workflow_id: index for line in lines for index, waiter in enumerate(line.waiting)}
    for task in sorted(queued, key=lambda t: (t.estimated_start or datetime.max.replace(tzinfo=UTC), place.get(t.workflow_id, 0), t.since)):
        key = task.repository.lower()
        by_repository.setdefault(key, RepositoryQueue(key, None, None, [])).queued.append(task)
    return rate, [by_repository[key] for key in sorted(by_repository)]


async def _slot_lines(client: Client, settings: Settings, repository: str | None) -> list[RepositorySlots]:
    query = " AND ".join(
        [f"WorkflowType={quoted(names.SLOTS_WORKFLOW_NAME)}", f"TaskQueue={quoted(settings.task_queue)}", "ExecutionStatus='Running'"]
    )
    handles = [client.get_workflow_handle(execution.id) async for execution in client.list_workflows(query)]
    lines = await asyncio.gather(*(handle.query(names.QUERY_SLOTS, result_type=RepositorySlots) for handle in handles))
    return [line for line in lines if repository is None or line.repository == repository.lower()]


async def _queued_tasks(client: Client, settings: Settings, repository: str | None) -> list[QueuedTask]:
    conditions = [f"{names.TASK_PHASE.name}={quoted(TaskPhase.QUEUED.value)}", "ExecutionStatus='Running'"]
    if repository:
        conditions.append(f"{names.REPOSITORY.name}={quoted(repository)}")
    executions = [execution async for execution in client.list_workflows(visibility_query(settings, *conditions))]
    limit = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def queued(workflow_id: str, repository: str) -> QueuedTask | None:
        async with limit:
            status = await client.get_workflow_handle(workflow_id).query(names.QUERY_STATUS, result_type=TaskStatus)
        if status.queued is None:  # it moved on since visibility saw it
            return None
        wait = status.queued
        return QueuedTask(status.task_id, workflow_id, repository, status.priority, wait.waiting_for, wait.reason, wait.since)

    tasks = await asyncio.gather(
        *(queued(e.id, e.typed_search_attributes.get(names.REPOSITORY) or "(none)") for e in executions)
    )
    return [task for task in tasks if task is not None]


def _estimate_starts(queued: list[QueuedTask], rate: AgentRate, now: datetime) -> None:
    """Tasks waiting for the rate, in the server's order, one creation interval apart; none while paused."""
    waiting = sorted((t for t in queued if t.waiting_for == "agent_rate"), key=lambda t: (t.priority or 3, t.since))
    if rate.paused or rate.per_minute <= 0:
        return
    interval = timedelta(minutes=1) / rate.per_minute
    for position, task in enumerate(waiting, start=1):
        task.estimated_start = now + position * interval


def _print(rate: AgentRate, repositories: list[RepositoryQueue]) -> None:
    state = "PAUSED (`starter.py agents resume` ends it)" if rate.paused else f"{rate.per_minute:g} per minute"
    print(f"Agent rate: {state}")
    if not repositories:
        print("Nothing is queued.")
    for line in repositories:
        held = "no limit" if line.limit is None else f"{line.active} of {line.limit} active"
        print(f"\n{line.repository}: {held}, {len(line.queued)} queued")
        if line.queued:
            print_table(
                ["#", "TASK", "PRIORITY", "WAITING FOR", "SINCE", "ESTIMATED START"],
                [[index, t.task_id, t.priority or "", _waiting_for(t), timestamp(t.since), _start(t, rate)]
                 for index, t in enumerate(line.queued, start=1)],
            )  # fmt: skip


def _waiting_for(task: QueuedTask) -> str:
    return "a slot" if task.waiting_for == "repository_slot" else "the agent rate"


def _start(task: QueuedTask, rate: AgentRate) -> str:
    if task.estimated_start is not None:
        return timestamp(task.estimated_start)
    if task.waiting_for == "repository_slot":
        return "when a slot frees"
    return "when resumed" if rate.paused else "soon"
