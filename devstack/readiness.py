"""Waiting for started things to be usable: a check polled until it holds, with a deadline, and only
while the processes it depends on keep running. Everything the dev stack starts is waited for this way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack.process import ChildFailure, ChildProcess

POLL_SECONDS = 0.2
T = TypeVar("T")


async def ready(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    watched: Sequence[ChildProcess] = (),
    interval: float = POLL_SECONDS,
) -> T:
    """Poll `check` every `interval` seconds until it returns something truthy, and return that; fail
    (ChildFailure, with the watched processes' logs) when `timeout` passes or a `watched` process exits."""
    deadline = time.monotonic() + timeout
    while True:
        for process in watched:
            code = process.exited()
            if code is not None:
                raise ChildFailure(f"{process.name} exited with code {code} while waiting for {what}", [process])
        if result := await check():
            return result
        if time.monotonic() >= deadline:
            raise ChildFailure(f"{what}: not ready after {timeout:.0f} s", watched)
        await asyncio.sleep(interval)


def http_ok(url: str) -> Callable[[], Awaitable[bool]]:
    """A check that GET `url` answers 2xx."""

    async def check() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                return (await http.get(url)).is_success
        except httpx.HTTPError:
            return False

    return check


def connected(connect: Callable[[], Awaitable[Client]]) -> Callable[[], Awaitable[Client | None]]:
    """A check that `connect` reaches Temporal: the client once it does."""

    async def check() -> Client | None:
        try:
            return await connect()
        except RuntimeError:  # the SDK's "failed client connect"
            return None

    return check


def worker_polling(client: Client, task_queue: str) -> Callable[[], Awaitable[bool]]:
    """A check that some worker polls `task_queue` for workflow tasks."""

    async def check() -> bool:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return bool(response.pollers)

    return check
