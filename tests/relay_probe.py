"""Test-only pieces for the relay tests: a probe workflow with the task workflow's signal handlers,
real-shaped GitHub payloads made unique per test, signing, and fixtures that serve the relay.

The probe stands in for CodegenTaskWorkflow: it publishes the same search attributes and records
each signal once per delivery id, so a test can see exactly what the relay delivered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import BaseModel, SecretStr
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from devstack.services import serve_app
from models import names
from models.names import SIGNAL_BASE_PUSHED, SIGNAL_CHECK_RESULT, SIGNAL_PR_EVENT, SIGNAL_REVIEW
from models.signals import BasePush, CheckResult, PrEvent, Review
from models.task import workflow_id_for
from settings import Settings
from tests.waiting import wait_until
from webhooks.app import create_app
from webhooks.signature import sign

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "relay-test-secret"
PREVIOUS_SECRET = "relay-test-secret-before-rotation"
IGNORED_BOT = "coderabbitai[bot]"
# The values written into tests/payloads/*.json, replaced per test so tests never share a PR.
PAYLOAD_REPOSITORY = "acme/widgets"
PAYLOAD_HEAD = "3f2a9c1d5e7b8a0c4d6e8f1a2b3c5d7e9f0a1b2c"
PAYLOAD_NEW_HEAD = "8d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e"
PAYLOAD_TASK_ID = "T-rate-limit-42"
PAYLOAD_NUMBER = 42


class ProbeInput(BaseModel):
    pr_key: str | None = None
    head_sha: str | None = None
    repository: str | None = None
    base_ref: str | None = None


@workflow.defn(name="RelayProbeWorkflow")
class RelayProbeWorkflow:
    @workflow.init
    def __init__(self, input: ProbeInput) -> None:
        self._received: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._finished = False

    @workflow.run
    async def run(self, input: ProbeInput) -> list[dict[str, Any]]:
        pairs: list[SearchAttributePair[str]] = []
        if input.pr_key:
            pairs.append(names.PR_KEY.value_set(input.pr_key))
        if input.head_sha:
            pairs.append(names.PR_HEAD_SHA.value_set(input.head_sha))
        if input.repository:
            pairs.append(names.REPOSITORY.value_set(input.repository))
        if input.base_ref:
            pairs.append(names.PR_BASE_REF.value_set(input.base_ref))
        if pairs:
            workflow.upsert_search_attributes(pairs)
        await workflow.wait_condition(lambda: self._finished)
        return self._received

    def _record(self, signal: str, payload: BaseModel) -> None:
        delivery_id = payload.delivery_id  # type: ignore[attr-defined]
        if delivery_id in self._seen:
            return
        self._seen.add(delivery_id)
        self._received.append({"signal": signal, **payload.model_dump(mode="json")})

    @workflow.signal(name=SIGNAL_PR_EVENT)
    def pr_event(self, event: PrEvent) -> None:
        self._record(SIGNAL_PR_EVENT, event)

    @workflow.signal(name=SIGNAL_CHECK_RESULT)
    def check_result(self, result: CheckResult) -> None:
        self._record(SIGNAL_CHECK_RESULT, result)

    @workflow.signal(name=SIGNAL_REVIEW)
    def review(self, review: Review) -> None:
        self._record(SIGNAL_REVIEW, review)

    @workflow.signal(name=SIGNAL_BASE_PUSHED)
    def base_pushed(self, push: BasePush) -> None:
        self._record(SIGNAL_BASE_PUSHED, push)

    @workflow.signal
    def finish(self) -> None:
        self._finished = True

    @workflow.query
    def received(self) -> list[dict[str, Any]]:
        return self._received


@dataclass(frozen=True)
class PullRequestIdentity:
    """One test's own repository, PR, commits and task id, substituted into the payload files."""

    repository: str
    number: int
    head_sha: str
    new_head_sha: str
    task_id: str

    @classmethod
    def fresh(cls) -> PullRequestIdentity:
        unique = uuid.uuid4().hex
        return cls(
            repository=f"acme/widgets-{unique[:10]}",
            number=PAYLOAD_NUMBER,
            head_sha=unique + unique[:8],
            new_head_sha=uuid.uuid4().hex + unique[8:16],
            task_id=f"T-{unique[:12]}",
        )

    @property
    def pr_key(self) -> str:
        return f"{self.repository}#{self.number}"

    def payload(self, name: str) -> bytes:
        """tests/payloads/<name>.json rewritten to this identity, as raw bytes ready to sign."""
        text = (PAYLOADS / f"{name}.json").read_text()
        for old, new in (
            (PAYLOAD_REPOSITORY, self.repository),
            (PAYLOAD_NEW_HEAD, self.new_head_sha),
            (PAYLOAD_HEAD, self.head_sha),
            (PAYLOAD_TASK_ID, self.task_id),
        ):
            text = text.replace(old, new)
        return text.encode()

    def document(self, name: str) -> dict[str, Any]:
        return json.loads(self.payload(name))


def github_headers(event: str, body: bytes, *, delivery: str | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers GitHub sends with a JSON delivery, signed with `secret`."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
        "X-GitHub-Hook-ID": "512345678",
        "User-Agent": "GitHub-Hookshot/5e1f2a3",
        "Content-Type": "application/json",
    }


async def deliver(http: httpx.AsyncClient, event: str, body: bytes, *, delivery: str | None = None) -> httpx.Response:
    """POST `body` to the relay's webhook endpoint as GitHub would, signed with the test secret."""
    return await http.post("/webhooks/github", content=body, headers=github_headers(event, body, delivery=delivery))


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


@dataclass
class Probes:
    """Starts probe workflows on this test's task queue."""

    client: Client
    task_queue: str

    async def start(
        self,
        identity: PullRequestIdentity | None = None,
        *,
        workflow_id: str | None = None,
        publish: bool = True,
        base_ref: str | None = None,
    ) -> WorkflowHandle[Any, Any]:
        """A probe for `identity`'s PR (on `base_ref`, if given), once visibility lists it under its PR key."""
        probe_input = ProbeInput()
        if identity and publish:
            probe_input = ProbeInput(
                pr_key=identity.pr_key, head_sha=identity.head_sha, repository=identity.repository, base_ref=base_ref
            )
        handle = await self.client.start_workflow(
            RelayProbeWorkflow.run,
            probe_input,
            id=workflow_id or f"relay-probe-{uuid.uuid4().hex[:12]}",
            task_queue=self.task_queue,
            execution_timeout=timedelta(minutes=5),
        )
        if probe_input.pr_key:
            await self.wait_indexed(handle.id, probe_input.pr_key)
        return handle

    async def wait_indexed(self, workflow_id: str, pr_key: str) -> None:
        """Wait until visibility lists the probe under its PR key, as the relay will look it up."""
        query = f"WorkflowId = '{workflow_id}' AND {names.PR_KEY.name} = '{pr_key}'"

        async def indexed() -> bool:
            return (await self.client.count_workflows(query)).count > 0

        await wait_until(indexed, what=f"{workflow_id} indexed under {pr_key}")

    async def start_for_task(self, identity: PullRequestIdentity) -> WorkflowHandle[Any, Any]:
        """A probe under the task's workflow id that has not published its PR yet."""
        return await self.start(identity, workflow_id=workflow_id_for(identity.task_id), publish=False)


@pytest_asyncio.fixture
async def probes(client: Client, task_queue: str) -> AsyncIterator[Probes]:
    # The probe is test scaffolding that shares this module with httpx and pytest: no sandbox.
    async with Worker(
        client, task_queue=task_queue, workflows=[RelayProbeWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        yield Probes(client, task_queue)


async def received(handle: WorkflowHandle[Any, Any], count: int) -> list[dict[str, Any]]:
    """The probe's recorded signals once it has at least `count` of them."""

    async def enough() -> list[dict[str, Any]] | None:
        signals = await handle.query(RelayProbeWorkflow.received)
        return signals if len(signals) >= count else None

    return await wait_until(enough, what=f"{count} signal(s) at {handle.id}")


def relay_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay.test", timeout=30)


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve the relay `app` on a free loopback port; yields its webhook URL (for RELAY_URL)."""
    async with serve_app(app) as base_url:
        yield f"{base_url}/webhooks/github"


# ---- the relay app under test: settings, the app, a client for it, a fresh PR identity ----


def relay_settings(**overrides) -> Settings:
    values = dict(
        webhook_secret=SecretStr(SECRET),
        webhook_secret_previous=SecretStr(PREVIOUS_SECRET),
        allowed_repositories=["acme/*"],
        ignored_reviewers=[IGNORED_BOT],
    )
    return Settings(**(values | overrides))


@pytest_asyncio.fixture
async def app(client: Client):
    return create_app(relay_settings(), client, lookup_patience=timedelta(milliseconds=300))


@pytest_asyncio.fixture
async def relay(app) -> AsyncIterator[httpx.AsyncClient]:
    async with relay_client(app) as http:
        yield http


@pytest.fixture
def identity() -> PullRequestIdentity:
    return PullRequestIdentity.fresh()


def signals_sent(app) -> float:
    samples = app.state.metrics.signals.collect()[0].samples
    return sum(sample.value for sample in samples if sample.name.endswith("_total"))
