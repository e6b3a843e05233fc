"""worker.py as people run it: mock mode announced, SDK and task-outcome metrics served, a clean stop on SIGTERM,
and no mock mode where the settings say a real deployment (exit 2 before anything starts)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack import ROOT
from devstack.env import clean_env
from devstack.services import free_port
from models.status import TaskOutcome
from tests.waiting import wait_until


async def test_worker_process_runs_a_task_in_mock_mode_and_stops_cleanly(dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path):
    metrics_port = free_port()
    secret_token = f"ghp_{uuid.uuid4().hex}"
    secret_key = f"cg-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        # Mock mode on purpose, next to real credentials: the fakes run, and neither is sent anywhere.
        "CODEGEN_MOCK": "1",
        "CODEGEN_API_KEY": secret_key,
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
    assert "MOCK MODE (CODEGEN_MOCK=1; the CODEGEN_API_KEY and GITHUB_TOKEN set here are never sent anywhere)" in output
    assert "stopping" in output
    assert secret_token not in output and secret_key not in output


# Each is what a real deployment has and a developer's machine does not.
PRODUCTION_SETTINGS = {
    "GITHUB_TOKEN": {"GITHUB_TOKEN": "ghp_real"},
    "CODEGEN_ORG_ID": {"CODEGEN_ORG_ID": "4242"},
    "CODEGEN_API_URL": {"CODEGEN_API_URL": "https://api.codegen.com"},
    "GITHUB_API_URL": {"GITHUB_API_URL": "https://github.example.com/api/v3"},
}


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=clean_env(**env), stdout=sink, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("production", list(PRODUCTION_SETTINGS.values()), ids=list(PRODUCTION_SETTINGS))
def test_no_key_next_to_a_production_setting_is_refused_with_exit_2(production: dict[str, str], tmp_path: Path):
    # A Temporal that is not there: a worker that got as far as connecting would exit 3, not 2.
    log = tmp_path / "worker.log"
    done = _worker({"TEMPORAL_ADDRESS": "127.0.0.1:1", **production}, log)
    assert done.wait(timeout=60) == 2, log.read_text()
    output = log.read_text()
    [name] = production
    assert "CODEGEN_API_KEY is not set" in output and name in output, output
    assert "CODEGEN_MOCK=1" in output, output
    assert "MOCK MODE" not in output and "Traceback" not in output, output


def test_codegen_mock_0_without_a_key_is_refused_with_exit_2(tmp_path: Path):
    log = tmp_path / "worker.log"
    done = _worker({"TEMPORAL_ADDRESS": "127.0.0.1:1", "CODEGEN_MOCK": "0"}, log)
    assert done.wait(timeout=60) == 2, log.read_text()
    assert "CODEGEN_API_KEY is not set" in log.read_text()


MOCK_MODE_CASES = {
    "nothing configured": ({}, "MOCK MODE (no CODEGEN_API_KEY)"),
    "CODEGEN_MOCK=1": ({"CODEGEN_MOCK": "1", **PRODUCTION_SETTINGS["CODEGEN_ORG_ID"], **PRODUCTION_SETTINGS["GITHUB_API_URL"]}, "MOCK MODE (CODEGEN_MOCK=1)"),
}


@pytest.mark.parametrize(("extra", "banner"), list(MOCK_MODE_CASES.values()), ids=list(MOCK_MODE_CASES))
async def test_mock_mode_starts_with_nothing_configured_or_on_purpose_and_says_so(
    extra: dict[str, str], banner: str, dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
):
    address = dev_env.client.service_client.config.target_host
    log = tmp_path / "worker.log"
    process = _worker({"TEMPORAL_ADDRESS": address, "TEMPORAL_TASK_QUEUE": task_queue, **extra}, log)
    try:
        # The banner comes once both workers poll; a refused worker would have exited instead.
        await wait_until(lambda: banner in log.read_text() or process.poll() is not None, timeout=60, what="the banner")
        assert process.poll() is None, f"worker.py exited {process.returncode}:\n{log.read_text()}"
        assert "=" * 78 in log.read_text(), "mock mode is announced in a banner"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
