"""Validly signed but hostile or broken deliveries: deep, huge, truncated, oddly encoded or cut-short
bodies are answered 2xx, 400, 401 or 413 while Temporal is up, never 5xx, and never signal a workflow
they are not about. Free text reaches a workflow bounded, so no signal outgrows what Temporal accepts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from temporalio.client import Client

from models.bounds import CHECK_SUMMARY_CHARS, REVIEW_BODY_CHARS, TRUNCATION_MARKER
from tests.relay_probe import (
    Probes,
    PullRequestIdentity,
    app,  # noqa: F401  (fixture)
    github_headers,
    identity,  # noqa: F401  (fixture)
    probes,  # noqa: F401  (fixture)
    received,
    relay,  # noqa: F401  (fixture)
    relay_settings,
    serving,
    signals_sent,
)
from webhooks.app import MAX_DELIVERY_ID_CHARS, create_app
from webhooks.payloads import MAX_NAME_CHARS, decode_body, parse_event
from webhooks.translate import Filters, SignalOrder, translate

FIVE_MB = 5 * 1024 * 1024
# The longest text bound (a review's body), and a bounded text: the kept part and the marker that says how much was cut.
MAX_TEXT_CHARS = max(CHECK_SUMMARY_CHARS, REVIEW_BODY_CHARS)
MAX_SIGNAL_TEXT = MAX_TEXT_CHARS + len(TRUNCATION_MARKER.format(count=10**9))


async def post_signed(relay: httpx.AsyncClient, event: str, body: bytes, **extra: str) -> httpx.Response:
    return await relay.post("/webhooks/github", content=body, headers=github_headers(event, body) | extra)


def with_field(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`document` with the dotted `path` set to `value` (a copy; the fixture stays as it was)."""
    copy = json.loads(json.dumps(document))
    *parents, last = path.split(".")
    node = copy
    for part in parents:
        node = node[part]
    node[last] = value
    return copy


# ---- the cases the issue names ------------------------------------------------------------------------------


async def test_a_body_nested_100000_deep_is_400(relay, app) -> None:
    body = b'{"action": "closed", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await post_signed(relay, "pull_request", body)
    assert response.status_code == 400
    assert "nests deeper" in response.json()["error"]
    assert signals_sent(app) == 0


async def test_a_5_mb_review_reaches_its_workflow_bounded(relay, probes: Probes, identity) -> None:
    handle = await probes.start(identity)
    review = "Please fix. " + "é" * FIVE_MB
    document = with_field(identity.document("pull_request_review.submitted.changes_requested"), "review.body", review)
    response = await post_signed(relay, "pull_request_review", json.dumps(document, ensure_ascii=False).encode())
    assert response.status_code == 202, response.text
    [got] = await received(handle, 1)
    assert got["body"].startswith("Please fix. éé") and len(got["body"]) <= MAX_SIGNAL_TEXT
    assert got["body"].endswith(TRUNCATION_MARKER.format(count=len(review) - REVIEW_BODY_CHARS))


def test_every_free_text_is_bounded_before_it_becomes_a_signal(identity) -> None:
    huge = "z" * FIVE_MB
    cases = {
        "check_run": ("check_run.completed", "check_run.output.summary", "output_summary", CHECK_SUMMARY_CHARS),
        "status": ("status.success", "description", "output_summary", CHECK_SUMMARY_CHARS),
        "pull_request_review": ("pull_request_review.submitted.approved", "review.body", "body", REVIEW_BODY_CHARS),
    }
    for event, (name, path, signal_field, bound) in cases.items():
        document = with_field(identity.document(name), path, huge)
        order = translate(event, "d1", parse_event(event, decode_body(json.dumps(document).encode(), None)), Filters())
        assert isinstance(order, SignalOrder)
        kept, _, cut = getattr(order.payload, signal_field).partition("… [truncated, ")
        assert len(kept) == bound and cut.endswith(" more characters]"), event
        assert len(order.payload.model_dump_json()) < 3 * MAX_SIGNAL_TEXT + 2 * MAX_NAME_CHARS, event


async def test_a_name_longer_than_github_gives_is_400_naming_the_field(relay, probes: Probes, identity) -> None:
    handle = await probes.start(identity)
    document = with_field(identity.document("check_run.completed"), "check_run.name", "n" * FIVE_MB)
    response = await post_signed(relay, "check_run", json.dumps(document).encode())
    assert response.status_code == 400
    assert "check_run.name" in response.json()["error"]
    await handle.signal("finish")
    assert await handle.result() == []


async def test_an_unpaired_surrogate_escape_is_400(relay, app) -> None:
    # Echoed in the "ignored" reason, it failed to encode: a 500.
    body = b'{"action": "\\ud800", "number": 1}'
    response = await post_signed(relay, "pull_request", body)
    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]


async def test_a_paired_surrogate_escape_is_an_ordinary_character(relay, identity) -> None:
    document = with_field(identity.document("pull_request.labeled"), "pull_request.title", "ok")
    body = json.dumps(document).replace('"ok"', '"\\ud83d\\ude00"').encode()
    response = await post_signed(relay, "pull_request", body)
    assert response.status_code == 200 and "labeled" in response.json()["ignored"]


async def test_an_overlong_delivery_id_is_400(relay, identity) -> None:
    body = identity.payload("pull_request.closed.merged")
    response = await relay.post(
        "/webhooks/github", content=body,
        headers=github_headers("pull_request", body, delivery="d" * (MAX_DELIVERY_ID_CHARS + 1)),
    )
    assert response.status_code == 400 and "X-GitHub-Delivery" in response.json()["error"]


async def test_a_body_shorter_than_its_content_length_is_400_at_once(client: Client, identity) -> None:
    """The client sends 2 of the 1,000 bytes it declared, then waits for the answer."""
    app = create_app(relay_settings(), client, body_stall=timedelta(milliseconds=200))
    body = b"{}"
    headers = github_headers("pull_request", body) | {"Content-Length": "1000"}
    async with serving(app) as url:
        port = int(url.split(":")[2].split("/")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = "POST /webhooks/github HTTP/1.1\r\nHost: relay\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        status_line, response_body = await _read_response(reader)
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 400"), status_line
    assert json.loads(response_body) == {"error": "incomplete body: 2 bytes arrived, then nothing for 0.2 s"}
    assert 'outcome="incomplete"} 1.0' in app.state.metrics.render().decode()


async def test_a_body_that_ends_before_its_content_length_is_400(relay) -> None:
    async def two_bytes() -> AsyncIterator[bytes]:
        yield b"{}"

    response = await relay.post(
        "/webhooks/github", content=two_bytes(), headers={"Content-Length": "1000", "X-GitHub-Event": "pull_request"}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "incomplete body: Content-Length is 1000 bytes, 2 arrived"}


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in header_lines if line.lower().startswith(b"content-length:"))
    return status_line, await reader.readexactly(length)


# ---- property: whatever a signed body holds, the answer is never 5xx and nothing unrelated is signalled ----

HANDLED = {
    "pull_request": ["pull_request.closed.merged", "pull_request.synchronize", "pull_request.labeled"],
    "check_run": ["check_run.completed", "check_run.completed.no_pull_requests"],
    "check_suite": ["check_suite.completed"],
    "status": ["status.success", "status.pending"],
    "pull_request_review": ["pull_request_review.submitted.changes_requested", "pull_request_review.dismissed"],
    "push": ["push"],
    "ping": ["ping"],
}
TEXT_PATHS = {
    "pull_request": ["pull_request.body", "pull_request.head.sha", "repository.full_name", "action"],
    "check_run": ["check_run.output.summary", "check_run.name", "check_run.details_url", "check_run.head_sha"],
    "check_suite": ["check_suite.app.slug", "check_suite.head_sha"],
    "status": ["description", "context", "sha", "target_url"],
    "pull_request_review": ["review.body", "review.user.login", "review.state", "pull_request.body"],
    "push": ["ref", "after", "before"],
    "ping": ["zen"],
}
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def signed_bodies(draw: st.DrawFn, identity: PullRequestIdentity) -> tuple[str, bytes, dict[str, str]]:
    """An event, a body and extra headers: a real payload for the test's PR, broken in one or more ways."""
    event = draw(st.sampled_from([*HANDLED, "issues"]))
    document: Any = identity.document(draw(st.sampled_from(HANDLED.get(event, ["ping"]))))
    if draw(st.booleans()):
        size = draw(st.sampled_from([MAX_TEXT_CHARS, MAX_TEXT_CHARS + 1, MAX_NAME_CHARS + 1, 100_000, FIVE_MB]) | st.integers(0, 5_000))
        text = draw(st.characters(codec="utf-8")) * size
        document = with_field(document, draw(st.sampled_from(TEXT_PATHS.get(event, ["zen"]))), text)
    if draw(st.booleans()):
        document = with_field(document, "extra", draw(_json_values))
    if draw(st.integers(0, 9)) == 0:
        document = draw(_json_values)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    depth = draw(st.sampled_from([0, 0, 0, 900, 5_000, 100_000]))
    if depth and text.startswith("{") and len(text) > 2:
        text = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    if draw(st.integers(0, 9)) == 0:
        text = text.replace('"', '"\\ud800', 1)
    body = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "utf-32", "latin-1"])), errors="replace")
    if draw(st.integers(0, 5)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    extra: dict[str, str] = {}
    if draw(st.integers(0, 5)) == 0:
        body = urlencode({"payload": body.decode("utf-8", errors="replace")}).encode()
        extra["Content-Type"] = "application/x-www-form-urlencoded"
    return event, body, extra


async def test_signed_bodies_of_any_shape_are_never_5xx_and_signal_only_their_workflow(
    relay, app, probes: Probes, identity
) -> None:
    # On the push payload's base too, so a push can be relayed as well as refused.
    related = await probes.start(identity, base_ref="main")
    bystander = await probes.start(PullRequestIdentity.fresh())
    loop = asyncio.get_running_loop()
    statuses: dict[int, int] = {}
    # One body of each side, whatever else is drawn: a whole payload (relayed) and a cut one (refused).
    whole = json.dumps(identity.document("pull_request.synchronize")).encode()

    async def check(event: str, body: bytes, extra: dict[str, str]) -> None:
        response = await post_signed(relay, event, body, **extra)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 202, 400, 401, 413), (response.status_code, response.text[:300])
        if response.status_code == 202:
            assert response.json()["signalled"] == [related.id]

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(signed_bodies(identity))
    @example(("pull_request", whole, {}))
    @example(("pull_request", whole[: len(whole) // 2], {}))
    def explore(case: tuple[str, bytes, dict[str, str]]) -> None:
        asyncio.run_coroutine_threadsafe(check(*case), loop).result(timeout=60)

    # Hypothesis drives the examples from a thread; each one runs on this loop, against the dev server.
    await asyncio.to_thread(explore)
    await bystander.signal("finish")
    assert await bystander.result() == []
    await related.signal("finish")
    for signal in await related.result():
        assert all(len(value) <= MAX_SIGNAL_TEXT for value in signal.values() if isinstance(value, str)), signal
    # The property was tried on both sides: bodies refused and bodies relayed.
    assert statuses.get(400) and statuses.get(202), statuses
