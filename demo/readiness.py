"""Waiting for the started services to be usable: conditions polled with deadlines, never fixed sleeps."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from child_process import ChildProcess

POLL_SECONDS = 0.2


class DemoError(Exception):
    """The demo cannot go on; the message says what happened, `log_tails` the logs that explain it.

    The tails are read when the error is raised, before stopping the services adds shutdown noise.
    """

    def __init__(self, message: str, services: list[ChildProcess] | None = None) -> None:
        super().__init__(message)
        self.log_tails = {service.log: service.log_tail() for service in services or []}


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on the port (connections lingering after a previous run do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers themselves do; on Linux a listening socket still makes bind fail.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


async def wait_until(
    what: str, check: Callable[[], Awaitable[bool]], timeout: float, watched: list[ChildProcess]
) -> None:
    """Poll `check` until it returns True; fail when `timeout` passes or a watched process exits."""
    deadline = time.monotonic() + timeout
    while True:
        for service in watched:
            code = service.exited()
            if code is not None:
                raise DemoError(f"{service.name} exited with code {code} while waiting for {what}", [service])
        if await check():
            return
        if time.monotonic() >= deadline:
            raise DemoError(f"{what}: not ready after {timeout:.0f} s", watched)
        await asyncio.sleep(POLL_SECONDS)


def http_ok(url: str) -> Callable[[], Awaitable[bool]]:
    """A check that GET `url` answers 2xx."""

    async def check() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                return (await http.get(url)).is_success
        except httpx.HTTPError:
            return False

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
