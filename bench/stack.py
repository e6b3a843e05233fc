"""The stack every end-to-end benchmark runs on, each part in its own process on loopback.

`temporal server start-dev` (in-memory), `python -m fakes` (instant Codegen and GitHub, signed
webhooks), `python relay.py` and `python worker.py`: separate processes, as deployed, so the
worker's RSS is its own and no part borrows another's event loop. Everything started is stopped.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from temporalio.client import Client

import temporal_client
from devstack import services
from devstack.process import ChildProcess
from devstack.readiness import connected, http_ok, ready, worker_polling
from models.names import WEBHOOK_PATH
from settings import Settings

# The fake answers at once: a run completes, checks pass and the PR merges without waiting.
INSTANT_FAKE = {"FAKE_RUN_SECONDS": "0", "FAKE_CHECKS_SECONDS": "0", "FAKE_REVIEW_SECONDS": "0", "FAKE_MERGE_SECONDS": "0"}
STARTUP_TIMEOUT_S = 30.0
# Each child's output, kept for a post-mortem when a benchmark fails.
LOG_DIR = Path(tempfile.gettempdir()) / "codegen-bench"


# How each child process is recognised in its command line, and the part it plays.
PARTS = {"start-dev": "server", "worker.py": "worker", "bench.baseline": "worker", "relay.py": "relay", "fakes": "fake"}


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (this process's children) and by this driver."""
    totals = {part: 0.0 for part in (*PARTS.values(), "driver")}
    processes = [(psutil.Process(), "driver")]
    for child in psutil.Process().children(recursive=True):
        try:
            part = next((part for marker, part in PARTS.items() if marker in child.cmdline()), None)
        except psutil.Error:
            continue
        if part:
            processes.append((child, part))
    for process, part in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        totals[part] += times.user + times.system
    return totals


@dataclass
class Stack:
    """Handles on a running stack: the driver's Temporal client and where each part listens."""

    client: Client
    temporal_address: str
    task_queue: str
    fake_url: str
    relay_url: str
    webhook_secret: str
    worker: ChildProcess


@asynccontextmanager
async def dev_server() -> AsyncIterator[Client]:
    """`temporal server start-dev` on a free loopback port, in memory, headless; yields a connected client."""
    port = services.free_port()
    with services.dev_server(LOG_DIR / "temporal.log", port) as process:
        address = f"127.0.0.1:{port}"
        connect = connected(lambda: temporal_client.connect(Settings(temporal_address=address)))
        yield await ready(f"temporal server start-dev on {address}", connect, timeout=STARTUP_TIMEOUT_S, watched=[process])


@asynccontextmanager
async def worker_process(
    client: Client, task_queue: str, env: dict[str, str], argv: list[str] | None = None
) -> AsyncIterator[ChildProcess]:
    """`python worker.py` (or `argv`) for `task_queue`, yielded once it polls."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "TEMPORAL_TASK_QUEUE": task_queue, **env}
    with services.worker(LOG_DIR / f"{task_queue}.log", argv=argv, **env) as process:
        await ready(f"a worker polling {task_queue}", worker_polling(client, task_queue), timeout=STARTUP_TIMEOUT_S, watched=[process])
        yield process


@asynccontextmanager
async def relay_process(temporal_address: str, secret: str) -> AsyncIterator[str]:
    """`python relay.py` on a free loopback port; yields its webhook URL once it is ready."""
    port = services.free_port()
    base = f"http://127.0.0.1:{port}"
    with services.relay(LOG_DIR / "relay.log", port, TEMPORAL_ADDRESS=temporal_address, WEBHOOK_SECRET=secret) as process:
        await ready("relay.py's /readyz", http_ok(f"{base}/readyz"), timeout=STARTUP_TIMEOUT_S, watched=[process])
        yield f"{base}{WEBHOOK_PATH}"


@asynccontextmanager
async def full_stack(*, fake_env: dict[str, str] | None = None, worker_env: dict[str, str] | None = None) -> AsyncIterator[Stack]:
    """Dev server, relay, fake (instant unless `fake_env` says otherwise; webhooks to the relay) and
    `python worker.py` in mock mode against the fake (`worker_env` on top)."""
    secret = uuid.uuid4().hex
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(dev_server())
        address = client.service_client.config.target_host
        relay_url = await stack.enter_async_context(relay_process(address, secret))
        fake_url = await stack.enter_async_context(
            services.run_fake_process(
                {**INSTANT_FAKE, **(fake_env or {}), "WEBHOOK_SECRET": secret, "RELAY_URL": relay_url}, log=LOG_DIR / "fake.log"
            )
        )
        env = {
            "CODEGEN_MOCK": "1",
            "CODEGEN_API_URL": fake_url,
            "GITHUB_API_URL": fake_url,
            "WEBHOOK_SECRET": secret,
            "RELAY_URL": relay_url,
            # The fake has no creation limit; the benchmark measures us, not a rate limit.
            "CODEGEN_CREATE_RATE_PER_MINUTE": "1000000000",
            **(worker_env or {}),
        }
        worker = await stack.enter_async_context(worker_process(client, task_queue, env))
        yield Stack(client, address, task_queue, fake_url, relay_url, secret, worker)


async def fake_counters(fake_url: str) -> dict[str, Any]:
    """The fake's `/_admin/counters`: requests by endpoint and status, runs in progress, Codegen quota use."""
    async with httpx.AsyncClient(base_url=fake_url) as http:
        return (await http.get("/_admin/counters")).json()


async def fake_run_created_at(fake_url: str, org_id: str) -> dict[int, datetime]:
    """When the fake created each run of `org_id`, read from its run list as the worker reads it.

    These are Codegen reads: where the fake enforces a read limit, call this after its counters are taken.
    """
    created: dict[int, datetime] = {}
    async with httpx.AsyncClient(base_url=fake_url, headers={"Authorization": "Bearer bench"}) as http:
        skip = 0
        while True:
            response = await http.get(f"/v1/organizations/{org_id}/agent/runs", params={"skip": skip, "limit": 100})
            if response.status_code == 429:  # the worker's last reads may still fill the window
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            response.raise_for_status()
            page = response.json()
            created |= {item["id"]: datetime.fromisoformat(item["created_at"]) for item in page["items"]}
            skip += 100
            if skip >= page["total"]:
                return created


async def settle_webhooks(fake_url: str, *, timeout: float) -> None:
    """Wait until the fake has sent every webhook it queued, so earlier ones never overlap a measurement."""
    async with httpx.AsyncClient(base_url=fake_url) as http:
        deadline = time.monotonic() + timeout
        while (await http.get("/_admin/counters")).json()["webhooks_pending"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake still had webhooks to send after {timeout:.0f} s")
            await asyncio.sleep(0.2)
