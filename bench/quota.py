"""Codegen's and GitHub's limits under load, each part on its own stack with the fake enforcing them.

    python -m bench.quota [--part creates --part runs --part github] [--runs 1000] [--run-seconds S] [--prs 200]

- creates: a backlog of several windows' worth of tasks against Codegen's minute-long create window with
  its limit scaled up (120 a minute), the worker's rate just below it; creations per minute over the steady
  part (after the first window's worth) from the fake's run `created_at`, divided by the limit.
- runs: `--runs` tasks against Codegen's real read limit (60 GETs per 30 s at the fake and in the
  worker), no create limit at the fake and the worker creating 300 a minute, each run taking
  `--run-seconds`, so they are all in progress at once;
  the most at once is the fake's count. A run ends at the fake `run_seconds` after its `created_at`
  (its lifecycle sleeps that long; a late event loop only ends it later, so the figure errs high); the
  task noticed it at its attempt's `finished_at`, the workflow time of the task that took the news
  (the watcher's `agent_run` signal or the task's own look), read from each task's result.
- github: `--prs` tasks with PRs left open and quiet (checks done, no review, no webhooks after), their
  reconcile reads on the real schedule (10 minutes, backing off to an hour) scaled down TIME_SCALE times,
  after the backoff has reached its ceiling; GitHub requests the fake answered other than 304 (a 304 is
  free) over the window, per PR per scaled hour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from bench.results import RESULTS_PATH, record
from bench.stack import fake_counters, fake_run_created_at, full_stack, settle_webhooks
from bench.tasks import (
    REAL_RECONCILE_MAX_S,
    REAL_RECONCILE_S,
    RUNNING_TASKS,
    bounded,
    finished,
    percentile,
    start_tasks,
    wait_for_count,
)
from models.names import WORKFLOW_NAME
from models.status import TaskOutcome
from settings import Settings

PARTS = ("creates", "runs", "github")

CREATE_LIMIT = 120
CREATE_WINDOW_S = 60.0
BACKLOG_WINDOWS = 4
# Temporal paces the create queue evenly, but lets a second's worth through at once (two creations at this
# scale; one at Codegen's real 10 a minute), and each create reaches the fake after a delay of its own: at
# exactly the limit, a window could hold one too many. Codegen's own minute-long window, with 3% below the
# limit, leaves a creation and a half for both.
CREATE_RATE_SHARE = 0.97

# Codegen's published read limit: every GET, the run list included.
READ_LIMIT = 60
READ_WINDOW_S = 30
# Every first try of a create looks at the newest page of runs (a run made before a reset is adopted, not
# made twice); tries queued together share that read, and the watcher reads through its own half of the
# budget, so creates may go much faster than reads. (Before that, at full speed the creates' reads filled
# the limit, creates waited past their start-to-close for a read and their retries made second runs: 1,635
# runs for 1,000 tasks.) 300 a minute puts 1,000 runs in progress within a few minutes.
RUNS_CREATE_RATE_PER_MINUTE = 300
# Runs last as long as creating them all takes (Temporal's queue delivers about its set rate),
# and a margin, so that they all overlap.
RUN_OVERLAP_MARGIN = 1.2
RUN_EXTRA_S = 30.0

# The real schedule of a quiet PR's reads, run this many times faster: 10 minutes -> 5 s, 1 hour -> 30 s.
TIME_SCALE = 120
GITHUB_WINDOW_S = 180.0

FINISH_TIMEOUT_S = 900.0


async def measure_creates(limit: int = CREATE_LIMIT, window_s: float = CREATE_WINDOW_S, windows: int = BACKLOG_WINDOWS) -> dict[str, Any]:
    per_minute = limit * 60 / window_s
    fake_env = {"FAKE_CODEGEN_CREATE_LIMIT": str(limit), "FAKE_CODEGEN_CREATE_WINDOW_SECONDS": str(window_s)}
    worker_env = {"CODEGEN_CREATE_RATE_PER_MINUTE": str(per_minute * CREATE_RATE_SHARE)}
    async with full_stack(fake_env=fake_env, worker_env=worker_env) as stack:
        ids = await start_tasks(stack.client, stack.task_queue, limit * windows)
        await finished(stack.client, WORKFLOW_NAME, stack.task_queue, ids, timeout=FINISH_TIMEOUT_S + windows * window_s)
        quota = (await fake_counters(stack.fake_url))["codegen_quota"]
        created = sorted((await fake_run_created_at(stack.fake_url, Settings().codegen_org_id)).values())
    # The first window's worth is the ramp: tasks still arriving, the queue's first token at once.
    steady = created[limit:]
    achieved = 60 * (len(steady) - 1) / (steady[-1] - steady[0]).total_seconds()
    return {
        "creates_limit_per_minute": round(per_minute, 1),
        "creates_limit": f"{limit} per {window_s:g} s",
        "creates_worker_rate_per_minute": round(per_minute * CREATE_RATE_SHARE, 1),
        "creates_backlog": len(ids),
        "creates_per_minute": round(achieved, 1),
        "creates_ratio": round(achieved / per_minute, 3),
        "creates_accepted": quota["creates_accepted"],
        "create_429s": quota["create_429s"],
    }


async def task_outcome(client: Client, workflow_id: str) -> TaskOutcome:
    return await client.get_workflow_handle(workflow_id, result_type=TaskOutcome).result()


def default_run_seconds(count: int) -> float:
    return round(count * 60 / RUNS_CREATE_RATE_PER_MINUTE * RUN_OVERLAP_MARGIN + RUN_EXTRA_S)


async def measure_runs(count: int, run_seconds: float | None = None) -> dict[str, Any]:
    run_seconds = run_seconds or default_run_seconds(count)
    fake_env = {"FAKE_CODEGEN_READ_LIMIT": str(READ_LIMIT), "FAKE_CODEGEN_READ_WINDOW_SECONDS": str(READ_WINDOW_S), "FAKE_RUN_SECONDS": str(run_seconds)}
    worker_env = {"CODEGEN_READS_PER_30S": str(READ_LIMIT * 30 // READ_WINDOW_S), "CODEGEN_CREATE_RATE_PER_MINUTE": str(RUNS_CREATE_RATE_PER_MINUTE)}
    async with full_stack(fake_env=fake_env, worker_env=worker_env) as stack:
        began = time.monotonic()
        ids = await start_tasks(stack.client, stack.task_queue, count)
        started_s = time.monotonic() - began
        await finished(stack.client, WORKFLOW_NAME, stack.task_queue, ids, timeout=FINISH_TIMEOUT_S + run_seconds)
        total_s = time.monotonic() - began
        counters = await fake_counters(stack.fake_url)
        outcomes: list[TaskOutcome] = await bounded(len(ids), 50, lambda index: task_outcome(stack.client, ids[index]))
        created = await fake_run_created_at(stack.fake_url, Settings().codegen_org_id)
    ended = timedelta(seconds=run_seconds)
    creates_span_s = (max(created.values()) - min(created.values())).total_seconds()
    notices = [
        (attempt.finished_at - (created[attempt.agent_run_id] + ended)).total_seconds()
        for outcome in outcomes
        for attempt in outcome.attempts
        if attempt.outcome == "pr_opened" and attempt.finished_at and attempt.agent_run_id in created
    ]
    reads = {
        endpoint.rsplit("/", 1)[-1]: statuses
        for endpoint, statuses in counters["requests"].items()
        if endpoint.startswith("GET /v1/")
    }
    quota = counters["codegen_quota"]
    # Runs made for a task attempt that already had one: orphaned agents, not tasks' runs at once.
    duplicates = sum(sum(attempts.values()) - len(attempts) for attempts in counters["runs_created"].values())
    return {
        "runs": count,
        "run_seconds": run_seconds,
        "create_rate_per_minute": RUNS_CREATE_RATE_PER_MINUTE,
        "started_s": round(started_s, 1),
        "creates_span_s": round(creates_span_s, 1),
        "total_s": round(total_s, 1),
        # Exact when the runs outlast the creating (creates_span_s < run_seconds): every duplicate was then in
        # progress at the peak; a lower bound otherwise.
        "concurrent_runs": counters["runs_in_progress_max"] - duplicates,
        "runs_in_progress_max": counters["runs_in_progress_max"],
        "duplicate_runs": duplicates,
        "merged": sum(outcome.status == "merged" for outcome in outcomes),
        "noticed": len(notices),
        "notice_p50_s": round(percentile(notices, 0.5), 1),
        "notice_p95_s": round(percentile(notices, 0.95), 1),
        "notice_max_s": round(max(notices), 1),
        "reads_accepted": quota["reads_accepted"],
        "read_429s": quota["read_429s"],
        # By the route's last part: `runs` is the watcher's list, `{run_id}` a task's own look.
        "reads_by_endpoint": reads,
    }


def github_charged(counters: dict[str, Any]) -> tuple[int, int]:
    """GitHub requests the fake charged (any status but 304) and answered 304, /rate_limit aside."""
    charged = free = 0
    for endpoint, statuses in counters["requests"].items():
        if not endpoint.startswith("GET /repos/"):
            continue
        for status, number in statuses.items():
            if status == "304":
                free += number
            else:
                charged += number
    return charged, free


async def measure_github(prs: int, window_s: float = GITHUB_WINDOW_S) -> dict[str, Any]:
    options = {"reconcile_interval": REAL_RECONCILE_S / TIME_SCALE, "reconcile_max_interval": REAL_RECONCILE_MAX_S / TIME_SCALE}
    async with full_stack() as stack:
        await start_tasks(stack.client, stack.task_queue, prs, scenario={"outcome": "leave_open"}, options=options)
        tracking = f"{RUNNING_TASKS} AND TaskQueue = '{stack.task_queue}' AND TaskPhase = 'tracking_pr'"
        await wait_for_count(stack.client, tracking, lambda n: n >= prs, timeout=FINISH_TIMEOUT_S, what="tasks tracking their PRs")
        await settle_webhooks(stack.fake_url, timeout=FINISH_TIMEOUT_S)
        # Quiet from here: each task's reads back off from the base interval to the ceiling first.
        await asyncio.sleep(2 * REAL_RECONCILE_MAX_S / TIME_SCALE)
        charged_before, free_before = github_charged(await fake_counters(stack.fake_url))
        await asyncio.sleep(window_s)
        after = await fake_counters(stack.fake_url)
        open_prs = (await stack.client.count_workflows(tracking)).count
    charged_after, free_after = github_charged(after)
    charged, free = charged_after - charged_before, free_after - free_before
    pr_hours = prs * window_s * TIME_SCALE / 3600
    return {
        "prs": prs,
        "prs_open_after": open_prs,
        "time_scale": TIME_SCALE,
        "window_hours": round(window_s * TIME_SCALE / 3600, 2),
        "github_requests_charged": charged,
        "github_requests_304": free,
        "github_requests_per_pr_hour": round(charged / pr_hours, 3),
        "github_requests_with_304s_per_pr_hour": round((charged + free) / pr_hours, 2),
    }


async def measure(parts: tuple[str, ...] | list[str], runs: int, run_seconds: float | None, prs: int) -> dict[str, Any]:
    """The figures of `parts`, in order, each on a fresh stack."""
    figures: dict[str, Any] = {}
    for part in parts:
        if part == "creates":
            figures |= await measure_creates()
        elif part == "runs":
            figures |= await measure_runs(runs, run_seconds)
        else:
            figures |= await measure_github(prs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=PARTS, help="just this part (repeatable); its keys replace those recorded")
    parser.add_argument("--runs", type=int, default=1000, help="runs: tasks whose runs overlap")
    parser.add_argument("--run-seconds", type=float, help="runs: how long each run takes at the fake (default: long enough to overlap)")
    parser.add_argument("--prs", type=int, default=200, help="github: quiet open PRs")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.part or PARTS, args.runs, args.run_seconds, args.prs))
    print(json.dumps(figures, indent=2))
    recorded = json.loads(RESULTS_PATH.read_text(encoding="utf-8")).get("quota", {}) if RESULTS_PATH.exists() else {}
    recorded.pop("measured_at", None)
    record("quota", {**recorded, **figures})


if __name__ == "__main__":
    main()
