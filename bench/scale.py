"""Many tasks open at once, waiting on their PRs, then all merged by webhooks.

    python -m bench.scale [--open 10000]

The fake leaves every PR open (`outcome: leave_open`), so each task reaches `tracking_pr` and
waits. Then `starter.py stats` is timed with all of them open, and every PR is merged through the
fake's admin endpoint, which sends GitHub's signed `pull_request` closed webhook to the relay.
Drain time runs from the first merge to the last of those tasks closing; `lost` counts merged
PRs whose task did not end merged. The worker's RSS (its own process, `python worker.py`) is sampled throughout.
Tasks read GitHub every 10 minutes as with the real API (the mock-mode default of seconds
would mean 10,000 reads every few seconds, which is not what a team with 10,000 PRs runs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable
from typing import Any

import httpx
import psutil

from bench.results import record
from bench.stack import Stack, full_stack, settle_webhooks
from bench.tasks import REAL_RECONCILE_S, RUNNING_TASKS, bounded, start_tasks, wait_for_count
from devstack import ROOT
from models import names

# CI takes a while after a PR opens. Checks finishing the instant it opens would beat the task to
# publishing its PR, and every such delivery would keep the relay asking visibility for its patience
# (about 8 queries), which with thousands open became most of the server's work.
CHECKS_AFTER = {"FAKE_CHECKS_SECONDS": "10"}
MERGE_CONCURRENCY = 20
RSS_SAMPLE_EVERY_S = 0.5


class PeakRss:
    """Samples a process's resident memory in the background; `peak_mb` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak_mb = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            try:
                self.peak_mb = max(self.peak_mb, self._process.memory_info().rss / 2**20)
            except psutil.Error:
                return
            await asyncio.sleep(RSS_SAMPLE_EVERY_S)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


def time_stats_command(stack: Stack) -> float:
    """Wall time of `python starter.py stats --json` against the stack, as a user would run it."""
    env = {**os.environ, "TEMPORAL_ADDRESS": stack.temporal_address, "TEMPORAL_TASK_QUEUE": stack.task_queue}
    began = time.perf_counter()
    subprocess.run([sys.executable, "starter.py", "stats", "--json"], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


async def merge_all(stack: Stack, tracking_query: str, problems: list[str]) -> int:
    """Merge every tracked PR through the fake (each sends its webhook); returns how many merged.

    A merge the fake does not answer is a finding, added to `problems`: an 8,700-PR run lost
    everything it had measured to one dropped connection.
    """
    keys = [
        execution.typed_search_attributes.get(names.PR_KEY)
        async for execution in stack.client.list_workflows(tracking_query, page_size=1000)
    ]
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=stack.fake_url, timeout=30) as http:

        async def merge(index: int) -> bool:
            repository, number = keys[index].split("#")
            try:
                (await http.post(f"/_admin/pulls/{repository}/{number}/merge")).raise_for_status()
            except httpx.HTTPError as error:
                failures.append(f"{keys[index]}: {error!r}")
                return False
            return True

        merged = sum(await bounded(len(keys), MERGE_CONCURRENCY, merge))
    if failures:
        problems.append(f"{len(failures)} of {len(keys)} merges failed, the first {failures[0]}")
    return merged


async def open_tasks(stack: Stack, settled_query: str, count: int, window: int, *, timeout: float) -> None:
    """Start `count` tasks, keeping at most `window` of them still on their way to an open PR.

    Teams submit tasks over time; starting 10,000 in one instant would only measure the worker's
    cache thrashing (every task in flight at once, each evicted between its activities).
    """
    deadline = time.monotonic() + timeout
    started = 0
    while True:
        settled = (await stack.client.count_workflows(settled_query)).count
        if settled >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {settled} of {count} tasks reached an open PR (or ended) within {timeout:.0f} s")
        batch = min(window - (started - settled), count - started)
        if batch > 0:
            await start_tasks(
                stack.client, stack.task_queue, batch,
                scenario={"outcome": "leave_open"}, options={"reconcile_interval": REAL_RECONCILE_S},
            )  # fmt: skip
            started += batch
        await asyncio.sleep(0.5)


async def measure(open_count: int, open_timeout: float, drain_timeout: float, window: int = 400) -> dict[str, Any]:
    async with full_stack(fake_env=CHECKS_AFTER) as stack:
        in_queue = f"WorkflowType = 'CodegenTaskWorkflow' AND TaskQueue = '{stack.task_queue}'"
        tracking = f"{RUNNING_TASKS} AND TaskQueue = '{stack.task_queue}' AND TaskPhase = 'tracking_pr'"
        settled = f"{in_queue} AND (TaskPhase = 'tracking_pr' OR ExecutionStatus != 'Running')"
        problems: list[str] = []

        async def waiting(step: Awaitable[Any]) -> None:
            # A step that runs out of time is a finding to report with the rest, not a crash.
            try:
                await step
            except TimeoutError as error:
                problems.append(str(error))
                print(f"scale: {error}", file=sys.stderr)

        with PeakRss(stack.worker.pid) as rss:
            began = time.perf_counter()
            await waiting(open_tasks(stack, settled, open_count, window, timeout=open_timeout))
            open_s = time.perf_counter() - began
            opened = (await stack.client.count_workflows(tracking)).count
            # The new PRs' check webhooks are part of opening; merges should not queue behind them.
            await waiting(settle_webhooks(stack.fake_url, timeout=open_timeout))
            stats_s = await asyncio.to_thread(time_stats_command, stack)
            rss_open_mb = rss.peak_mb
            began = time.perf_counter()
            merged_prs = await merge_all(stack, tracking, problems)
            # Only the tasks whose PR was merged are waited on; any that reached a PR later are not.
            ended_merged = f"{in_queue} AND TaskPhase = 'merged' AND ExecutionStatus = 'Completed'"
            await waiting(wait_for_count(stack.client, ended_merged, lambda n: n >= merged_prs, timeout=drain_timeout, what="tasks ended merged"))
            drain_s = time.perf_counter() - began
            merged = (await stack.client.count_workflows(ended_merged)).count
    return {
        "open": opened,
        "requested": open_count,
        "starting_window": window,
        "open_s": round(open_s, 1),
        "worker_rss_mb": round(rss.peak_mb),
        "worker_rss_open_mb": round(rss_open_mb),
        "stats_s": round(stats_s, 2),
        "merged_prs": merged_prs,
        "drain_s": round(drain_s, 1),
        # Tasks whose PR was merged but that did not end merged.
        "lost": merged_prs - merged,
        "problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000, help="tasks open at once")
    parser.add_argument("--open-timeout", type=float, default=1800)
    parser.add_argument("--drain-timeout", type=float, default=900)
    parser.add_argument("--window", type=int, default=400, help="tasks on their way to a PR at once")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.open, args.open_timeout, args.drain_timeout, args.window))
    print(figures)
    record("scale", figures)


if __name__ == "__main__":
    main()
