"""worker.py as people run it: mock mode announced, SDK and task-outcome metrics served, a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack import ROOT
from devstack.services import free_port
from models.status import TaskOutcome


async def test_worker_process_runs_a_task_in_mock_mode_and_stops_cleanly(dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path):
    metrics_port = free_port()
    secret_token = f"ghp_{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "CODEGEN_API_KEY": "",
        "GITHUB_TOKEN": secret_token,
    }
    env.pop("CODEGEN_API_URL", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "worker.py", "--metrics-port", str(metrics_port), "--grace-seconds", "5",
            cwd=ROOT, env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            task_id = f"proc-{uuid.uuid4().hex[:8]}"
            handle = await client.start_workflow(
                "CodegenTaskWorkflow",
                {
                    "task": {"id": task_id, "title": "Add /healthz", "type": "feature", "metadata": {"scenario": {"checks": "fail_until_followup"}}},
                    "context": {"repository": "acme/api"},
                },
                id=f"codegen-task-{task_id}",
                task_queue=task_queue,
                result_type=TaskOutcome,
            )
            # No relay is running: mock-mode reconcile (every few seconds) must finish the task.
            outcome = await asyncio.wait_for(handle.result(), timeout=60)
            assert (outcome.status, outcome.mock_mode, outcome.followups) == ("merged", True, 1)

            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            assert "temporal_workflow_completed" in metrics and task_queue in metrics
            outcomes = [line for line in metrics.splitlines() if line.startswith("codegen_task_outcomes{")]
            assert len(outcomes) == 1 and outcomes[0].endswith(" 1")
            assert 'reason="merged"' in outcomes[0] and 'status="merged"' in outcomes[0] and f'task_queue="{task_queue}"' in outcomes[0]
            runs = [line for line in metrics.splitlines() if line.startswith("codegen_agent_runs{")]
            assert sorted(re.search(r'kind="(\w+)"', line)[1] for line in runs if line.endswith(" 1")) == ["attempt", "followup"]
            assert len(runs) == 2
        finally:
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(process.wait(), timeout=30)

    output = log.read_text()
    assert returncode == 0, f"worker.py exited {returncode} after SIGTERM:\n{output}"
    assert "MOCK MODE" in output and "stopping" in output
    assert secret_token not in output
