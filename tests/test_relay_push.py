"""A push to a base branch reaches every running task whose PR targets that branch, and no other task.

Real dev server, real relay app, and probe workflows that publish Repository and PRBaseRef as the task
workflow does; the last test sends the fake GitHub's own push webhook through a served relay.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from fakes import FakeConfig, FakeWorld
from models import names
from tests.pr_events import make_state
from tests.relay_probe import (
    SECRET,
    Probes,
    PullRequestIdentity,
    deliver,
    encode,
    identity,  # noqa: F401  (fixture)
    probes,  # noqa: F401  (fixture)
    received,
    relay_client,
    relay_settings,
    serving,
)
from webhooks.app import create_app
from workflows.presentation import search_attributes


def push_to(identity: PullRequestIdentity, branch: str) -> bytes:
    """tests/payloads/push.json for the identity's repository, pushed to `branch`."""
    return encode(identity.document("push") | {"ref": f"refs/heads/{branch}"})


def another_pr(identity: PullRequestIdentity, number: int) -> PullRequestIdentity:
    """Another PR of the same repository."""
    return dataclasses.replace(identity, number=number)


async def signal_names(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The signals in the workflow's history. The relay answers once Temporal has accepted every signal,
    so after its answer the history holds all a delivery sent."""
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]


def test_a_task_with_a_pr_publishes_the_branch_it_targets_beside_its_repository() -> None:
    # The task workflow's side of the query the relay makes for a push.
    attributes = search_attributes(make_state().status, None)
    assert (attributes[names.REPOSITORY], attributes[names.PR_BASE_REF]) == ("acme/api", "main")


async def test_a_push_to_main_signals_the_running_tasks_on_main_of_that_repository_only(
    client: Client, probes: Probes, identity
) -> None:
    on_main = [await probes.start(identity, base_ref="main"), await probes.start(another_pr(identity, 43), base_ref="main")]
    on_release = await probes.start(another_pr(identity, 44), base_ref="release/1.x")
    other_repository = await probes.start(PullRequestIdentity.fresh(), base_ref="main")
    closed = await probes.start(another_pr(identity, 45), base_ref="main")
    await closed.signal("finish")
    assert await closed.result() == []
    document = identity.document("push")
    app = create_app(relay_settings(), client, lookup_patience=timedelta(milliseconds=300))
    async with relay_client(app) as relay:
        response = await deliver(relay, "push", push_to(identity, "main"), delivery="push-main")
        assert response.status_code == 202, response.text
        assert response.json()["signal"] == "base_pushed"
        assert sorted(response.json()["signalled"]) == sorted(handle.id for handle in on_main)
        for handle in on_main:
            [got] = await received(handle, 1)
            assert got == {
                "signal": "base_pushed",
                "delivery_id": "push-main",
                "repository": identity.repository,
                "branch": "main",
                "before": document["before"],
                "after": document["after"],
                "host": "github.com",
            }
        for bystander in (on_release, other_repository, closed):
            assert "base_pushed" not in await signal_names(bystander)

        # A branch name with a slash is queried as it is, and reaches only the task on it.
        response = await deliver(relay, "push", push_to(identity, "release/1.x"), delivery="push-release")
        assert response.status_code == 202, response.text
        assert response.json()["signalled"] == [on_release.id]
        [got] = await received(on_release, 1)
        assert (got["delivery_id"], got["branch"]) == ("push-release", "release/1.x")


async def test_every_task_on_the_base_is_signalled_however_many(client: Client, probes: Probes, identity) -> None:
    # More than a PR lookup's 10 matches, and than the 20 signals the relay keeps in flight at once.
    handles = await asyncio.gather(*(probes.start(another_pr(identity, number), base_ref="main") for number in range(1, 26)))
    app = create_app(relay_settings(), client)
    async with relay_client(app) as relay:
        response = await deliver(relay, "push", push_to(identity, "main"))
    assert response.status_code == 202, response.text
    assert sorted(response.json()["signalled"]) == sorted(handle.id for handle in handles)
    for handle in handles:
        [got] = await received(handle, 1)
        assert got["signal"] == "base_pushed"


async def test_a_push_no_task_is_on_is_untracked_without_waiting_for_visibility(client: Client, identity) -> None:
    # Most pushes are to branches no open task targets: they must not each wait out the lookup patience. An
    # hour of patience against ten minutes allowed: no loaded machine blurs the two.
    app = create_app(relay_settings(), client, lookup_patience=timedelta(hours=1))
    async with relay_client(app) as relay, asyncio.timeout(600):
        response = await deliver(relay, "push", push_to(identity, "main"))
    assert response.status_code == 200
    assert response.json() == {"ignored": f"untracked: no running workflow for {identity.repository}:main"}


async def test_a_branch_name_that_could_break_the_query_is_refused(client: Client, probes: Probes, identity) -> None:
    handle = await probes.start(identity, base_ref="main")
    app = create_app(relay_settings(), client)
    async with relay_client(app) as relay:
        response = await deliver(relay, "push", push_to(identity, "main' OR Repository != '"))
    assert response.status_code == 200
    assert "keeps out of visibility queries" in response.json()["ignored"]
    assert "base_pushed" not in await signal_names(handle)


async def test_the_fake_githubs_push_webhook_reaches_the_tasks_on_its_base(client: Client, probes: Probes, identity) -> None:
    """The fake GitHub sends a signed `push` when its base moves; the relay reads it like GitHub's."""
    handle = await probes.start(identity, base_ref="main")
    async with serving(create_app(relay_settings(), client)) as relay_url:
        world = FakeWorld(FakeConfig(relay_url=relay_url, webhook_secret=SECRET))
        try:
            repo = world.repo(identity.repository)
            before = repo.base_sha
            commit = world.push_to_base(repo, "main", [])
            [got] = await received(handle, 1)
        finally:
            await world.aclose()
    assert got["signal"] == "base_pushed"
    assert (got["repository"], got["branch"], got["before"], got["after"]) == (identity.repository, "main", before, commit.sha)
    assert got["host"] == "mock-github.invalid"
