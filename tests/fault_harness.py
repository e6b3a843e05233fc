"""What the fault tests share: the worker, the standalone fake and a throwaway Temporal dev server as
child processes (from `devstack`), and task inputs with known outcomes.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from devstack import services, temporal_server
from devstack.process import ChildProcess
from devstack.readiness import connected, ready
from models.codegen import codegen_api_task_queue
from models.status import Reason, TaskOutcome
from models.task import workflow_id_for

# Short, so stopping a worker at the end of a test does not wait on activities nobody needs.
WORKER_GRACE_SECONDS = 2


def worker_process(log: Path, **env: str) -> ChildProcess:
    """`python worker.py` (not started); `env` holds TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE, CODEGEN_API_URL, ..."""
    return services.worker(log, grace_seconds=WORKER_GRACE_SECONDS, **env)


def fake_process(log: Path, **env: str) -> AbstractAsyncContextManager[str]:
    """`python -m fakes` on a free port (FAKE_* / WEBHOOK_SECRET / RELAY_URL from `env`); yields its URL once healthy.

    Its own process, so its runs and counters survive anything done to the worker.
    """
    return services.run_fake_process(env, log)


async def creation_backlog(client: Client, task_queue: str) -> int:
    """Creations waiting in the rate-limited creation queue of `task_queue`, as the server counts them."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=codegen_api_task_queue(task_queue)),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            report_stats=True,
        )
    )
    return described.stats.approximate_backlog_count


async def fake_counters(fake_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=fake_url, timeout=10) as http:
        return (await http.get("/_admin/counters")).json()


def dev_server_process(port: int, db_file: Path, log: Path) -> ChildProcess:
    """A headless Temporal CLI dev server persisting to `db_file`, so a restart on the same port and file resumes."""
    return services.dev_server(log, port, db_file=db_file)


async def connect_when_up(server: ChildProcess, address: str, timeout: float = 30.0, **kwargs: Any) -> Client:
    """A client of `server` at `address`, once it accepts connections; fails at once if the server exits."""
    connect = connected(lambda: Client.connect(address, **kwargs))
    return await ready(f"Temporal at {address}", connect, timeout=timeout, watched=[server])


@dataclass(frozen=True)
class ExpectedTask:
    """A task input whose fake scenario decides the outcome, and that outcome."""

    task_id: str
    input: dict[str, Any]
    status: str
    reason: Reason
    attempts: int

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.task_id)


# (scenario, outcome status, reason, attempts that create an agent run)
Scenario = tuple[dict[str, Any], str, Reason, int]
SCENARIOS: list[Scenario] = [
    ({}, "merged", Reason.MERGED, 1),
    ({"outcome": "close"}, "closed", Reason.CLOSED_UNMERGED, 1),
    ({"fail_attempts": 1}, "merged", Reason.MERGED, 2),
    ({"checks": "fail_until_followup", "review": "approve"}, "merged", Reason.MERGED, 1),
]


def expected_tasks(
    count: int, prefix: str, *, run_seconds: float = 1.0, reconcile_seconds: float = 2.0, scenarios: list[Scenario] = SCENARIOS
) -> list[ExpectedTask]:
    """`count` tasks cycling through `scenarios`; agent runs take `run_seconds` on the fake."""
    batch = uuid.uuid4().hex[:6]
    tasks = []
    for index in range(count):
        scenario, status, reason, attempts = scenarios[index % len(scenarios)]
        task_id = f"{prefix}-{batch}-{index}"
        task_input = {
            "task": {
                "id": task_id,
                "title": f"Fault test task {index}",
                "type": "feature",
                "metadata": {"scenario": {**scenario, "delays": {"run_seconds": run_seconds}}},
            },
            "context": {"repository": "acme/api"},
            "options": {"attempt_backoff": 1, "reconcile_interval": reconcile_seconds, "followup_settle": 1},
        }
        tasks.append(ExpectedTask(task_id, task_input, status, reason, attempts))
    return tasks


async def start_tasks(client: Client, task_queue: str, tasks: list[ExpectedTask]) -> list[WorkflowHandle[Any, TaskOutcome]]:
    return [
        await client.start_workflow(
            "CodegenTaskWorkflow", task.input, id=task.workflow_id, task_queue=task_queue, result_type=TaskOutcome
        )
        for task in tasks
    ]


async def outcomes(handles: list[WorkflowHandle[Any, TaskOutcome]], timeout: float) -> list[TaskOutcome]:
    """Every result, or an error naming the tasks still unfinished after `timeout` seconds."""
    pending = [asyncio.ensure_future(handle.result()) for handle in handles]
    done, not_done = await asyncio.wait(pending, timeout=timeout)
    for future in not_done:
        future.cancel()
    if not_done:
        late = [handle.id for handle, future in zip(handles, pending, strict=True) if future in not_done]
        raise AssertionError(f"{len(late)} task(s) unfinished after {timeout}s: {late}")
    return [future.result() for future in pending]


def assert_expected(tasks: list[ExpectedTask], results: list[TaskOutcome]) -> None:
    got = {r.task_id: (r.status, r.reason) for r in results}
    wanted = {t.task_id: (t.status, t.reason) for t in tasks}
    assert got == wanted


def assert_one_run_per_attempt(tasks: list[ExpectedTask], counters: dict[str, Any]) -> None:
    """The fake created exactly one agent run for every attempt of every task: no duplicates, none missing."""
    created = counters["runs_created"]
    wanted = {t.task_id: {str(n): 1 for n in range(1, t.attempts + 1)} for t in tasks}
    assert {task_id: created.get(task_id) for task_id in wanted} == wanted


def mock_mode_worker(tmp_path: Path, env: WorkflowEnvironment, task_queue: str, fake_url: str, **settings: str) -> ChildProcess:
    """`python worker.py` (not started) on `task_queue` of the test's server, against the fake process at
    `fake_url`; `settings` (CODEGEN_CREATE_RATE_PER_MINUTE, ...) on top."""
    return worker_process(
        tmp_path / "worker.log",
        TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
        TEMPORAL_TASK_QUEUE=task_queue,
        CODEGEN_MOCK="1",
        CODEGEN_API_URL=fake_url,
        GITHUB_API_URL=fake_url,
        **settings,
    )


async def temporal_cli(env: WorkflowEnvironment, *args: str) -> str:
    """Run the `temporal` CLI against the test's server; its output, or a failure with it (30 s at most)."""
    process = await asyncio.create_subprocess_exec(
        temporal_server.temporal_cli_path(),
        *args,
        "--address",
        env.client.service_client.config.target_host,
        "--namespace",
        env.client.namespace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, f"temporal {' '.join(args)} failed: {err.decode(errors='replace')}"
    return out.decode(errors="replace")
