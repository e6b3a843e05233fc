"""The Codegen client and activities against the fake (real loopback HTTP and in-process ASGI)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.codegen import (
    CREATE_DEFERRED,
    CREATE_SENT_AT,
    REPOSITORY_NOT_CONNECTED,
    CodegenActivities,
    CodegenClient,
    heartbeating_while_slow,
    parse_agent_run,
)
from activities.http_errors import HttpErrorType, error_from_response
from devstack.services import free_port, serve_fake
from fakes import FakeConfig
from models.codegen import PullRequestRef, ResumeRunInput, RunState, StartRunInput, WaitRunInput, classify_run_status
from settings import Settings
from tests.codegen_fake import FAST, KEY, activity_environment, admin, clients, fake_url  # noqa: F401 (fixtures)
from tests.fake_services import AUTH, finished_run
from tests.waiting import wait_until
from worker import build_service_clients


def start_input(scenario: dict | None = None, **changes) -> StartRunInput:
    task_id = f"T-{uuid.uuid4().hex[:8]}"
    values = {
        "task_id": task_id,
        "workflow_id": f"codegen-task-{task_id}",
        "attempt": 1,
        "prompt": f"Implement {task_id}",
        "metadata": {"scenario": scenario or {}},
    }
    return StartRunInput(**{**values, **changes})


def environment(**info_changes) -> ActivityEnvironment:
    return activity_environment(**info_changes)


# --- errors -------------------------------------------------------------------------------

CASES = [
    (401, {}, HttpErrorType.AUTH, False, None),
    (403, {}, HttpErrorType.AUTH, False, None),
    (402, {}, HttpErrorType.PLAN_LIMIT, False, None),
    (404, {}, HttpErrorType.NOT_FOUND, False, None),
    (422, {}, HttpErrorType.INVALID_REQUEST, False, None),
    (400, {}, HttpErrorType.INVALID_REQUEST, False, None),
    (408, {}, HttpErrorType.SERVICE_UNAVAILABLE, True, None),
    (409, {}, HttpErrorType.SERVICE_UNAVAILABLE, True, None),
    (429, {"Retry-After": "17"}, HttpErrorType.RATE_LIMITED, True, timedelta(seconds=17)),
    (500, {}, HttpErrorType.SERVICE_UNAVAILABLE, True, None),
    (503, {"Retry-After": "5"}, HttpErrorType.SERVICE_UNAVAILABLE, True, timedelta(seconds=5)),
]


@pytest.mark.parametrize(("status", "headers", "error_type", "retryable", "delay"), CASES)
async def test_every_error_class_over_http(clients, admin, status, headers, error_type, retryable, delay):
    message = f"explained by the API ({status})"
    await admin.post(
        "/_admin/inject",
        json={"path_contains": "/agent/run/424242", "status": status, "headers": headers, "body": {"message": message, "status_code": status}},
    )
    with pytest.raises(ApplicationError) as caught:
        await clients.codegen.get_run(424242)
    error = caught.value
    assert error.type == error_type.value
    assert error.non_retryable is (not retryable)
    assert error.next_retry_delay == delay
    assert message in error.message and "/agent/run/424242" in error.message


def test_retry_after_as_http_date_and_fastapi_detail():
    now = time.time()
    when = format_datetime(datetime.fromtimestamp(now + 90, UTC), usegmt=True)
    request = httpx.Request("POST", "https://api.codegen.com/v1/organizations/1/agent/run?api_key=leak")
    limited = error_from_response(httpx.Response(429, headers={"Retry-After": when}, request=request), "Codegen", now=now)
    assert timedelta(seconds=88) <= limited.next_retry_delay <= timedelta(seconds=90)
    detail = {"detail": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]}
    invalid = error_from_response(httpx.Response(422, json=detail, request=request), "Codegen")
    assert "body.prompt: Field required" in invalid.message and "leak" not in invalid.message


async def test_a_bad_key_is_an_auth_error_that_never_shows_the_key(fake_url):
    settings = Settings.from_env({"CODEGEN_API_KEY": "sk-super-secret-value", "CODEGEN_API_URL": fake_url})
    async with build_service_clients(settings) as built:
        with pytest.raises(ApplicationError) as caught:
            await built.codegen.list_runs()
        health = await CodegenActivities(built.codegen).check_codegen_health()
    error = caught.value
    assert error.type == "AuthError" and error.non_retryable
    everything = f"{error.message} {error.details} {error.__cause__!r} {health.detail}"
    assert "sk-super-secret-value" not in everything
    assert not health.ok and "AuthError" in health.detail and not health.mock_mode


async def test_timeouts_and_refused_connections_are_retryable():
    async with serve_fake(FakeConfig(latency_seconds=0.5)) as slow_url:
        http = httpx.AsyncClient(base_url=slow_url, headers={"Authorization": "Bearer k"}, timeout=0.05)
        async with http:
            with pytest.raises(ApplicationError) as timed_out:
                await CodegenClient(http, "1").list_runs()
    assert timed_out.value.type == "ServiceUnavailable" and not timed_out.value.non_retryable
    assert "timed out" in timed_out.value.message

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=2) as http:
        with pytest.raises(ApplicationError) as refused:
            await CodegenClient(http, "1").get_run(1)
    assert refused.value.type == "ServiceUnavailable" and not refused.value.non_retryable
    assert "could not be reached" in refused.value.message


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("COMPLETE", RunState.COMPLETE),
        ("complete", RunState.COMPLETE),
        *[(s, RunState.FAILED) for s in ("FAILED", "ERROR", "CANCELLED", "STOPPED", "TIMEOUT", "MAX_ITERATIONS_REACHED", "OUT_OF_TOKENS")],
        ("out_of_tokens", RunState.FAILED),
        ("ACTIVE", RunState.RUNNING),
        ("PENDING", RunState.RUNNING),
        ("EVALUATING", RunState.RUNNING),
        ("", RunState.RUNNING),
        (None, RunState.RUNNING),
    ],
)
def test_status_table(status, state):
    assert classify_run_status(status) is state
    run = parse_agent_run({"id": 1, "organization_id": 1, "status": status}, mock_mode=False)
    assert run.state is state and run.status == (status or "").upper()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/widgets/pull/12", ("github.com", "acme", "widgets", 12)),
        ("https://github.com/acme/widgets/pull/12/files", ("github.com", "acme", "widgets", 12)),
        ("https://github.example.corp/team/svc.api/pull/7#discussion", ("github.example.corp", "team", "svc.api", 7)),
        ("https://github.com/acme/widgets/issues/12", None),
        ("not a url", None),
    ],
)
def test_pr_url_parsing(url, expected):
    ref = PullRequestRef.from_url(url)
    assert (ref and (ref.host, ref.owner, ref.repo, ref.number)) == expected


def test_run_parsing_keeps_prs_with_urls_and_reads_naive_timestamps():
    run = parse_agent_run(
        {
            "id": 5,
            "organization_id": 1,
            "status": "complete",
            "created_at": "2025-06-20 17:31:49.123456",
            "github_pull_requests": [
                {"id": 1, "url": "https://ghe.corp/a/b/pull/3", "head_branch_name": "x", "created_at": "2025-06-20T18:00:00Z"},
                {"id": 2, "url": None, "created_at": "2025-06-20T18:00:00Z"},
            ],
            "metadata": None,
        },
        mock_mode=True,
    )
    assert run.created_at == datetime(2025, 6, 20, 17, 31, 49, 123456, tzinfo=UTC)
    assert [pr.ref.key for pr in run.pull_requests] == ["a/b#3"] and run.pull_requests[0].ref.host == "ghe.corp"
    assert run.metadata == {} and run.mock_mode


# --- activities ---------------------------------------------------------------------------


async def test_exactly_one_run_when_the_create_response_is_lost(clients, admin):
    activities = CodegenActivities(clients.codegen)
    input = start_input({"drop_create_response": True})
    # The answer is lost but the run exists: the same try finds it while it is among the newest runs.
    adopted = await environment(attempt=1).run(activities.start_agent_run, input)
    # A retry (a worker that died before the answer, say) adopts it too.
    again = await environment(attempt=2).run(activities.start_agent_run, input)
    assert adopted.id == again.id
    assert adopted.metadata["task_id"] == input.task_id and adopted.metadata["attempt"] == 1
    assert adopted.metadata["workflow_id"] == input.workflow_id and adopted.metadata["scenario"] == {"drop_create_response": True}
    assert adopted.mock_mode is False
    counters = (await admin.get("/_admin/counters")).json()
    assert counters["runs_created"][input.task_id] == {"1": 1}

    # The workflow's next attempt, knowing that run, gets a new one.
    next_attempt = input.model_copy(update={"attempt": 2, "metadata": {}, "known_run_ids": [adopted.id]})
    assert (await environment().run(activities.start_agent_run, next_attempt)).id != adopted.id
    assert (await admin.get("/_admin/counters")).json()["runs_created"][input.task_id] == {"1": 1, "2": 1}


async def test_a_run_no_attempt_heard_of_is_adopted_by_the_next_attempt(clients, admin):
    activities = CodegenActivities(clients.codegen)
    input = start_input({"outcome": "leave_open"})
    # Attempt 1 created this run, but its answer never reached the workflow (every try failed after it).
    orphan = await environment().run(activities.start_agent_run, input)
    second = input.model_copy(update={"attempt": 2, "unanswered_since": datetime.now(UTC) - timedelta(minutes=1)})
    assert (await environment().run(activities.start_agent_run, second)).id == orphan.id
    assert (await admin.get("/_admin/counters")).json()["runs_created"][input.task_id] == {"1": 1}
    # A run of a later attempt is never adopted by an earlier one.
    later = await environment().run(activities.start_agent_run, input.model_copy(update={"attempt": 3, "known_run_ids": [orphan.id]}))
    assert later.id != orphan.id
    first_again = input.model_copy(update={"known_run_ids": [orphan.id]})
    assert (await environment().run(activities.start_agent_run, first_again)).id not in (orphan.id, later.id)


async def test_a_resubmitted_task_does_not_adopt_the_earlier_workflow_runs_agent(clients, admin):
    activities = CodegenActivities(clients.codegen)
    input = start_input()
    earlier = await environment(workflow_run_id="first-run").run(activities.start_agent_run, input)
    assert earlier.metadata["workflow_run_id"] == "first-run"
    # Same task id, same workflow id, attempt 1 again: a new workflow run, so a new agent.
    fresh = await environment(workflow_run_id="second-run").run(activities.start_agent_run, input)
    assert fresh.id != earlier.id
    assert (await admin.get("/_admin/counters")).json()["runs_created"][input.task_id] == {"1": 2}


async def test_exactly_one_run_when_the_create_times_out_after_taking_effect(fake_url, admin):
    await admin.post(
        "/_admin/inject",
        json={"method": "POST", "path_contains": "/agent/run", "status": 200, "after_effect": True, "delay_seconds": 1},
    )
    http = httpx.AsyncClient(base_url=fake_url, headers=AUTH, timeout=0.3)
    async with http:
        activities = CodegenActivities(CodegenClient(http, "1"))
        input = start_input()
        env = environment(attempt=1)
        beats: list[tuple] = []
        env.on_heartbeat = lambda *details: beats.append(details)
        adopted = await env.run(activities.start_agent_run, input)
    assert adopted.metadata["task_id"] == input.task_id
    assert (await admin.get("/_admin/counters")).json()["runs_created"][input.task_id] == {"1": 1}
    # The next try would have known when this one sent its create.
    assert list(beats[0][0]) == [CREATE_SENT_AT]


async def test_a_retry_looks_back_to_the_create_its_earlier_try_sent(clients, admin):
    activities = CodegenActivities(clients.codegen)
    input = start_input({"outcome": "leave_open"})
    sent_at = datetime.now(UTC)
    created = await environment().run(activities.start_agent_run, input)
    for _ in range(3):  # other tasks' runs bury it
        await environment().run(activities.start_agent_run, start_input({"outcome": "leave_open"}))
    retry = input.model_copy(update={"attempt": 1})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("activities.codegen.PAGE_LIMIT", 1)
        kept = ({CREATE_SENT_AT: sent_at.isoformat()},)
        assert (await environment(attempt=2, heartbeat_details=kept).run(activities.start_agent_run, retry)).id == created.id
        # The earlier try's heartbeat never reached the server: a retry looks back to the activity's scheduling.
        scheduled = environment(attempt=2, scheduled_time=sent_at - timedelta(seconds=1))
        assert (await scheduled.run(activities.start_agent_run, retry)).id == created.id
        # A first try has no earlier try to look for: only the newest page is read, and the buried run is not found.
        assert (await environment(attempt=1).run(activities.start_agent_run, retry)).id != created.id


async def test_repository_is_resolved_to_a_repo_id_once(clients, admin):
    activities = CodegenActivities(clients.codegen)
    env = environment()
    run = await env.run(activities.start_agent_run, start_input({"outcome": "leave_open"}, repository="acme/webapp"))
    second = await env.run(activities.start_agent_run, start_input({"outcome": "leave_open"}, repository="ACME/webapp"))
    assert run.metadata["repository"] == "acme/webapp"
    finished = await env.run(activities.wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=0.02))
    assert finished.pull_requests[0].ref.repository == "acme/webapp"
    assert second.id != run.id
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.start_agent_run, start_input(repository="acme/unknown"))
    assert caught.value.type == REPOSITORY_NOT_CONNECTED and caught.value.non_retryable
    assert "acme/unknown" in caught.value.message


async def test_wait_heartbeats_each_poll_and_returns_the_pr(clients):
    activities = CodegenActivities(clients.codegen)
    env = environment()
    beats: list[tuple] = []
    run = await env.run(activities.start_agent_run, start_input({"delays": {"run_seconds": 0.3}, "outcome": "leave_open"}))
    env.on_heartbeat = lambda *details: beats.append(details)
    done = await env.run(activities.wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=0.05))
    assert done.state is RunState.COMPLETE and done.status == "COMPLETE"
    assert len(beats) >= 2 and set(beats) == {("ACTIVE",)}
    pr = done.pull_requests[0]
    assert pr.ref is not None and pr.ref.number > 0 and pr.head_branch_name


async def test_agent_calls_heartbeat_only_once_they_are_slow():
    env = ActivityEnvironment()
    beats: list[tuple] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    async def call(seconds: float) -> None:
        async with heartbeating_while_slow(first_after=0.2, every=0.05):
            await asyncio.sleep(seconds)

    await env.run(call, 0.01)
    assert beats == []
    await env.run(call, 0.5)
    assert len(beats) >= 2


async def test_wait_sends_no_heartbeat_for_a_run_already_finished(clients):
    activities = CodegenActivities(clients.codegen)
    env = environment()
    beats: list[tuple] = []
    run = await env.run(activities.start_agent_run, start_input({"delays": {"run_seconds": 0}}))
    env.on_heartbeat = lambda *details: beats.append(details)
    done = await env.run(activities.wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=0.05))
    assert done.state is RunState.COMPLETE and beats == []


async def test_wait_returns_failed_and_pr_less_runs_as_results(clients):
    activities = CodegenActivities(clients.codegen)
    env = environment()
    failed = await env.run(activities.start_agent_run, start_input({"fail_attempts": 1, "failure_status": "MAX_ITERATIONS_REACHED"}))
    empty = await env.run(activities.start_agent_run, start_input({"no_pr_attempts": 1}))
    failed = await env.run(activities.wait_for_agent_run, WaitRunInput(run_id=failed.id, poll_interval_seconds=0.02))
    empty = await env.run(activities.wait_for_agent_run, WaitRunInput(run_id=empty.id, poll_interval_seconds=0.02))
    assert failed.state is RunState.FAILED and failed.status == "MAX_ITERATIONS_REACHED"
    assert empty.state is RunState.COMPLETE and empty.pull_requests == []


async def test_poll_interval_is_bounded_by_the_heartbeat_timeout(clients):
    activities = CodegenActivities(clients.codegen)
    env = environment(heartbeat_timeout=timedelta(seconds=0.2))
    run = await env.run(activities.start_agent_run, start_input({"delays": {"run_seconds": 0.1}}))
    # Asking for an hour between polls, with ten minutes allowed: the heartbeat timeout caps it at 0.1 s.
    async with asyncio.timeout(600):
        await env.run(activities.wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=3600))


async def test_wait_stops_when_cancelled(clients):
    activities = CodegenActivities(clients.codegen)
    env = environment()
    run = await env.run(activities.start_agent_run, start_input({"delays": {"run_seconds": 60}}))
    beats: list[tuple] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    waiting = asyncio.create_task(env.run(activities.wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=0.05)))
    deadline = time.monotonic() + 5
    while not beats and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)


async def test_a_retried_resume_adopts_the_resume_that_took_effect(clients, admin):
    activities = CodegenActivities(clients.codegen)
    run = await environment().run(activities.start_agent_run, start_input({"outcome": "leave_open"}))
    await finished_run(admin, run.id)
    before = _resume_count(await admin.get("/_admin/counters"))
    input = ResumeRunInput(run_id=run.id, prompt="Fix the failing test", task_id="t", workflow_id="w", followup=1)
    # Keep the resumed run busy so the retry finds it running.
    await admin.patch("/_admin/config", json={"run_seconds": 5})
    try:
        resumed = await environment(attempt=1).run(activities.resume_agent_run, input)
        retried = await environment(attempt=2).run(activities.resume_agent_run, input)
    finally:
        await admin.patch("/_admin/config", json={"run_seconds": FAST["run_seconds"]})
    assert resumed.status == "ACTIVE" and retried.id == resumed.id and retried.status == "ACTIVE"
    assert _resume_count(await admin.get("/_admin/counters")) == before + 1


def _resume_count(response: httpx.Response) -> int:
    return response.json()["requests"].get("POST /v1/organizations/{org_id}/agent/run/resume", {}).get("200", 0)


async def test_list_runs_pages_newest_first(clients):
    page = await clients.codegen.list_runs(skip=0, limit=2)
    rest = await clients.codegen.list_runs(skip=2, limit=2)
    assert len(page.runs) == 2 and page.total >= 4
    assert page.runs[0].id > page.runs[1].id > rest.runs[0].id


async def test_health_reports_who_the_key_belongs_to(clients):
    health = await CodegenActivities(clients.codegen).check_codegen_health()
    assert health.ok and not health.mock_mode and "mock-user" in health.detail


# --- mock mode ----------------------------------------------------------------------------


async def test_mock_mode_in_process_runs_the_whole_lifecycle_on_this_loop():
    async with build_service_clients(Settings.from_env({})) as built:
        assert built.mock_mode and "MOCK MODE" in built.description and "inside this worker" in built.description
        activities = CodegenActivities(built.codegen)
        env = environment()
        scenario = {"delays": {"run_seconds": 0.02, "checks_seconds": 0.02, "merge_seconds": 0.02}}
        run = await env.run(activities.start_agent_run, start_input(scenario))
        assert run.mock_mode
        done = await env.run(activities.wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=0.02))
        ref = done.pull_requests[0].ref
        assert ref is not None

        async def merged() -> bool:
            return (await built.github.get_pull_request(ref)).merged

        await wait_until(merged, timeout=5, interval=0.02, what="the fake to merge the PR")
        health = await activities.check_codegen_health()
        assert health.ok and health.mock_mode and "mock mode" in health.detail


async def test_mock_mode_with_an_explicit_url_uses_the_served_fake_for_both_apis(fake_url, admin):
    async with build_service_clients(Settings.from_env({"CODEGEN_API_URL": fake_url})) as built:
        assert built.mock_mode and fake_url in built.description
        # The fake of this module wants a specific key; mock mode must not send a real one.
        with pytest.raises(ApplicationError) as caught:
            await built.codegen.current_user()
        assert caught.value.type == "AuthError"
    async with serve_fake(FakeConfig(**FAST)) as open_url:
        async with build_service_clients(Settings.from_env({"CODEGEN_API_URL": open_url})) as built:
            run = await environment().run(CodegenActivities(built.codegen).start_agent_run, start_input({"outcome": "leave_open"}))
            done = await environment().run(
                CodegenActivities(built.codegen).wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=0.02)
            )
            pr = await built.github.get_pull_request(done.pull_requests[0].ref)
            assert run.mock_mode and pr.state == "open" and pr.head_ref == done.pull_requests[0].head_branch_name


async def test_every_try_looks_first_so_an_activity_reset_adopts_the_run_it_created(clients, admin):
    activities = CodegenActivities(clients.codegen)
    listings = "GET /v1/organizations/{org_id}/agent/runs"

    async def listed() -> int:
        return sum((await admin.get("/_admin/counters")).json()["requests"].get(listings, {}).values())

    input = start_input(first_execution_run_id="first-run")
    before = await listed()
    run = await environment(attempt=1, scheduled_time=datetime.now(UTC)).run(activities.start_agent_run, input)
    assert await listed() == before + 1  # one list per create: the first page reaches runs older than the task
    assert run.metadata["first_execution_run_id"] == "first-run"
    # `temporal activity reset` starts the attempt count at 1 again: the try must still look, and adopt.
    again = await environment(attempt=1, scheduled_time=datetime.now(UTC)).run(activities.start_agent_run, input)
    assert again.id == run.id
    assert (await admin.get("/_admin/counters")).json()["runs_created"][input.task_id] == {"1": 1}


async def test_a_workflow_reset_adopts_the_run_by_the_first_execution_run_id(clients, admin):
    activities = CodegenActivities(clients.codegen)
    input = start_input(first_execution_run_id="first-run")
    created = await environment(workflow_run_id="first-run").run(activities.start_agent_run, input)
    # A reset (or continue-as-new) runs the same attempt under a new workflow run id, same first execution.
    adopted = await environment(workflow_run_id="reset-run").run(activities.start_agent_run, input)
    assert adopted.id == created.id
    # A resubmitted task is a new first execution: a new agent.
    resubmitted = await environment(workflow_run_id="new-task-run").run(
        activities.start_agent_run, input.model_copy(update={"first_execution_run_id": "new-task-run"})
    )
    assert resubmitted.id != created.id
    assert (await admin.get("/_admin/counters")).json()["runs_created"][input.task_id] == {"1": 2}


async def test_runs_tagged_by_older_code_still_match_by_workflow_run_id(clients, admin):
    activities = CodegenActivities(clients.codegen)
    input = start_input(first_execution_run_id="first-run")
    older = {"task_id": input.task_id, "workflow_id": input.workflow_id, "workflow_run_id": "first-run", "attempt": 1}
    response = await admin.post("/v1/organizations/1/agent/run", json={"prompt": "older code", "metadata": older})
    assert response.status_code == 200
    adopted = await environment(workflow_run_id="first-run").run(activities.start_agent_run, input)
    assert adopted.id == response.json()["id"]


async def test_the_search_reads_one_page_unless_a_create_went_unanswered(clients, admin):
    activities = CodegenActivities(clients.codegen)
    listings = "GET /v1/organizations/{org_id}/agent/runs"
    for _ in range(3):
        await environment().run(activities.start_agent_run, start_input({"outcome": "leave_open"}))

    async def listed() -> int:
        return sum((await admin.get("/_admin/counters")).json()["requests"].get(listings, {}).values())

    before = await listed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("activities.codegen.PAGE_LIMIT", 1)
        patch.setattr(CodegenActivities, "ADOPTION_MAX_PAGES", 3)  # fewer than the runs on the fake
        await environment().run(activities.start_agent_run, start_input(first_execution_run_id="x"))
        assert await listed() == before + 1
        # Unanswered a day ago: it reads page after page, up to ADOPTION_MAX_PAGES.
        input = start_input(first_execution_run_id="y", unanswered_since=datetime.now(UTC) - timedelta(days=1))
        await environment().run(activities.start_agent_run, input)
        assert await listed() == before + 1 + 3
        # Unanswered just now: the runs before it (and the clock-skew margin) are not read.
        input = start_input(first_execution_run_id="z", unanswered_since=datetime.now(UTC) + CodegenActivities.ADOPTION_CLOCK_SKEW * 2)
        await environment().run(activities.start_agent_run, input)
        assert await listed() == before + 2 + 3


# --- errors as Codegen documents them, model ----------------------------------------------


async def test_a_404_on_create_is_repository_not_connected_naming_the_organization():
    async with serve_fake(FakeConfig(**FAST, repositories=[])) as url:
        settings = Settings.from_env({"CODEGEN_API_KEY": KEY, "CODEGEN_API_URL": url, "CODEGEN_ORG_ID": "7"})
        async with build_service_clients(settings) as built:
            with pytest.raises(ApplicationError) as caught:
                await environment().run(CodegenActivities(built.codegen).start_agent_run, start_input())
    error = caught.value
    assert error.type == REPOSITORY_NOT_CONNECTED and error.non_retryable
    assert "no repositories are connected to Codegen organization 7; connect one in Codegen's settings" in error.message
    assert "No repos found in the organization" in error.message


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_on_create_stay_auth_errors(clients, admin, status):
    await admin.post("/_admin/inject", json={"method": "POST", "path_contains": "/agent/run", "status": status})
    with pytest.raises(ApplicationError) as caught:
        await clients.codegen.create_run("x", {})
    assert caught.value.type == "AuthError" and caught.value.non_retryable


async def test_model_is_sent_on_create_and_resume_when_set(clients, admin):
    activities = CodegenActivities(clients.codegen)
    env = environment()
    run = await env.run(activities.start_agent_run, start_input({"outcome": "leave_open"}, model="claude-sonnet-4"))
    plain = await env.run(activities.start_agent_run, start_input({"outcome": "leave_open"}))
    await finished_run(admin, run.id)
    resume = ResumeRunInput(run_id=run.id, prompt="more", task_id="t", workflow_id="w", followup=1, model="gpt-5")
    await env.run(activities.resume_agent_run, resume)
    await finished_run(admin, run.id)
    await env.run(activities.resume_agent_run, resume.model_copy(update={"model": None, "followup": 2}))
    details = (await admin.get(f"/_admin/runs/{run.id}")).json()
    assert details["models"] == ["claude-sonnet-4", "gpt-5"] and details["resumes"] == 2
    assert (await admin.get(f"/_admin/runs/{plain.id}")).json()["models"] == [None]


# --- malformed answers ----------------------------------------------------------------------

MALFORMED = [
    ({"organization_id": 1, "status": "ACTIVE"}, "no `id`"),
    ({"id": 9, "organization_id": 1, "status": 5}, "`status` 5 is not a string"),
    ({"id": 9, "organization_id": 1, "status": {"name": "ACTIVE"}}, "is not a string"),
    ({"id": 9, "status": "COMPLETE", "github_pull_requests": [{"url": "https://github.com/a/b/issues/3"}]}, "not a pull-request URL"),
    ({"id": 9, "status": "COMPLETE", "github_pull_requests": ["https://github.com/a/b/pull/3"]}, "not an object"),
    ({"id": 9, "status": "COMPLETE", "github_pull_requests": [{"url": 17}]}, "not a string"),
    ({"id": 9, "status": "COMPLETE", "metadata": [1]}, "`metadata` is not an object"),
    (["not", "a", "run"], "not an object"),
]


@pytest.mark.parametrize(("body", "problem"), MALFORMED)
async def test_a_malformed_run_is_a_clear_invalid_response(clients, admin, body, problem):
    await admin.post("/_admin/inject", json={"method": "GET", "path_contains": "/agent/run/31337", "status": 200, "body": body})
    with pytest.raises(ApplicationError) as caught:
        await environment().run(CodegenActivities(clients.codegen).wait_for_agent_run, WaitRunInput(run_id=31337))
    assert caught.value.type == "InvalidResponse" and not caught.value.non_retryable
    assert problem in caught.value.message and "/agent/run/31337" in caught.value.message


async def test_a_listed_run_that_cannot_be_read_is_left_out_of_the_page(clients, admin):
    good = {"id": 2, "organization_id": 1, "status": "ACTIVE", "github_pull_requests": [{"url": "https://x.test/a/b/issues/1"}]}
    page = {"items": [{"status": 3}, good], "total": 2, "page": 1, "size": 100, "pages": 1}
    await admin.post("/_admin/inject", json={"method": "GET", "path_contains": "/agent/runs", "status": 200, "body": page})
    result = await clients.codegen.list_runs()
    assert [run.id for run in result.runs] == [2] and result.runs[0].pull_requests[0].ref is None


# --- mock mode: any repository --------------------------------------------------------------


async def test_mock_mode_accepts_any_repository_unless_the_fake_is_told_otherwise(monkeypatch):
    async with build_service_clients(Settings.from_env({})) as built:
        activities = CodegenActivities(built.codegen)
        scenario = {"delays": {"run_seconds": 0.02}, "outcome": "leave_open"}
        run = await environment().run(activities.start_agent_run, start_input(scenario, repository="acme/docs"))
        done = await environment().run(activities.wait_for_agent_run, WaitRunInput(run_id=run.id, poll_interval_seconds=0.02))
        assert done.pull_requests[0].ref.repository == "acme/docs"
        assert done.pull_requests[0].ref.host == "mock-github.invalid"
        assert done.pull_requests[0].url.startswith("https://mock-github.invalid/acme/docs/pull/")

    monkeypatch.setenv("FAKE_REPOSITORIES", "acme/api")
    async with build_service_clients(Settings.from_env({})) as built:
        with pytest.raises(ApplicationError) as caught:
            await environment().run(CodegenActivities(built.codegen).start_agent_run, start_input(repository="acme/docs"))
    assert caught.value.type == REPOSITORY_NOT_CONNECTED and "acme/docs is not connected" in caught.value.message


async def test_a_try_with_too_little_time_left_leaves_the_create_to_the_next(clients, admin):
    activities = CodegenActivities(clients.codegen)
    input = start_input()
    late = environment(started_time=datetime.now(UTC) - timedelta(minutes=9, seconds=30))
    with pytest.raises(ApplicationError) as deferred:
        await late.run(activities.start_agent_run, input)
    assert deferred.value.type == CREATE_DEFERRED and not deferred.value.non_retryable
    assert input.task_id not in (await admin.get("/_admin/counters")).json()["runs_created"]


async def test_first_tries_scheduled_before_a_page_was_read_share_it(clients, admin):
    activities = CodegenActivities(clients.codegen)
    listings = "GET /v1/organizations/{org_id}/agent/runs"

    async def listed() -> int:
        return sum((await admin.get("/_admin/counters")).json()["requests"].get(listings, {}).values())

    queued_since = datetime.now(UTC)  # three creates waiting in the queue together
    before = await listed()
    for _ in range(3):
        await environment(current_attempt_scheduled_time=queued_since).run(activities.start_agent_run, start_input())
    assert await listed() == before + 1
    # A try scheduled after that read reads again: the page may not show a run made just before it.
    await environment().run(activities.start_agent_run, start_input())
    assert await listed() == before + 2
