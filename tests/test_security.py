"""No secret leaks: a full task in real mode (worker and relay as processes, the fake as the APIs) with
recognisable secret values, then every history event, the result, the status answer, the workflow
description and every log line are searched for them.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

from google.protobuf.json_format import MessageToJson
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack.env import clean_env
from devstack.process import ChildProcess
from devstack.readiness import http_ok, ready
from devstack.services import free_port
from tests.fault_harness import (
    fake_counters,
    fake_process,
    outcomes,
    worker_process,
)

# Real mode polls a run every 15 s: a run done at once, and checks a little later, keep the webhooks after the PR is known.
SCENARIO = {"review": "approve", "delays": {"run_seconds": 0, "checks_seconds": 3}}


async def test_no_secret_reaches_history_results_queries_or_logs(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    marker = uuid.uuid4().hex[:10]
    secrets = {
        "CODEGEN_API_KEY": f"cg-live-SECRET-{marker}",
        "GITHUB_TOKEN": f"ghp_SECRET{marker}",
        "WEBHOOK_SECRET": f"whsec-SECRET-{marker}",
    }
    address = dev_env.client.service_client.config.target_host
    relay_port = free_port()
    relay_url = f"http://127.0.0.1:{relay_port}/webhooks/github"
    relay = ChildProcess(
        [sys.executable, "relay.py"],
        clean_env(TEMPORAL_ADDRESS=address, WEBHOOK_SECRET=secrets["WEBHOOK_SECRET"], RELAY_HOST="127.0.0.1", RELAY_PORT=str(relay_port)),
        tmp_path / "relay.log",
    )
    async with AsyncExitStack() as stack:
        relay.start()
        stack.callback(relay.stop)
        # The fake accepts only these credentials: a task that finishes proves they were sent.
        fake_url = await stack.enter_async_context(
            fake_process(
                tmp_path / "fake.log",
                FAKE_CODEGEN_API_KEY=secrets["CODEGEN_API_KEY"],
                FAKE_GITHUB_TOKEN=secrets["GITHUB_TOKEN"],
                WEBHOOK_SECRET=secrets["WEBHOOK_SECRET"],
                RELAY_URL=relay_url,
            )
        )
        worker = worker_process(
            tmp_path / "worker.log",
            TEMPORAL_ADDRESS=address,
            TEMPORAL_TASK_QUEUE=task_queue,
            CODEGEN_API_URL=fake_url,
            GITHUB_API_URL=fake_url,
            CODEGEN_CREATE_RATE_PER_MINUTE="600",
            **secrets,
        )
        worker.start()
        stack.callback(worker.stop)

        await ready("relay.py to answer /healthz", http_ok(f"http://127.0.0.1:{relay_port}/healthz"), timeout=30, watched=[relay])
        task_id = f"sec-{marker}"
        handle = await client.start_workflow(
            "CodegenTaskWorkflow",
            {
                "task": {"id": task_id, "title": "Rotate credentials", "type": "security", "metadata": {"scenario": SCENARIO}},
                "context": {"repository": "acme/api"},
                "options": {"reconcile_interval": 5},
            },
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
        )
        [result] = await outcomes([handle], timeout=120)
        status = await handle.query("status")
        description = await handle.describe()
        history = await handle.fetch_history()
        counters = await fake_counters(fake_url)
    # Logs are complete once both processes have exited.
    worker_log, relay_log = worker.output(), relay.output()

    # The secrets were really in use: real mode, authenticated calls, verified webhooks.
    assert (result["status"], result["mock_mode"]) == ("merged", False)
    assert not any("401" in statuses for statuses in counters["requests"].values()), counters["requests"]
    assert "GITHUB_TOKEN is not set" not in worker_log
    assert "signalled" in relay_log, relay_log[-2000:]

    places = {
        "history": b"".join(event.SerializeToString() for event in history.events).decode("utf-8", "replace")
        + "".join(MessageToJson(event) for event in history.events),
        "result": json.dumps(result),
        "status query": json.dumps(status),
        "description": MessageToJson(description.raw_description),
        "worker log": worker_log,
        "relay log": relay_log,
    }
    # The search reads payload contents: the task's own (non-secret) title is found where it belongs.
    assert "Rotate credentials" in places["history"] and "Rotate credentials" in places["status query"]
    for name, secret in secrets.items():
        forms = {secret, base64.b64encode(secret.encode()).decode()[:-4]}
        leaks = [place for place, text in places.items() if any(form in text for form in forms)]
        assert not leaks, f"{name} appears in: {', '.join(leaks)}"
