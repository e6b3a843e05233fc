"""The relay's HTTP contract: status codes, no signal for anything refused, health, metrics, limits.

Most tests call the app over httpx.ASGITransport; one serves it with uvicorn on loopback; one runs
`relay.py` as a process. Temporal is the real dev server, or a closed or silent port when the test
is about Temporal being unreachable.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
from temporalio.client import Client

from devstack import ROOT
from settings import Settings
from tests.relay_probe import (
    PREVIOUS_SECRET,
    SECRET,
    Probes,
    PullRequestIdentity,
    app,  # noqa: F401  (fixture)
    github_headers,
    identity,  # noqa: F401  (fixture)
    probes,  # noqa: F401  (fixture)
    received,
    relay,  # noqa: F401  (fixture)
    relay_client,
    relay_settings,
    serving,
    signals_sent,
)
from webhooks.app import MAX_BODY_BYTES, create_app
from webhooks.signature import sign


async def assert_untouched(relay, app, handle, identity: PullRequestIdentity) -> None:
    """Nothing was signalled: the metric says none, and a later valid delivery is the probe's first."""
    assert signals_sent(app) == 0
    body = identity.payload("pull_request.reopened")
    headers = github_headers("pull_request", body, delivery="control")
    control = await relay.post("/webhooks/github", content=body, headers=headers)
    assert control.status_code == 202, control.text
    assert [s["delivery_id"] for s in await received(handle, 1)] == ["control"]


async def test_health_readiness_and_metrics(relay) -> None:
    assert (await relay.get("/healthz")).json() == {"status": "ok"}
    ready = await relay.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    metrics = await relay.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "relay_webhook_duration_seconds" in metrics.text


async def test_ping_is_answered_with_a_reason(relay, app, identity) -> None:
    body = identity.payload("ping")
    response = await relay.post("/webhooks/github", content=body, headers=github_headers("ping", body))
    assert (response.status_code, response.json()) == (200, {"ignored": "ping", "zen": "Design for failure."})
    metrics = (await relay.get("/metrics")).text
    assert 'relay_webhook_deliveries_total{action="",event="ping",outcome="ignored"} 1.0' in metrics


def _bad_signatures(body: bytes) -> dict[str, dict[str, str]]:
    good = github_headers("pull_request", body)
    return {
        "missing": {k: v for k, v in good.items() if k != "X-Hub-Signature-256"},
        "wrong secret": github_headers("pull_request", body, secret="not-the-secret"),
        "stale secret": github_headers("pull_request", body, secret="secret-from-two-rotations-ago"),
        "other body": good | {"X-Hub-Signature-256": sign(SECRET, body + b" ")},
        "bare hex": good | {"X-Hub-Signature-256": good["X-Hub-Signature-256"].removeprefix("sha256=")},
    }


@pytest.mark.parametrize("case", ["missing", "wrong secret", "stale secret", "other body", "bare hex"])
async def test_bad_signatures_are_401_and_touch_nothing(relay, app, probes: Probes, identity, case) -> None:
    handle = await probes.start(identity)
    body = identity.payload("pull_request.closed.merged")
    response = await relay.post("/webhooks/github", content=body, headers=_bad_signatures(body)[case])
    assert response.status_code == 401
    assert response.json() == {"error": "missing or invalid X-Hub-Signature-256"}
    metrics = (await relay.get("/metrics")).text
    # Unverified requests do not get to name metric labels.
    assert 'relay_webhook_deliveries_total{action="",event="",outcome="unauthorized"} 1.0' in metrics
    await assert_untouched(relay, app, handle, identity)


async def test_unsigned_garbage_is_401_not_400(relay) -> None:
    response = await relay.post("/webhooks/github", content=b"{nope", headers={"X-GitHub-Event": "push"})
    assert response.status_code == 401


async def test_previous_secret_is_accepted_during_rotation(relay, probes: Probes, identity) -> None:
    handle = await probes.start(identity)
    body = identity.payload("pull_request.closed.merged")
    response = await relay.post(
        "/webhooks/github", content=body, headers=github_headers("pull_request", body, secret=PREVIOUS_SECRET)
    )
    assert response.status_code == 202, response.text
    assert response.json()["signalled"] == [handle.id]


async def test_form_encoded_deliveries_work(relay, probes: Probes, identity) -> None:
    handle = await probes.start(identity)
    body = urlencode({"payload": identity.payload("check_suite.completed").decode()}).encode()
    headers = github_headers("check_suite", body) | {"Content-Type": "application/x-www-form-urlencoded"}
    response = await relay.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 202, response.text
    [got] = await received(handle, 1)
    assert got["name"] == "suite:github-actions"


@pytest.mark.parametrize(
    ("event", "body", "drop_delivery", "message"),
    [
        ("pull_request", b"{not json", False, "not JSON"),
        ("pull_request", b'["a list"]', False, "JSON object"),
        ("pull_request", b'{"action": "closed", "number": 1}', False, "payload: pull_request: Field required"),
        ("check_run", b'{"action": "completed", "check_run": {"name": 3}}', False, "check_run.name"),
        ("pull_request", b"{}", True, "X-GitHub-Delivery"),
    ],
)
async def test_malformed_deliveries_are_400_and_touch_nothing(
    relay, app, probes: Probes, identity, event, body, drop_delivery, message
) -> None:
    handle = await probes.start(identity)
    headers = github_headers(event, body)
    if drop_delivery:
        del headers["X-GitHub-Delivery"]
    response = await relay.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 400
    assert message in response.json()["error"]
    await assert_untouched(relay, app, handle, identity)


async def test_declared_oversized_body_is_413_before_reading(relay, app) -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(30):
            sent.append(1)
            yield b"x" * (1024 * 1024)

    headers = {"Content-Length": str(MAX_BODY_BYTES + 1), "X-GitHub-Event": "pull_request"}
    response = await relay.post("/webhooks/github", content=body(), headers=headers)
    assert response.status_code == 413
    assert len(sent) <= 1
    assert signals_sent(app) == 0


async def test_streamed_oversized_body_is_413_and_not_read_to_the_end(relay, app) -> None:
    chunk = b"x" * (1024 * 1024)
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(40):
            sent.append(len(chunk))
            yield chunk

    # No Content-Length: the relay has to count.
    response = await relay.post("/webhooks/github", content=body(), headers={"X-GitHub-Event": "pull_request"})
    assert response.status_code == 413
    assert MAX_BODY_BYTES < sum(sent) < 40 * len(chunk)


async def test_temporal_unreachable_is_503_and_not_ready(identity) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = await Client.connect(f"127.0.0.1:{closed_port}", lazy=True)
    app = create_app(relay_settings(), unreachable)
    async with relay_client(app) as http:
        body = identity.payload("pull_request.closed.merged")
        response = await http.post("/webhooks/github", content=body, headers=github_headers("pull_request", body))
        assert response.status_code == 503
        assert response.json() == {"error": "Temporal is unavailable; redeliver later"}
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        # Checks that need no Temporal still answer.
        ping = identity.payload("ping")
        pong = await http.post("/webhooks/github", content=ping, headers=github_headers("ping", ping))
        assert pong.status_code == 200
        metrics = (await http.get("/metrics")).text
    assert 'event="pull_request",outcome="unavailable"} 1.0' in metrics


async def test_silent_temporal_is_answered_503_within_the_budget(identity) -> None:
    # A server that accepts connections and never says a word: the worst kind of down.
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        client = await Client.connect(f"127.0.0.1:{port}", lazy=True)
        # Only the budget answers this way; without it the request hangs on the silent server (ten minutes allowed).
        app = create_app(relay_settings(), client, answer_within=timedelta(seconds=0.5))
        async with relay_client(app) as http, asyncio.timeout(600):
            loop = asyncio.get_running_loop()
            started = loop.time()
            body = identity.payload("check_run.completed")
            response = await http.post("/webhooks/github", content=body, headers=github_headers("check_run", body))
            elapsed = loop.time() - started
    finally:
        for writer in held:
            writer.close()
        silent.close()
        await silent.wait_closed()
    assert response.status_code == 503
    assert response.json() == {"error": "not answered in time; Temporal may be slow or unreachable"}
    assert elapsed >= 0.5


async def test_served_over_loopback_http_with_uvicorn(client: Client, probes: Probes, identity) -> None:
    handle = await probes.start(identity)
    async with serving(create_app(relay_settings(), client)) as webhook_url:
        async with httpx.AsyncClient(timeout=15) as http:
            assert (await http.get(webhook_url.replace("/webhooks/github", "/healthz"))).status_code == 200
            body = identity.payload("pull_request_review.submitted.approved")
            response = await http.post(webhook_url, content=body, headers=github_headers("pull_request_review", body))
            assert response.status_code == 202, response.text
            unsigned = await http.post(webhook_url, content=body, headers={"X-GitHub-Event": "ping"})
            assert unsigned.status_code == 401
    [got] = await received(handle, 1)
    assert (got["state"], got["reviewer"]) == ("approved", "maria-reviewer")


def test_relay_refuses_to_start_without_a_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WEBHOOK_SECRET", "WEBHOOK_SECRET_PREVIOUS")}
    # An unreachable Temporal proves the refusal comes first.
    env |= {"TEMPORAL_ADDRESS": "127.0.0.1:1", "RELAY_PORT": "0"}
    done = subprocess.run(
        [sys.executable, "relay.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "WEBHOOK_SECRET is not set" in done.stderr
    assert done.stdout == ""


def test_app_factory_refuses_to_build_without_a_secret(client: Client) -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        create_app(Settings(), client)
