"""Property: option sets the input model accepts give a task that reaches an outcome, never a stuck one;
a set with one value outside its bounds is refused before anything starts.

Hypothesis draws option sets inside every bound (at the least and the most each duration may be, and
between), now and then with one value just outside. Each accepted set runs twice, each time on a fresh time-skipping
server with scripted services: once with every attempt failing (backoff, awaiting retry, the retry
window running out) and once with a PR that gets a failing check, then merges. A workflow
task failing over and over (an activity without a timeout, a date out of range) would never reach an
outcome, and the deadline would say so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.signals import CheckResult
from models.status import TERMINAL_PHASES, TaskOutcome, TaskPhase, TaskStatus
from models.task import MAX_DURATION, TaskOptions
from tests.conftest import start_time_skipping
from tests.option_bounds import LEAST_DURATIONS, MAX_ATTEMPTS, MAX_FOLLOWUPS
from tests.scripted_services import ScriptedServices, at, task_input

# The real wall-clock time one run may take on a loaded machine; the server skips its own time.
RUN_DEADLINE_SECONDS = 120


def _seconds_within(least: timedelta, most: timedelta = MAX_DURATION) -> st.SearchStrategy[float]:
    lowest, highest = least.total_seconds(), most.total_seconds()
    return st.sampled_from([lowest, highest]) | st.floats(min_value=lowest, max_value=highest, allow_nan=False)


@st.composite
def _accepted(draw: st.DrawFn) -> dict[str, Any]:
    """Options inside every bound, the pauses between attempts (doubling) within MAX_DURATION in all."""
    keys = draw(st.sets(st.sampled_from([*LEAST_DURATIONS, "max_attempts", "max_followups"])))
    attempts = draw(st.sampled_from(MAX_ATTEMPTS)) if "max_attempts" in keys else 3
    options: dict[str, Any] = {"max_attempts": attempts} if "max_attempts" in keys else {}
    if "max_followups" in keys:
        options["max_followups"] = draw(st.sampled_from(MAX_FOLLOWUPS))
    for name, least in LEAST_DURATIONS.items():
        if name in keys:
            pauses = 2 ** (attempts - 1) - 1 if name == "attempt_backoff" else 0
            # Whole seconds: a fraction of MAX_DURATION times the pauses can round past it.
            most = timedelta(seconds=MAX_DURATION.total_seconds() // pauses) if pauses else MAX_DURATION
            options[name] = draw(_seconds_within(least, most))
    return options


# One value just outside its bound, now and then.
_OUTSIDE = [
    # Half the least, or a negative one where the least is 0 (0 itself means "the default" for some).
    *((name, least.total_seconds() / 2 or -1.0) for name, least in LEAST_DURATIONS.items()),
    *((name, MAX_DURATION.total_seconds() + 86_400) for name in LEAST_DURATIONS),
    ("max_attempts", MAX_ATTEMPTS.start - 1),
    ("max_attempts", MAX_ATTEMPTS.stop),
    ("max_followups", MAX_FOLLOWUPS.start - 1),
    ("max_followups", MAX_FOLLOWUPS.stop),
]
_outside = st.none() | st.none() | st.sampled_from(_OUTSIDE)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop of this module's own: hypothesis calls the test synchronously, once per example."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def _outcome(env: WorkflowEnvironment, services: ScriptedServices, raw: dict[str, Any], *, merge: bool) -> TaskOutcome:
    task_queue = f"options-{uuid.uuid4().hex[:10]}"
    async with AsyncExitStack() as stack:
        for worker in services.workers(env.client, task_queue):
            await stack.enter_async_context(worker)
        handle = await env.client.start_workflow(
            "CodegenTaskWorkflow",
            task_input(uuid.uuid4().hex[:10], **raw),
            id=f"codegen-task-{uuid.uuid4().hex[:10]}",
            task_queue=task_queue,
            result_type=TaskOutcome,
        )
        # A PR timeout of a second can end the task within the second skipped after the PR opened, or while
        # the signals are sent (server time runs on meanwhile): the outcome is then `expired`.
        if merge and await _tracks_its_pr(env, handle):
            failing = CheckResult(delivery_id="c1", head_sha="sha-1", name="test", conclusion="failure", completed_at=at(1))
            try:
                await handle.signal("check_result", failing)
                await handle.signal("pr_event", services.close("merged"))
            except RPCError:
                if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                    raise
        return await handle.result()


async def _tracks_its_pr(env: WorkflowEnvironment, handle: WorkflowHandle) -> bool:
    """Skip a second of workflow time at a time until the task tracks its PR (True) or has ended (False)."""
    while True:
        phase = (await handle.query("status", result_type=TaskStatus)).phase
        if phase in {TaskPhase.TRACKING_PR, *TERMINAL_PHASES}:
            return phase is TaskPhase.TRACKING_PR
        await env.sleep(timedelta(seconds=1))


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(_accepted(), _outside)
@example(raw={"pr_timeout": 1.0}, outside=None)  # the shortest PR timeout, which can end the task before its merge
def test_every_accepted_option_set_reaches_an_outcome(loop: asyncio.AbstractEventLoop, raw: dict[str, Any], outside: tuple[str, float] | None):
    if outside is not None:
        name, value = outside
        with pytest.raises(ValidationError):
            TaskOptions.model_validate(raw | {name: value})
        return
    options = TaskOptions.model_validate(raw)

    def run(services: ScriptedServices, *, merge: bool) -> TaskOutcome:
        # A server of its own (a tenth of a second to start): one example's timers never touch another's.
        async def on_a_fresh_server() -> TaskOutcome:
            async with await start_time_skipping() as env:
                return await asyncio.wait_for(_outcome(env, services, raw, merge=merge), RUN_DEADLINE_SECONDS)

        return loop.run_until_complete(on_a_fresh_server())

    failed = run(ScriptedServices(attempts=["failed"] * options.max_attempts), merge=False)
    assert (failed.status, len(failed.attempts)) == ("failed", options.max_attempts)
    merged = run(ScriptedServices(), merge=True)
    # A PR timeout of seconds may end the task before the merge's signals reach it.
    assert merged.status in ({"merged", "expired"} if options.pr_timeout < timedelta(minutes=1) else {"merged"})
