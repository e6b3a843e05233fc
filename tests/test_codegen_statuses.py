"""Run statuses as Codegen really answers them, stopping agents on a PR, and finding a run on a PR:
the activities against the fake over loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.codegen import CodegenActivities
from activities.service_clients import ServiceClients
from models.codegen import ActiveRunQuery, AgentRun, RunState, StartRunInput, StopAgentInput, WaitRunInput
from tests.codegen_fake import FAST, KEY, activity_environment, admin, clients, fake_url  # noqa: F401 (fixtures)
from tests.waiting import wait_until

POLL = 0.02
# Only a hang guard: a wait that should end at once gets this long before the test fails.
HANG = 60


@pytest.fixture
def activities(clients: ServiceClients) -> CodegenActivities:
    return CodegenActivities(clients.codegen)


def env(**info_changes) -> ActivityEnvironment:
    return activity_environment(**info_changes)


def start_input(**scenario) -> StartRunInput:
    task_id = f"S-{uuid.uuid4().hex[:8]}"
    return StartRunInput(
        task_id=task_id, workflow_id=f"codegen-task-{task_id}", attempt=1, prompt=f"Do {task_id}", metadata={"scenario": scenario}
    )


async def start(activities: CodegenActivities, **scenario) -> AgentRun:
    return await env().run(activities.start_agent_run, start_input(**scenario))


async def wait(activities: CodegenActivities, run_id: int, grace: float = 0.0, environment: ActivityEnvironment | None = None) -> AgentRun:
    input = WaitRunInput(run_id=run_id, poll_interval_seconds=POLL, paused_grace_seconds=grace)
    return await asyncio.wait_for((environment or env()).run(activities.wait_for_agent_run, input), HANG)


async def api_status(admin: httpx.AsyncClient, run_id: int) -> str:
    return (await admin.get(f"/v1/organizations/1/agent/run/{run_id}")).json()["status"]


async def resume(admin: httpx.AsyncClient, run_id: int) -> None:
    response = await admin.post("/v1/organizations/1/agent/run/resume", json={"agent_run_id": run_id, "prompt": "Proceed."})
    assert response.status_code == 200, response.text


# --- statuses -------------------------------------------------------------------------------


async def test_lower_case_completed_and_failed_end_the_wait(activities):
    done = await wait(activities, (await start(activities, status_spelling="lower", outcome="leave_open")).id)
    failed = await wait(activities, (await start(activities, status_spelling="lower", fail_attempts=1)).id)
    assert (done.status, done.state) == ("COMPLETED", RunState.COMPLETE) and done.pull_requests
    assert (failed.status, failed.state) == ("FAILED", RunState.FAILED)


@pytest.mark.parametrize("status", ["COMPLETED", "completed", "Complete"])
async def test_completed_in_any_case_ends_the_wait(activities, admin, status):
    body = {"id": 4711, "organization_id": 1, "status": status}
    await admin.post("/_admin/inject", json={"method": "GET", "path_contains": "/agent/run/4711", "status": 200, "body": body})
    assert (await wait(activities, 4711)).state is RunState.COMPLETE


async def test_pending_and_evaluation_count_as_running(activities):
    environment = env()
    beats: list[tuple] = []
    environment.on_heartbeat = lambda *details: beats.append(details)
    # A second each for PENDING and EVALUATION, then two of ACTIVE: every status gets many polls, loaded machine or not.
    run = await start(activities, intermediate_statuses=True, outcome="leave_open", delays={"run_seconds": 4})
    assert run.status == "PENDING"
    done = await wait(activities, run.id, environment=environment)
    assert done.state is RunState.COMPLETE
    seen = [beat[0] for beat in beats]
    assert seen[0] == "PENDING" and "EVALUATION" in seen and "ACTIVE" in seen
    assert seen.index("PENDING") < seen.index("EVALUATION") < seen.index("ACTIVE")


async def test_unknown_statuses_count_as_running_and_are_logged_once_per_run(activities, admin, caplog):
    body = {"id": 5150, "organization_id": 1, "status": "THINKING_HARD"}
    await admin.post("/_admin/inject", json={"method": "GET", "path_contains": "/agent/run/5150", "status": 200, "body": body, "times": 4})
    done = {**body, "status": "COMPLETE"}
    await admin.post("/_admin/inject", json={"method": "GET", "path_contains": "/agent/run/5150", "status": 200, "body": done})
    with caplog.at_level(logging.WARNING):
        finished = await wait(activities, 5150)
    assert finished.state is RunState.COMPLETE
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "THINKING_HARD" in r.getMessage()]
    assert len(warnings) == 1 and "5150" in warnings[0].getMessage()


# --- PAUSED ---------------------------------------------------------------------------------


async def test_paused_ends_the_wait_at_once_without_a_grace(activities, admin):
    run = await start(activities, pause="once", outcome="leave_open")
    paused = await wait(activities, run.id)
    assert (paused.status, paused.state) == ("PAUSED", RunState.PAUSED) and paused.pull_requests == []
    # A resume makes it go on: it opens its PR and completes.
    await resume(admin, run.id)
    done = await wait(activities, run.id)
    assert done.state is RunState.COMPLETE and done.pull_requests


async def test_a_run_still_paused_right_after_a_resume_is_waited_for_within_the_grace(activities, admin):
    run = await start(activities, pause="once", outcome="leave_open", delays={"resume_lag_seconds": 3})
    await wait(activities, run.id)
    await resume(admin, run.id)
    assert await api_status(admin, run.id) == "PAUSED"  # Codegen has not caught up yet
    done = await wait(activities, run.id, grace=3600)
    assert done.state is RunState.COMPLETE and done.pull_requests


async def test_a_run_seen_running_then_paused_again_ends_the_wait_at_once(activities, admin):
    # ACTIVE for three seconds between the pauses: many polls see it.
    run = await start(activities, pause="again", outcome="leave_open", delays={"resume_lag_seconds": 0.1, "run_seconds": 3})
    await wait(activities, run.id)
    await resume(admin, run.id)
    # An hour's grace, yet it ends as soon as the run pauses again after being seen running.
    again = await wait(activities, run.id, grace=3600)
    assert again.state is RunState.PAUSED
    details = (await admin.get(f"/_admin/runs/{run.id}")).json()
    assert details["pauses"] == 2
    await resume(admin, run.id)
    assert (await wait(activities, run.id, grace=3600)).state is RunState.COMPLETE


async def test_a_run_that_stays_paused_ends_the_wait_after_the_grace(activities, admin):
    run = await start(activities, pause="stays")
    await wait(activities, run.id)
    await resume(admin, run.id)
    began = time.monotonic()
    still = await wait(activities, run.id, grace=0.3)
    assert still.state is RunState.PAUSED and time.monotonic() - began >= 0.3


async def test_a_retried_wait_goes_on_from_the_paused_time_its_heartbeat_kept(activities):
    run = await start(activities, pause="stays")
    await wait(activities, run.id)
    # The earlier try saw it PAUSED an hour ago and never running: the grace of ten minutes is over.
    kept = ("PAUSED", {"seen_other": False, "paused_since": time.time() - 3600})
    retried = env(attempt=2, heartbeat_details=kept)
    assert (await wait(activities, run.id, grace=600, environment=retried)).state is RunState.PAUSED
    kept = ("ACTIVE", {"seen_other": True, "paused_since": None})
    assert (await wait(activities, run.id, grace=600, environment=env(attempt=2, heartbeat_details=kept))).state is RunState.PAUSED


# --- stop agents on a PR --------------------------------------------------------------------


async def test_stop_agent_on_pr_cancels_the_run_and_is_recorded(activities, admin):
    run = await start(activities, outcome="leave_open", delays={"checks_seconds": 60})
    await wait(activities, run.id)
    await resume(admin, run.id)  # working on the PR again
    result = await env().run(activities.stop_agent_on_pr, StopAgentInput(run_id=run.id))
    assert result.confirmed and str(run.id) in result.detail
    assert await api_status(admin, run.id) == "CANCELLED"
    assert run.id in (await admin.get("/_admin/counters")).json()["removed_from_pr"]


async def test_a_refused_stop_is_unconfirmed_with_codegens_words(activities, admin):
    unknown = await env().run(activities.stop_agent_on_pr, StopAgentInput(run_id=999_999))
    assert not unknown.confirmed and "Agent run not found." in unknown.detail and "404" in unknown.detail
    run = await start(activities, outcome="leave_open")
    await admin.patch("/_admin/config", json={"remove_from_pr_status": 403})
    try:
        refused = await env().run(activities.stop_agent_on_pr, StopAgentInput(run_id=run.id))
    finally:
        await admin.patch("/_admin/config", json={"remove_from_pr_status": None})
    assert not refused.confirmed and "403" in refused.detail


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_stop_that_may_succeed_later_raises_retryable(activities, admin, status):
    await admin.post("/_admin/inject", json={"method": "POST", "path_contains": "/remove-from-pr", "status": status})
    with pytest.raises(ApplicationError) as caught:
        await env().run(activities.stop_agent_on_pr, StopAgentInput(run_id=1))
    assert not caught.value.non_retryable


# --- a run already working on the PR ----------------------------------------------------------


async def test_the_checks_auto_fixer_is_found_on_the_pr_and_its_fix_passes(activities, clients, admin):
    run = await start(activities, checks="fail", autofix=True, outcome="leave_open", delays={"run_seconds": 0.5})
    done = await wait(activities, run.id)
    pr = done.pull_requests[0]
    opened = pr.created_at or datetime.now(UTC) - timedelta(minutes=1)
    # The same PR, spelled differently: host, owner and repository compare case-insensitively.
    shouted = pr.url.replace(pr.ref.owner, pr.ref.owner.upper()).replace("mock-github.invalid", "MOCK-GITHUB.INVALID")

    async def found() -> AgentRun | None:
        return (await env().run(activities.find_active_run_on_pr, ActiveRunQuery(pr_url=shouted, created_after=opened))).run

    fixer = await wait_until(found, timeout=HANG, interval=0.02, what="the auto-fixer's run on the PR")
    head_before = (await clients.github.get_pull_request(pr.ref)).head_sha
    assert fixer.id != run.id and fixer.state is RunState.RUNNING
    assert [p.ref.key for p in fixer.pull_requests] == [pr.ref.key]
    assert (await admin.get(f"/_admin/runs/{fixer.id}")).json()["source_type"] == "GITHUB_CHECK_SUITE"
    # Runs older than `created_after` do not count.
    later = ActiveRunQuery(pr_url=pr.url, created_after=datetime.now(UTC) + timedelta(hours=1))
    assert (await env().run(activities.find_active_run_on_pr, later)).run is None

    finished = await wait(activities, fixer.id)
    assert finished.state is RunState.COMPLETE
    assert (await env().run(activities.find_active_run_on_pr, ActiveRunQuery(pr_url=pr.url))).run is None
    head_after = (await clients.github.get_pull_request(pr.ref)).head_sha
    assert head_after != head_before

    async def fix_passed() -> bool:
        checks = await clients.github.list_check_runs(pr.ref, head_after)
        return bool(checks) and {c.conclusion for c in checks} == {"success"}

    await wait_until(fix_passed, timeout=HANG, interval=0.02, what="the fix's checks to pass")


async def test_no_active_run_on_a_pr_nobody_works_on(activities):
    run = await start(activities, outcome="leave_open")
    done = await wait(activities, run.id)
    assert (await env().run(activities.find_active_run_on_pr, ActiveRunQuery(pr_url=done.pull_requests[0].url))).run is None
    assert (await env().run(activities.find_active_run_on_pr, ActiveRunQuery(pr_url="not a url"))).run is None


def test_the_new_activities_run_on_the_main_queue(activities):
    names = {fn.__name__ for fn in activities.others()}
    assert {"stop_agent_on_pr", "find_active_run_on_pr", "wait_for_agent_run"} <= names
