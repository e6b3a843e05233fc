"""Property: any options the input model accepts give a task that reaches an outcome, never a stuck one.

Hypothesis draws option sets around every bound (the least and the most each duration may be, values
between, and values just outside, which must be refused); each accepted set runs twice on one time-skipping server with scripted services: once with every
attempt failing (backoff, awaiting retry, the retry window running out) and once with a PR that merges
after a follow-up. A workflow task failing over and over (an activity without a timeout, a date out of
range) would never reach an outcome, and `asyncio.wait_for` would say so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from models.signals import CheckResult
from models.status import TaskOutcome, TaskPhase, TaskStatus
from models.task import MAX_DURATION, TaskOptions
from tests.conftest import start_time_skipping
from tests.scripted_services import ScriptedServices, at, task_input

# The least each duration option may be; the most is MAX_DURATION for all.
LEAST = {
    "attempt_backoff": timedelta(0),
    "retry_window": timedelta(0),
    "pr_timeout": timedelta(seconds=1),
    "agent_timeout": timedelta(seconds=1),
    "agent_pause_timeout": timedelta(seconds=1),
    "reconcile_interval": timedelta(seconds=1),
    "reconcile_max_interval": timedelta(seconds=1),
    "followup_settle": timedelta(seconds=0.1),
}
# The real wall-clock time one run may take on a loaded machine; the server skips its own time.
RUN_DEADLINE_SECONDS = 120


def _durations(least: timedelta) -> st.SearchStrategy[float]:
    """Seconds at, inside and just outside the bounds (outside ones must be refused, not run)."""
    lowest, highest = least.total_seconds(), MAX_DURATION.total_seconds()
    edges = [-1.0, 0.0, lowest, highest, highest + 86_400, 10.0**12]
    return st.sampled_from(edges) | st.floats(min_value=lowest, max_value=highest, allow_nan=False)


_options = st.fixed_dictionaries(
    {},
    optional={
        **{name: _durations(least) for name, least in LEAST.items()},
        "max_attempts": st.integers(0, 21),
        "max_followups": st.integers(-1, 21),
    },
)


@pytest.fixture(scope="module")
def time_skipping() -> Iterator[tuple[asyncio.AbstractEventLoop, WorkflowEnvironment]]:
    """One time-skipping server for every example, on an event loop of this module's own."""
    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(start_time_skipping())
    try:
        yield loop, env
    finally:
        loop.run_until_complete(env.shutdown())
        loop.close()


async def _outcome(env: WorkflowEnvironment, services: ScriptedServices, options: dict[str, Any], *, merge: bool) -> TaskOutcome:
    task_queue = f"options-{uuid.uuid4().hex[:10]}"
    async with AsyncExitStack() as stack:
        for worker in services.workers(env.client, task_queue):
            await stack.enter_async_context(worker)
        handle = await env.client.start_workflow(
            "CodegenTaskWorkflow",
            task_input(uuid.uuid4().hex[:10], **options),
            id=f"codegen-task-{uuid.uuid4().hex[:10]}",
            task_queue=task_queue,
            result_type=TaskOutcome,
        )
        if merge:
            while (await handle.query("status", result_type=TaskStatus)).phase is not TaskPhase.TRACKING_PR:
                await env.sleep(timedelta(seconds=1))
            failing = CheckResult(delivery_id="c1", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(1))
            await handle.signal("check_result", failing)
            await handle.signal("pr_event", services.close("merged"))
        return await asyncio.wait_for(handle.result(), RUN_DEADLINE_SECONDS)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(_options)
def test_every_accepted_option_set_reaches_an_outcome(time_skipping, options: dict[str, Any]):
    try:
        TaskOptions.model_validate(options)
    except ValidationError:
        return  # refused before anything starts; tests/test_input_hardening.py checks how
    loop, env = time_skipping
    attempts = options.get("max_attempts", 3)
    failed = loop.run_until_complete(_outcome(env, ScriptedServices(attempts=["failed"] * attempts), options, merge=False))
    assert (failed.status, len(failed.attempts)) == ("failed", attempts)
    merged = loop.run_until_complete(_outcome(env, ScriptedServices(), options, merge=True))
    assert merged.status == "merged"
