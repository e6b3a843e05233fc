"""Deliveries reach the right running workflow: by PR key, by head SHA, by the PR body's Task-ID.

Real dev server, real relay app over httpx.ASGITransport, and a probe workflow with the task
workflow's signal handlers and search attributes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client

from settings import Settings
from tests.relay_probe import (
    IGNORED_BOT,
    SECRET,
    Probes,
    PullRequestIdentity,
    deliver,
    encode,
    probes,  # noqa: F401  (fixture)
    received,
    relay_client,
)
from webhooks.app import create_app


def relay_settings() -> Settings:
    return Settings(webhook_secret=SECRET, allowed_repositories=["acme/*"], ignored_reviewers=[IGNORED_BOT])


@pytest_asyncio.fixture
async def relay(client: Client):
    # Short patience: deliveries for workflows that never appear are answered quickly.
    app = create_app(relay_settings(), client, lookup_patience=timedelta(milliseconds=300))
    async with relay_client(app) as http:
        yield http


@pytest.fixture
def identity() -> PullRequestIdentity:
    return PullRequestIdentity.fresh()


@pytest.mark.parametrize(
    ("name", "event", "signal", "expected"),
    [
        ("pull_request.closed.merged", "pull_request", "pr_event", {"action": "closed", "merged": True}),
        ("pull_request.closed.unmerged", "pull_request", "pr_event", {"action": "closed", "merged": False}),
        ("pull_request.reopened", "pull_request", "pr_event", {"action": "reopened"}),
        ("pull_request.synchronize", "pull_request", "pr_event", {"action": "synchronize"}),
        ("pull_request.ready_for_review", "pull_request", "pr_event", {"action": "ready_for_review"}),
        ("pull_request.converted_to_draft", "pull_request", "pr_event", {"action": "converted_to_draft"}),
        ("check_run.completed", "check_run", "check_result", {"name": "tests (3.11)", "conclusion": "success"}),
        ("check_suite.completed", "check_suite", "check_result", {"name": "suite:github-actions"}),
        ("pull_request_review.submitted.approved", "pull_request_review", "review", {"state": "approved"}),
        ("pull_request_review.dismissed", "pull_request_review", "review", {"state": "dismissed"}),
    ],
)
async def test_every_handled_event_reaches_its_workflow_by_pr_key(
    relay, probes: Probes, identity, name, event, signal, expected
) -> None:
    handle = await probes.start(identity)
    response = await deliver(relay, event, identity.payload(name), delivery=f"d-{name}")
    assert response.status_code == 202, response.text
    assert response.json() == {"signalled": [handle.id], "signal": signal, "delivery": f"d-{name}"}
    [got] = await received(handle, 1)
    assert got["signal"] == signal and got["delivery_id"] == f"d-{name}"
    assert expected.items() <= got.items()
    # The repository's web host, so a task takes events only from its own PR's host (mock or real).
    assert got["host"] == "github.com"


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("check_run.completed.no_pull_requests", "check_run"),
        ("check_suite.completed.no_pull_requests", "check_suite"),
        ("status.success", "status"),
    ],
)
async def test_checks_without_pull_requests_are_found_by_head_sha(relay, probes: Probes, identity, name, event) -> None:
    handle = await probes.start(identity)
    response = await deliver(relay, event, identity.payload(name))
    assert response.status_code == 202, response.text
    assert response.json()["signalled"] == [handle.id]
    [got] = await received(handle, 1)
    assert got["head_sha"] == identity.head_sha
    assert got["host"] == "github.com"


async def test_head_sha_of_another_repository_does_not_match(relay, probes: Probes, identity) -> None:
    # Forks share commits: the same SHA in another repository is not this workflow's.
    await probes.start(identity)
    other = PullRequestIdentity.fresh()
    body = other.payload("status.success").replace(other.head_sha.encode(), identity.head_sha.encode())
    response = await deliver(relay, "status", body)
    assert response.status_code == 200
    assert response.json()["ignored"].startswith("untracked")


async def test_task_id_line_finds_a_workflow_that_has_not_published_its_pr(relay, probes: Probes, identity) -> None:
    handle = await probes.start_for_task(identity)
    response = await deliver(relay, "pull_request", identity.payload("pull_request.closed.merged"))
    assert response.status_code == 202, response.text
    assert response.json()["signalled"] == [handle.id]
    [got] = await received(handle, 1)
    assert (got["pr_key"], got["merged"]) == (identity.pr_key, True)


async def test_task_id_line_cannot_redirect_a_workflow_that_owns_another_pr(relay, probes: Probes, identity) -> None:
    # Anyone can write "Task-ID: ..." into a PR body; a workflow with its own PR is not theirs to signal.
    owner = PullRequestIdentity.fresh()
    await probes.start(owner, workflow_id=f"codegen-task-{identity.task_id}")
    response = await deliver(relay, "pull_request", identity.payload("pull_request.closed.merged"))
    assert response.status_code == 200
    assert response.json()["ignored"].startswith("untracked")


async def test_only_running_workflows_are_signalled(relay, probes: Probes, identity) -> None:
    handle = await probes.start(identity)
    await handle.signal("finish")
    assert await handle.result() == []
    response = await deliver(relay, "pull_request", identity.payload("pull_request.closed.merged"))
    assert response.status_code == 200
    assert response.json() == {"ignored": f"finished: workflow {handle.id} for {identity.pr_key} has closed"}


async def test_untracked_pr_is_answered_200_once_its_patience_runs_out(relay, client: Client, identity) -> None:
    # The same delivery to a relay with an hour of patience: still waiting when the short one has answered.
    async with relay_client(create_app(relay_settings(), client, lookup_patience=timedelta(hours=1))) as patient:
        waiting = asyncio.create_task(deliver(patient, "check_run", identity.payload("check_run.completed")))
        response = await deliver(relay, "check_run", identity.payload("check_run.completed"))
        patient_still_waiting = not waiting.done()
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    assert response.status_code == 200
    assert response.json()["ignored"].startswith("untracked")
    assert patient_still_waiting


async def test_delivery_waits_for_a_workflow_that_is_being_indexed(client: Client, probes: Probes, identity) -> None:
    app = create_app(relay_settings(), client, lookup_patience=timedelta(seconds=5))
    async with relay_client(app) as http:
        # The delivery is already waiting when the workflow starts and publishes its PR.
        delivery = asyncio.create_task(deliver(http, "pull_request", identity.payload("pull_request.closed.merged")))
        await asyncio.sleep(0)
        handle = await probes.start(identity)
        response = await delivery
    assert response.status_code == 202, response.text
    assert response.json()["signalled"] == [handle.id]


async def test_the_same_delivery_twice_changes_state_once(relay, probes: Probes, identity) -> None:
    handle = await probes.start(identity)
    body = identity.payload("pull_request_review.submitted.changes_requested")
    first = await deliver(relay, "pull_request_review", body, delivery="redelivered-1")
    second = await deliver(relay, "pull_request_review", body, delivery="redelivered-1")
    assert first.status_code == second.status_code == 202
    # A later, different delivery proves both earlier signals were processed before we look.
    await deliver(relay, "pull_request_review", identity.payload("pull_request_review.submitted.approved"))
    signals = await received(handle, 2)
    assert [s["state"] for s in signals] == ["changes_requested", "approved"]
    assert [s["delivery_id"] for s in signals][0] == "redelivered-1"


async def test_check_results_out_of_order_are_all_delivered_with_their_times(relay, probes: Probes, identity) -> None:
    # The workflow keeps the newest per check name; the relay's job is to deliver both, times intact.
    handle = await probes.start(identity)
    newer = identity.document("check_run.completed")
    newer["check_run"].update(conclusion="success", completed_at="2026-11-24T10:09:00Z")
    older = identity.document("check_run.completed")
    older["check_run"].update(conclusion="failure", completed_at="2026-11-24T10:04:30Z")
    assert (await deliver(relay, "check_run", encode(newer))).status_code == 202
    assert (await deliver(relay, "check_run", encode(older))).status_code == 202
    signals = await received(handle, 2)
    assert [(s["conclusion"], s["completed_at"]) for s in signals] == [
        ("success", "2026-11-24T10:09:00Z"),
        ("failure", "2026-11-24T10:04:30Z"),
    ]


@pytest.mark.parametrize(
    ("name", "event", "reason"),
    [
        ("pull_request_review.submitted.by_bot", "pull_request_review", "IGNORED_REVIEWERS"),
        ("pull_request.labeled", "pull_request", "not handled"),
        ("check_run.created", "check_run", "not handled"),
        ("status.pending", "status", "pending"),
        ("issues.opened", "issues", "not handled"),
    ],
)
async def test_ignored_deliveries_send_no_signal(relay, probes: Probes, identity, name, event, reason) -> None:
    handle = await probes.start(identity)
    response = await deliver(relay, event, identity.payload(name))
    assert response.status_code == 200
    assert reason in response.json()["ignored"]
    await assert_only_control_signal(relay, handle, identity)


async def test_repositories_outside_the_allow_list_send_no_signal(probes: Probes, client: Client) -> None:
    fresh = PullRequestIdentity.fresh()
    identity = PullRequestIdentity(
        fresh.repository.replace("acme/", "elsewhere/"), fresh.number, fresh.head_sha, fresh.new_head_sha, fresh.task_id
    )
    handle = await probes.start(identity)
    app = create_app(relay_settings(), client, lookup_patience=timedelta(milliseconds=300))
    async with relay_client(app) as http:
        response = await deliver(http, "pull_request", identity.payload("pull_request.closed.merged"))
        assert response.status_code == 200
        assert "ALLOWED_REPOSITORIES" in response.json()["ignored"]
        app_all = create_app(Settings(webhook_secret=SECRET), client)
        async with relay_client(app_all) as open_relay:
            await assert_only_control_signal(open_relay, handle, identity)


async def assert_only_control_signal(http, handle, identity: PullRequestIdentity) -> None:
    """Send a valid delivery and wait for it: had an earlier request signalled, it would come first."""
    control = await deliver(http, "pull_request", identity.payload("pull_request.reopened"), delivery="control")
    assert control.status_code == 202, control.text
    signals = await received(handle, 1)
    assert [s["delivery_id"] for s in signals] == ["control"], json.dumps(signals)
