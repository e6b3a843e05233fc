"""Flaky and hostile upstreams: Codegen answering 30% 429/5xx with latency, GitHub 20% 5xx or its rate limit
spent, and a wrong API key."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from models.status import Reason, TaskOutcome
from settings import Settings
from tests.fault_harness import (
    assert_expected,
    assert_one_run_per_attempt,
    expected_tasks,
    fake_counters,
    fake_process,
    outcomes,
    start_tasks,
)
from tests.relay_probe import serving
from webhooks.app import create_app
from worker import running_workers

pytestmark = pytest.mark.faults


def _answers(counters: dict, prefix: str) -> dict[str, int]:
    """Responses by status over every endpoint whose label starts with `prefix` ("POST /v1/...")."""
    totals: dict[str, int] = {}
    for endpoint, statuses in counters["requests"].items():
        if endpoint.split(" ", 1)[1].startswith(prefix):
            for status, count in statuses.items():
                totals[status] = totals.get(status, 0) + count
    return totals


async def eight_tasks_against_a_faulty_fake(client: Client, task_queue: str, tmp_path: Path, prefix: str, **fake_env: str) -> dict:
    """Eight tasks of every kind through the relay and workers against a fake process with `fake_env`;
    checks each ends as its scenario says with one agent run per attempt, and returns the fake's counters."""
    secret = uuid.uuid4().hex
    async with AsyncExitStack() as stack:
        relay_url = await stack.enter_async_context(
            serving(create_app(Settings(webhook_secret=SecretStr(secret), task_queue=task_queue), client))
        )
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log", WEBHOOK_SECRET=secret, RELAY_URL=relay_url, **fake_env))
        settings = Settings(task_queue=task_queue, codegen_api_url=fake_url, codegen_api_url_explicit=True, github_api_url=fake_url)
        await stack.enter_async_context(running_workers(client, settings))
        tasks = expected_tasks(8, prefix, run_seconds=1.0, reconcile_seconds=2.0)
        results = await outcomes(await start_tasks(client, task_queue, tasks), timeout=150)
        counters = await fake_counters(fake_url)
    assert_expected(tasks, results)
    assert_one_run_per_attempt(tasks, counters)
    return counters


async def test_tasks_complete_while_codegen_and_github_fail_often(client: Client, task_queue: str, tmp_path: Path):
    # Codegen: 10% each of 429, 503 and 500 (about 30% of requests); GitHub: 10% each of 503 and 500 (about 20%).
    # Each status is drawn in turn, so the fractions compound slightly: 27% and 19%.
    counters = await eight_tasks_against_a_faulty_fake(
        client, task_queue, tmp_path, "flaky",
        FAKE_CODEGEN_RATE_429="0.1", FAKE_CODEGEN_RATE_500="0.1", FAKE_CODEGEN_RATE_503="0.1",
        FAKE_GITHUB_RATE_500="0.1", FAKE_GITHUB_RATE_503="0.1",
        FAKE_LATENCY_MS="40", FAKE_RETRY_AFTER_SECONDS="1",
    )  # fmt: skip
    codegen, github = _answers(counters, "/v1/"), _answers(counters, "/repos/")
    five_xx = ("500", "503")
    assert codegen.get("429", 0) > 0 and sum(codegen.get(s, 0) for s in five_xx) > 0, codegen
    assert sum(github.get(s, 0) for s in five_xx) > 0 and "429" not in github, github
    faults = {service: sum(answers.get(s, 0) for s in ("429", *five_xx)) for service, answers in (("Codegen", codegen), ("GitHub", github))}
    print(f"faults answered: {faults} of {sum(codegen.values())} Codegen and {sum(github.values())} GitHub requests")


async def test_tasks_complete_while_githubs_rate_limit_refuses_reads(client: Client, task_queue: str, tmp_path: Path):
    # Six requests every two seconds: the first reads of eight PRs (two requests each) overrun it.
    counters = await eight_tasks_against_a_faulty_fake(
        client, task_queue, tmp_path, "limited", FAKE_GITHUB_RATE_LIMIT="6", FAKE_GITHUB_RATE_WINDOW_SECONDS="2"
    )
    github = _answers(counters, "/repos/")
    assert github.get("403", 0) > 0, github
    print(f"GitHub answers under its rate limit: {github}")


async def test_a_wrong_api_key_ends_the_task_with_auth_error_without_retrying(client: Client, task_queue: str, tmp_path: Path):
    async with AsyncExitStack() as stack:
        fake_url = await stack.enter_async_context(fake_process(tmp_path / "fake.log", FAKE_CODEGEN_API_KEY="right"))
        # A key set means real mode: the real client code, pointed at the fake.
        settings = Settings(
            task_queue=task_queue,
            codegen_api_key=SecretStr("wrong"),
            codegen_api_url=fake_url,
            codegen_api_url_explicit=True,
            github_api_url=fake_url,
            # The real API's 10 creations a minute, enforced per task-queue partition, would make "quickly" luck.
            codegen_create_rate_per_minute=600,
        )
        await stack.enter_async_context(running_workers(client, settings))
        task_id = f"auth-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(
            "CodegenTaskWorkflow",
            {"task": {"id": task_id, "title": "Never starts", "type": "bug_fix"}},
            id=f"codegen-task-{task_id}",
            task_queue=task_queue,
            result_type=TaskOutcome,
        )
        [outcome] = await outcomes([handle], timeout=30)
        counters = await fake_counters(fake_url)

    assert (outcome.status, outcome.reason, outcome.mock_mode) == ("failed", Reason.AUTH_ERROR, False)
    assert len(outcome.attempts) == 1, "an auth error is not worth another attempt"
    codegen = _answers(counters, "/v1/")
    # One refused request ends it: no activity retry, no second attempt, no run created.
    assert codegen == {"401": 1}, codegen
    assert counters["runs_total"] == 0
