"""Deliveries for tasks whose workflow has closed are answered "finished" at once, without waiting
out the lookup patience; only a PR that no workflow has yet is worth waiting for.

Real dev server, the relay app over httpx.ASGITransport, probe workflows as in the routing tests.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import Client

from models import names
from settings import Settings
from tests.relay_probe import (
    SECRET,
    Probes,
    PullRequestIdentity,
    deliver,
    probes,  # noqa: F401  (fixture)
    received,
    relay_client,
)
from tests.waiting import wait_until
from webhooks.app import create_app

PATIENCE = timedelta(seconds=10)


async def timed_post(http, event: str, body: bytes):
    """The response and how long the relay took to give it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await deliver(http, event, body)
    return response, loop.time() - started


async def wait_visible(client: Client, pr_key: str, *, running: bool, count: int = 1) -> None:
    """Wait until visibility lists at least `count` running (or closed) runs under this PR key."""
    operator = "=" if running else "!="
    query = f"{names.PR_KEY.name} = '{pr_key}' AND ExecutionStatus {operator} 'Running'"

    async def visible() -> bool:
        return (await client.count_workflows(query)).count >= count

    state = "running" if running else "closed"
    await wait_until(visible, what=f"{count} {state} run(s) of {pr_key} in visibility")


def metric_lines(app, prefix: str) -> list[str]:
    return [line for line in app.state.metrics.render().decode().splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize(
    ("name", "event", "described"),
    [
        ("check_suite.completed", "check_suite", "pr_key"),
        ("pull_request.closed.merged", "pull_request", "pr_key"),
        # No PR named: found by head commit.
        ("status.success", "status", "head"),
    ],
)
async def test_a_delivery_for_a_finished_task_is_answered_at_once(
    client: Client, probes: Probes, name, event, described
) -> None:
    identity = PullRequestIdentity.fresh()
    handle = await probes.start(identity)
    await handle.signal("finish")
    await handle.result()
    await wait_visible(client, identity.pr_key, running=False)

    # An hour of patience against ten minutes allowed: a finished task must not wait it out, and no loaded
    # machine blurs the two.
    app = create_app(Settings(webhook_secret=SECRET), client, lookup_patience=timedelta(hours=1))
    async with relay_client(app) as http, asyncio.timeout(600):
        response = await deliver(http, event, identity.payload(name))

    target = identity.pr_key if described == "pr_key" else f"{identity.repository}@{identity.head_sha}"
    assert response.status_code == 200
    assert response.json() == {"ignored": f"finished: workflow {handle.id} for {target} has closed"}
    action = identity.document(name).get("action", "")
    answered = f'relay_webhook_deliveries_total{{action="{action}",event="{event}",outcome="finished"}} 1.0'
    assert metric_lines(app, "relay_webhook_deliveries_total") == [answered]
    assert metric_lines(app, "relay_signals_sent_total") == []


async def test_a_pr_no_workflow_has_yet_is_waited_for_then_untracked(client: Client) -> None:
    identity = PullRequestIdentity.fresh()
    patience = timedelta(seconds=1)
    app = create_app(Settings(webhook_secret=SECRET), client, lookup_patience=patience)
    # Ten minutes allowed for a second of patience: it gives up, whatever the machine's load.
    async with relay_client(app) as http, asyncio.timeout(600):
        response, took = await timed_post(http, "check_suite", identity.payload("check_suite.completed"))

    assert response.status_code == 200
    assert response.json() == {"ignored": f"untracked: no running workflow for {identity.pr_key}"}
    # The backoff stops short of the deadline when its next step would pass it, but it did wait.
    assert took >= patience.total_seconds() / 2, took


async def test_a_running_workflow_is_signalled_past_many_closed_ones_for_the_same_pr(
    client: Client, probes: Probes
) -> None:
    # More closed runs than one visibility page of matches: the running one must still be found.
    identity = PullRequestIdentity.fresh()
    running = await probes.start(identity)
    closed = await asyncio.gather(*(probes.start(identity) for _ in range(12)))
    await asyncio.gather(*(handle.signal("finish") for handle in closed))
    await asyncio.gather(*(handle.result() for handle in closed))
    await wait_visible(client, identity.pr_key, running=False, count=len(closed))

    app = create_app(Settings(webhook_secret=SECRET), client, lookup_patience=PATIENCE)
    async with relay_client(app) as http:
        response, _ = await timed_post(http, "check_run", identity.payload("check_run.completed"))

    assert response.status_code == 202, response.text
    assert response.json()["signalled"] == [running.id]
    assert [s["signal"] for s in await received(running, 1)] == ["check_result"]


async def test_a_task_restarted_after_its_run_closed_gets_the_delivery(client: Client, probes: Probes) -> None:
    # `starter.py retry` starts a new run under the same workflow id once the last one failed.
    identity = PullRequestIdentity.fresh()
    first = await probes.start(identity)
    await first.signal("finish")
    await first.result()
    await wait_visible(client, identity.pr_key, running=False)
    restarted = await probes.start(identity, workflow_id=first.id)
    await wait_visible(client, identity.pr_key, running=True)

    app = create_app(Settings(webhook_secret=SECRET), client, lookup_patience=PATIENCE)
    async with relay_client(app) as http:
        response, _ = await timed_post(http, "pull_request", identity.payload("pull_request.synchronize"))

    assert response.status_code == 202, response.text
    assert response.json()["signalled"] == [first.id]
    [got] = await received(restarted, 1)
    assert (got["signal"], got["action"]) == ("pr_event", "synchronize")


@pytest.mark.parametrize("memory", [timedelta(seconds=60), timedelta(0)])
async def test_a_finished_pr_is_remembered_for_its_burst_of_deliveries(client: Client, probes: Probes, memory) -> None:
    # The first delivery finds the PR's workflow closed; then a workflow shows up running with the
    # same PR (as a restarted task could). Within the memory the relay answers from what it learnt,
    # asking visibility nothing; with no memory it looks again and signals the running one.
    identity = PullRequestIdentity.fresh()
    first = await probes.start(identity)
    await first.signal("finish")
    await first.result()
    await wait_visible(client, identity.pr_key, running=False)

    app = create_app(Settings(webhook_secret=SECRET), client, lookup_patience=PATIENCE, finished_memory=memory)
    async with relay_client(app) as http:
        response, _ = await timed_post(http, "check_run", identity.payload("check_run.completed"))
        assert response.json() == {"ignored": f"finished: workflow {first.id} for {identity.pr_key} has closed"}

        restarted = await probes.start(identity, workflow_id=first.id)
        await wait_visible(client, identity.pr_key, running=True)
        response, _ = await timed_post(http, "check_suite", identity.payload("check_suite.completed"))

    if memory:
        assert response.status_code == 200
        assert response.json() == {"ignored": f"finished: workflow {first.id} for {identity.pr_key} has closed"}
    else:
        assert response.status_code == 202, response.text
        assert [s["signal"] for s in await received(restarted, 1)] == ["check_result"]
