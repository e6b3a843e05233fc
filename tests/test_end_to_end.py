"""The whole flow on real parts: dev server, worker in mock mode, relay, and the fake's signed webhooks."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

from pydantic import SecretStr
from temporalio.client import Client

from models.status import Reason, TaskOutcome, TaskPhase, TaskStatus
from settings import Settings
from tests.relay_probe import serving
from webhooks.app import create_app
from worker import running_workers


async def test_a_task_goes_from_submission_to_merged_by_webhooks_alone(client: Client, task_queue: str):
    secret = SecretStr(uuid.uuid4().hex)
    relay_settings = Settings(webhook_secret=secret, task_queue=task_queue)
    async with AsyncExitStack() as stack:
        relay_url = await stack.enter_async_context(serving(create_app(relay_settings, client)))
        worker_settings = Settings(task_queue=task_queue, webhook_secret=secret, relay_url=relay_url)
        clients = await stack.enter_async_context(running_workers(client, worker_settings))
        assert clients.mock_mode

        task_id = f"e2e-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(
            "CodegenTaskWorkflow",
            {
                "task": {"id": task_id, "title": "Add a health endpoint", "type": "feature"},
                "context": {"repository": "acme/api"},
                # An hour between GitHub reads: only webhooks can finish this within the test.
                "options": {"reconcile_interval": 3600},
            },
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
            result_type=TaskOutcome,
        )
        outcome = await handle.result()
        status = await handle.query("status", result_type=TaskStatus)

    assert (outcome.status, outcome.reason, outcome.mock_mode) == ("merged", Reason.MERGED, True)
    assert outcome.pr.ref.repository == "acme/api" and outcome.checks and all(c.conclusion == "success" for c in outcome.checks)
    events = [entry.event for entry in status.timeline]
    assert "PR merged" in events and "reconcile: PR merged" not in events
    assert status.phase is TaskPhase.MERGED
