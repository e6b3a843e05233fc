"""The Temporal server itself crashes mid-flight and comes back on the same port and database file.

Workflows, timers and queued tasks live in the server's persistence, so the worker and the relay
reconnect and every task completes; nothing is started twice.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.contrib.pydantic import pydantic_data_converter

from devstack.services import free_port
from settings import Settings
from tests.fault_harness import (
    assert_expected,
    assert_one_run_per_attempt,
    connect_when_up,
    dev_server_process,
    expected_tasks,
    fake_counters,
    fake_process,
    outcomes,
    start_tasks,
)
from tests.relay_probe import serving
from tests.waiting import wait_until
from webhooks.app import create_app
from worker import running_workers

pytestmark = pytest.mark.faults


async def test_tasks_complete_across_a_temporal_server_crash_and_restart(task_queue: str, tmp_path: Path):
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = dev_server_process(port, tmp_path / "temporal.db", tmp_path / "temporal.log")
    secret = uuid.uuid4().hex
    async with AsyncExitStack() as stack:
        server.start()
        stack.callback(server.stop)
        client = await connect_when_up(server, address, data_converter=pydantic_data_converter)
        relay_url = await stack.enter_async_context(
            serving(create_app(Settings(webhook_secret=SecretStr(secret), task_queue=task_queue), client))
        )
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log", WEBHOOK_SECRET=secret, RELAY_URL=relay_url))
        settings = Settings(
            task_queue=task_queue, codegen_api_url=fake_url, codegen_api_url_explicit=True, github_api_url=fake_url, temporal_address=address
        )
        await stack.enter_async_context(running_workers(client, settings))
        tasks = expected_tasks(10, "restart", run_seconds=2.0)
        handles = await start_tasks(client, task_queue, tasks)

        async def some_runs_started() -> bool:
            return (await fake_counters(fake_url))["runs_total"] >= 4

        await wait_until(some_runs_started, timeout=60, interval=0.1, what="agent runs before the crash")
        server.kill()

        # Down until the fake has tried (and failed) to hand the relay at least one webhook.
        async def a_webhook_failed() -> bool:
            return (await fake_counters(fake_url))["webhooks"].get("failed", 0) > 0

        await wait_until(a_webhook_failed, timeout=30, interval=0.1, what="a webhook refused while Temporal is down")
        server.start()
        await connect_when_up(server, address)
        results = await outcomes(handles, timeout=150)
        counters = await fake_counters(fake_url)

    assert_expected(tasks, results)
    assert_one_run_per_attempt(tasks, counters)
