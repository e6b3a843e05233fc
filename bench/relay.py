"""Signed deliveries through the relay against the same signals sent straight with the Temporal client.

    python -m bench.relay [--deliveries 5000] [--concurrency 50] [--sequential 500] [--workflows 100]

Targets are real task workflows waiting on open PRs (the fake leaves them open). Each delivery is a
`check_run` completed event for one of those PRs (GitHub's 14 kB payload, signed like GitHub);
the relay verifies it, finds the workflow by its PR key in visibility and signals `check_result`.
Throughput: `--deliveries` with `--concurrency` in flight. Latency: `--sequential` one at a time,
as GitHub sends one hook's deliveries; each is timed from request to the relay's 202 (the signal is
in Temporal's history by then). The direct runs send the same `CheckResult` signals by workflow id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client

from bench.results import record
from bench.stack import Stack, full_stack, settle_webhooks
from bench.tasks import RUNNING_TASKS, percentile, start_tasks, wait_for_count
from devstack import ROOT
from models import names
from models.names import SIGNAL_CHECK_RESULT
from models.signals import CheckResult
from webhooks.signature import sign

TEMPLATE = ROOT / "tests" / "payloads" / "check_run.completed.json"
OPEN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class OpenPullRequest:
    workflow_id: str
    repository: str
    number: int
    head_sha: str


@dataclass
class Sent:
    """What a batch of sends came to: wall time, per-send latencies, and failures by kind."""

    seconds: float
    latencies_ms: list[float]
    errors: Counter[str]

    @property
    def per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds


async def open_pull_requests(stack: Stack, count: int) -> list[OpenPullRequest]:
    """`count` task workflows tracking PRs the fake leaves open; no GitHub reads while measuring."""
    await start_tasks(stack.client, stack.task_queue, count, scenario={"outcome": "leave_open"}, options={"reconcile_interval": 3600})
    tracking = f"{RUNNING_TASKS} AND TaskQueue = '{stack.task_queue}' AND TaskPhase = 'tracking_pr'"
    await wait_for_count(stack.client, tracking, lambda n: n >= count, timeout=OPEN_TIMEOUT_S, what="tasks tracking a PR")
    found = []
    async for execution in stack.client.list_workflows(tracking, page_size=1000):
        attributes = execution.typed_search_attributes
        repository, number = attributes.get(names.PR_KEY).split("#")
        found.append(OpenPullRequest(execution.id, repository, int(number), attributes.get(names.PR_HEAD_SHA)))
    await settle_webhooks(stack.fake_url, timeout=OPEN_TIMEOUT_S)
    return found


def signed_deliveries(prs: list[OpenPullRequest], count: int, secret: str) -> list[tuple[bytes, dict[str, str]]]:
    """`count` check_run deliveries spread over `prs`, each with its own delivery id and signature."""
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    bodies = []
    for pr in prs:
        template["repository"]["full_name"] = pr.repository
        template["repository"]["name"] = pr.repository.split("/")[1]
        template["check_run"]["head_sha"] = pr.head_sha
        template["check_run"]["pull_requests"][0]["number"] = pr.number
        bodies.append(json.dumps(template).encode())
    deliveries = []
    for index in range(count):
        body = bodies[index % len(bodies)]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": "check_run",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(secret, body),
        }
        deliveries.append((body, headers))
    return deliveries


def direct_signals(prs: list[OpenPullRequest], count: int) -> list[tuple[str, CheckResult]]:
    """The signals the relay would send for as many deliveries."""
    return [
        (pr.workflow_id, CheckResult(delivery_id=str(uuid.uuid4()), head_sha=pr.head_sha, name="tests (3.11)", conclusion="success"))
        for pr in (prs[index % len(prs)] for index in range(count))
    ]


async def timed(items: list[Any], senders: list[Callable[[Any], Awaitable[None]]]) -> Sent:
    """Send `items`, one lane per sender (so `len(senders)` in flight), timing each; an exception counts as an error by its type."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    pending = iter(items)

    async def lane(send: Callable[[Any], Awaitable[None]]) -> None:
        for item in pending:
            began = time.perf_counter()
            try:
                await send(item)
            except Exception as error:  # a failed send is a figure, not a crash
                errors[type(error).__name__] += 1
            latencies.append((time.perf_counter() - began) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(lane(send) for send in senders))
    return Sent(time.perf_counter() - started, latencies, errors)


class RelayRefused(Exception):
    """The relay answered something other than 202 (signalled)."""


class HookshotConnection:
    """One keep-alive HTTP/1.1 connection posting deliveries, as GitHub's sender keeps one per hook.

    A bare loop rather than httpx: with 50 connections httpx's pool spends more CPU per request
    than the relay does, so on two cores it would measure the client instead of the relay.
    """

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self._host, self._port, self._path = parsed.host, parsed.port, parsed.raw_path.decode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> HookshotConnection:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._writer is not None
        self._writer.close()
        await self._writer.wait_closed()

    async def post(self, delivery: tuple[bytes, dict[str, str]]) -> None:
        """POST one delivery; raises RelayRefused unless the relay answers 202."""
        assert self._reader is not None and self._writer is not None
        body, headers = delivery
        lines = [f"POST {self._path} HTTP/1.1", f"Host: {self._host}:{self._port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
        )
        answer = await self._reader.readexactly(length)
        if head[9:12] != b"202":
            raise RelayRefused(f"{head[9:12].decode()} {answer[:200].decode(errors='replace')}")


async def through_relay(url: str, deliveries: list[tuple[bytes, dict[str, str]]], concurrency: int) -> Sent:
    async with AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(HookshotConnection(url)) for _ in range(concurrency)]
        return await timed(deliveries, [connection.post for connection in connections])


async def direct(client: Client, signals: list[tuple[str, CheckResult]], concurrency: int) -> Sent:
    async def send(signal: tuple[str, CheckResult]) -> None:
        workflow_id, result = signal
        await client.get_workflow_handle(workflow_id).signal(SIGNAL_CHECK_RESULT, result)

    return await timed(signals, [send] * concurrency)


async def measure(deliveries: int, concurrency: int, sequential: int, workflows: int) -> dict[str, Any]:
    async with full_stack() as stack:
        prs = await open_pull_requests(stack, workflows)
        relayed = await through_relay(stack.relay_url, signed_deliveries(prs, deliveries, stack.webhook_secret), concurrency)
        straight = await direct(stack.client, direct_signals(prs, deliveries), concurrency)
        relayed_one = await through_relay(stack.relay_url, signed_deliveries(prs, sequential, stack.webhook_secret), 1)
        straight_one = await direct(stack.client, direct_signals(prs, sequential), 1)
    errors = relayed.errors + relayed_one.errors
    return {
        "deliveries": deliveries,
        "concurrency": concurrency,
        "sequential": sequential,
        "workflows": workflows,
        "per_s": round(relayed.per_s),
        "direct_per_s": round(straight.per_s),
        "ratio": round(relayed.per_s / straight.per_s, 2),
        "concurrent_p99_ms": round(percentile(relayed.latencies_ms, 0.99), 1),
        "direct_concurrent_p99_ms": round(percentile(straight.latencies_ms, 0.99), 1),
        "p50_ms": round(percentile(relayed_one.latencies_ms, 0.5), 1),
        "p99_ms": round(percentile(relayed_one.latencies_ms, 0.99), 1),
        "direct_p50_ms": round(percentile(straight_one.latencies_ms, 0.5), 1),
        "direct_p99_ms": round(percentile(straight_one.latencies_ms, 0.99), 1),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "direct_errors": sum((straight.errors + straight_one.errors).values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--workflows", type=int, default=100)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.deliveries, args.concurrency, args.sequential, args.workflows))
    print(figures)
    record("relay", figures)


if __name__ == "__main__":
    main()
