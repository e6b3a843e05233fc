"""The relay remembers which run a PR key led to, and looks again once that run has closed.

Real dev server, the relay app over httpx.ASGITransport, probe workflows as in the routing tests.
"""

from __future__ import annotations

from datetime import timedelta

import pytest_asyncio
from temporalio.client import Client

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
from webhooks.app import create_app


@pytest_asyncio.fixture
async def relay(client: Client):
    app = create_app(Settings(webhook_secret=SECRET), client, lookup_patience=timedelta(seconds=2))
    async with relay_client(app) as http:
        yield http


async def deliver_check(relay, identity: PullRequestIdentity, delivery: str):
    body = identity.payload("check_run.completed")
    return await deliver(relay, "check_run", body, delivery=delivery)


async def test_later_deliveries_for_a_pr_reach_the_same_run(relay, probes: Probes) -> None:
    identity = PullRequestIdentity.fresh()
    handle = await probes.start(identity)
    for delivery in ("first", "second", "third"):
        response = await deliver_check(relay, identity, delivery)
        assert response.status_code == 202 and response.json()["signalled"] == [handle.id]
    assert [s["delivery_id"] for s in await received(handle, 3)] == ["first", "second", "third"]


async def test_a_remembered_run_that_closed_is_looked_up_again(relay, probes: Probes) -> None:
    identity = PullRequestIdentity.fresh()
    first = await probes.start(identity)
    assert (await deliver_check(relay, identity, "to-first")).json()["signalled"] == [first.id]
    await first.signal("finish")
    await first.result()

    # Another workflow now tracks the same PR; the remembered run is closed, so the relay asks visibility again.
    second = await probes.start(identity)
    response = await deliver_check(relay, identity, "to-second")
    assert response.status_code == 202 and response.json()["signalled"] == [second.id]
    assert [s["delivery_id"] for s in await received(second, 1)] == ["to-second"]


async def test_a_closed_run_with_no_successor_answers_that_the_task_finished(relay, probes: Probes) -> None:
    identity = PullRequestIdentity.fresh()
    handle = await probes.start(identity)
    assert (await deliver_check(relay, identity, "while-open")).status_code == 202
    await handle.signal("finish")
    await handle.result()

    # The remembered run refuses the signal; looking again finds only that closed workflow.
    response = await deliver_check(relay, identity, "after-close")
    assert response.status_code == 200
    assert response.json() == {"ignored": f"finished: workflow {handle.id} for {identity.pr_key} has closed"}
