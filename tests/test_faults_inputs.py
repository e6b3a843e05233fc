"""Fuzzed task inputs (hypothesis over the task schema): through `starter.py submit` as a process and
through a raw client start. Bad input gets a clear error naming the field and leaves nothing running
or retrying; good input starts a healthy workflow.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from devstack import ROOT
from devstack.env import clean_env
from models.task import TASK_ID_PATTERN, Task, TaskType, WorkflowInput
from tests.scripted_services import ScriptedServices
from tests.waiting import wait_until
from workflows.codegen_task import CodegenTaskWorkflow

pytestmark = pytest.mark.faults

_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=5)
_texts = st.lists(st.text(max_size=15), max_size=3)

# Each field: mostly plausible values, sometimes anything JSON can hold.
TASK_FIELDS = {
    "id": st.from_regex(TASK_ID_PATTERN, fullmatch=True) | st.text(max_size=10),
    "title": st.text(max_size=40) | st.text(min_size=495, max_size=505),
    "description": st.text(max_size=40),
    "type": st.sampled_from([t.value for t in TaskType]) | st.sampled_from(["bugfix", "Feature", "", "docs"]),
    "requirements": _texts,
    "acceptance_criteria": _texts,
    "affected_files": _texts,
    "priority": st.integers(-1, 7),
    "metadata": st.dictionaries(st.text(max_size=8), _json, max_size=3),
}
tasks = st.fixed_dictionaries(
    {"title": TASK_FIELDS["title"] | _json},
    optional={name: values | _json for name, values in TASK_FIELDS.items() if name != "title"}
    | {"acceptanceCriteria": _texts, "estimated_hours": st.integers(0, 10)},
)
options = st.fixed_dictionaries(
    {},
    optional={
        "max_attempts": st.integers(-1, 25) | _json,
        "pr_timeout": st.sampled_from(["P7D", "PT1H", "soon", -5, 3600]),
        "max_context_size": st.integers(0, 300_000),
        "reconcile_interval": st.none() | st.integers(-5, 60) | st.text(max_size=5),
    },
)
contexts = st.fixed_dictionaries(
    {}, optional={"repository": st.sampled_from(["acme/api", "not a repo", "a/b/c", ""]), "base_branch": st.text(max_size=8) | _json}
)
workflow_inputs = st.fixed_dictionaries({"task": tasks}, optional={"context": contexts, "options": options}) | _json


def _valid(model: type, document: Any) -> bool:
    try:
        model.model_validate(document)
    except ValidationError:
        return False
    return True


async def _workflow_task_failures(handle) -> int:
    history = await handle.fetch_history()
    return sum(event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for event in history.events)


async def test_raw_starts_of_fuzzed_inputs_fail_at_once_or_run_cleanly(client: Client, task_queue: str):
    loop = asyncio.get_running_loop()
    seen = {"valid": 0, "invalid": 0}

    async def check(document: Any) -> None:
        handle = await client.start_workflow(
            "CodegenTaskWorkflow", document, id=f"codegen-task-fuzz-{uuid.uuid4().hex[:10]}", task_queue=task_queue
        )
        if not _valid(WorkflowInput, document):
            seen["invalid"] += 1
            with pytest.raises(WorkflowFailureError) as failure:
                await asyncio.wait_for(handle.result(), 10)
            cause = failure.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == "InvalidInput" and cause.non_retryable
            # The message names what is wrong: "Invalid task input: task.priority: ...".
            assert cause.message.startswith("Invalid task input: ") and ": " in cause.message.removeprefix("Invalid task input: ")
            assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
        else:
            seen["valid"] += 1

            # Healthy: it got its prompt and asked for an agent run (no worker polls that queue).
            async def scheduled_an_activity() -> bool:
                return bool((await handle.describe()).raw_description.pending_activities)

            await wait_until(scheduled_an_activity, what=f"{handle.id} to schedule its agent run")
            await handle.terminate("fuzz example checked")
        assert await _workflow_task_failures(handle) == 0, "the workflow task must never fail (and retry) on input"

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(workflow_inputs)
    @example({"task": {"title": "0", "id": None}, "context": {"repository": "acme/api"}})  # a valid one with a repository
    def explore(document: Any) -> None:
        asyncio.run_coroutine_threadsafe(check(document), loop).result(timeout=60)

    # The prompt and a repository's slot are local activities, so this worker must have them (no repository limit,
    # the default: a task with a repository asks, and goes on).
    services = ScriptedServices(client=client)
    local = [services.generate_prompt, services.request_repository_slot]
    async with Worker(client, task_queue=task_queue, workflows=[CodegenTaskWorkflow], activities=local):
        # Hypothesis drives the examples from a thread; each one runs on this loop, against the dev server.
        await asyncio.to_thread(explore)

        # Visibility trails the terminations by a moment; a workflow left running keeps the count above 0.
        async def none_running() -> bool:
            running = await client.count_workflows(f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'")
            return running.count == 0

        await wait_until(none_running, what=f"no fuzzed workflow still running on {task_queue}")
    assert seen["invalid"] > 10, seen


async def test_starter_submit_of_fuzzed_tasks_refuses_bad_ones_and_starts_nothing(
    dev_env: WorkflowEnvironment, client: Client, task_queue: str, tmp_path: Path
):
    loop = asyncio.get_running_loop()
    env = clean_env(TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host, TEMPORAL_TASK_QUEUE=task_queue)
    outcomes = {"refused": 0, "started": 0}

    async def in_queue() -> int:
        return (await client.count_workflows(f"TaskQueue = '{task_queue}'")).count

    async def check(task: Any) -> None:
        path = tmp_path / f"{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(task))
        before = await in_queue()
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "starter.py", "submit", str(path), "--json"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60,
        )
        if _valid(Task, task):
            outcomes["started"] += 1
            assert done.returncode == 0, done.stderr
            [started] = json.loads(done.stdout)
            assert started["started"], started
            await client.get_workflow_handle(started["workflow_id"]).terminate("fuzz example checked")
        else:
            outcomes["refused"] += 1
            assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
            assert "nothing was started" in done.stderr and f"{path}: " in done.stderr, done.stderr
            assert "Traceback" not in done.stderr
            assert await in_queue() == before

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(tasks)
    def explore(task: Any) -> None:
        asyncio.run_coroutine_threadsafe(check(task), loop).result(timeout=90)

    await asyncio.to_thread(explore)
    running = await client.count_workflows(f"TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'")
    assert running.count == 0
