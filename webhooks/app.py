"""The relay's HTTP face: GitHub deliveries in, workflow signals out, plus health and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from temporalio.client import Client

from codec.endpoint import codec_mount
from models.names import WEBHOOK_PATH
from settings import Settings
from webhooks import signature
from webhooks.metrics import RelayMetrics
from webhooks.payloads import MalformedDelivery, decode_body, parse_event
from webhooks.routing import FINISHED_MEMORY, TemporalUnavailable, WorkflowRouter
from webhooks.translate import Filters, Ignored, Target, translate

logger = logging.getLogger(__name__)

# GitHub caps payloads at 25 MB.
MAX_BODY_BYTES = 25 * 1024 * 1024
# GitHub gives up on a delivery after 10 s; answer before that, whatever Temporal is doing.
ANSWER_WITHIN = timedelta(seconds=9)
# GitHub sends a body at once. A client that stops sending before the Content-Length it declared
# would otherwise hold the request open until ANSWER_WITHIN.
BODY_STALL = timedelta(seconds=2)
READINESS_TIMEOUT = timedelta(seconds=2)
# GitHub's delivery ids are GUIDs; each signal carries one, and a workflow keeps the last 2,000.
MAX_DELIVERY_ID_CHARS = 200
# Metric labels taken from a payload: anything longer is no GitHub action, and would bloat /metrics.
MAX_LABEL_CHARS = 64


@dataclass
class _Delivery:
    """What is known about the request so far, for the log line and the metrics labels."""

    event: str = ""
    action: str = ""
    delivery_id: str = ""
    started: float = field(default_factory=time.monotonic)
    # Until the whole body has arrived, a request that runs out of time is the client's doing, not Temporal's.
    body_received: bool = False


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    outcome: str


def create_app(
    settings: Settings,
    client: Client,
    *,
    lookup_patience: timedelta = timedelta(seconds=5),
    finished_memory: timedelta = FINISHED_MEMORY,
    answer_within: timedelta = ANSWER_WITHIN,
    body_stall: timedelta = BODY_STALL,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The relay app. `settings.webhook_secret` is required; `webhook_secret_previous` is accepted too.

    `lookup_patience` bounds how long a delivery waits for its workflow to show up in visibility
    before it is answered "untracked"; a delivery whose workflows have all closed is answered
    "finished" without waiting, and the PR's further deliveries for `finished_memory` from memory.
    `answer_within` bounds every webhook request; a body that stops arriving for `body_stall` is refused.
    """
    if settings.webhook_secret is None:
        raise ValueError("WEBHOOK_SECRET is required: without it anyone could forge GitHub deliveries")
    metrics = RelayMetrics()
    relay = _Relay(
        secrets=(settings.webhook_secret, settings.webhook_secret_previous),
        filters=Filters(settings.allowed_repositories, settings.ignored_reviewers),
        router=WorkflowRouter(client, lookup_patience=lookup_patience, finished_memory=finished_memory),
        metrics=metrics,
        answer_within=answer_within.total_seconds(),
        body_stall=body_stall.total_seconds(),
        max_body_bytes=max_body_bytes,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT.total_seconds() + 1):
                serving = await client.service_client.check_health(timeout=READINESS_TIMEOUT)
        except Exception as error:  # any failure to answer means not ready
            return JSONResponse({"ready": False, "reason": f"Temporal not reachable: {error}"}, status_code=503)
        if not serving:
            return JSONResponse({"ready": False, "reason": "Temporal is not serving"}, status_code=503)
        return JSONResponse({"ready": True})

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    routes: list[BaseRoute] = [
        Route(WEBHOOK_PATH, relay.receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]
    codec = codec_mount(settings)
    if codec is not None:
        routes.append(codec)
    app = Starlette(routes=routes)
    app.state.metrics = metrics
    return app


class _Relay:
    def __init__(
        self,
        *,
        secrets: tuple[SecretStr | None, ...],
        filters: Filters,
        router: WorkflowRouter,
        metrics: RelayMetrics,
        answer_within: float,
        body_stall: float,
        max_body_bytes: int,
    ) -> None:
        self._secrets = secrets
        self._filters = filters
        self._router = router
        self._metrics = metrics
        self._answer_within = answer_within
        self._body_stall = body_stall
        self._max_body_bytes = max_body_bytes

    async def receive(self, request: Request) -> Response:
        delivery = _Delivery()
        try:
            async with asyncio.timeout(self._answer_within):
                answer = await self._handle(request, delivery)
        except TimeoutError:
            answer = _late_answer(delivery)
        elapsed = time.monotonic() - delivery.started
        self._metrics.record(delivery.event, delivery.action, answer.outcome, elapsed)
        logger.info(
            "delivery %s event=%s action=%s -> %d %s (%.3fs)",
            delivery.delivery_id or "-",
            delivery.event or "-",
            delivery.action or "-",
            answer.status,
            answer.outcome,
            elapsed,
        )
        return JSONResponse(answer.body, status_code=answer.status)

    async def _handle(self, request: Request, delivery: _Delivery) -> _Answer:
        body = await self._read_body(request)
        if isinstance(body, _Answer):
            return body
        delivery.body_received = True
        # Nothing about the request is trusted, parsed or labelled before the signature checks out.
        if not signature.verify(body, request.headers.get("x-hub-signature-256"), self._secrets):
            return _Answer(401, {"error": "missing or invalid X-Hub-Signature-256"}, "unauthorized")
        event = request.headers.get("x-github-event", "")
        delivery_id = request.headers.get("x-github-delivery", "")
        if not event or not delivery_id:
            return _Answer(400, {"error": "X-GitHub-Event and X-GitHub-Delivery are required"}, "malformed")
        if len(delivery_id) > MAX_DELIVERY_ID_CHARS:
            return _Answer(400, {"error": f"X-GitHub-Delivery is longer than {MAX_DELIVERY_ID_CHARS} characters"}, "malformed")
        delivery.event, delivery.delivery_id = event, delivery_id
        try:
            document = decode_body(body, request.headers.get("content-type"))
            action = document.get("action")
            delivery.action = action if isinstance(action, str) and len(action) <= MAX_LABEL_CHARS else ""
            payload = parse_event(event, document)
        except MalformedDelivery as error:
            return _Answer(400, {"error": str(error)}, "malformed")
        if event == "ping":
            return _Answer(200, {"ignored": "ping", "zen": document.get("zen", "")}, "ignored")
        if payload is None:
            return _Answer(200, {"ignored": f"event {event} is not handled"}, "ignored")
        decision = translate(event, delivery.delivery_id, payload, self._filters)
        if isinstance(decision, Ignored):
            return _Answer(200, {"ignored": decision.reason}, "ignored")
        try:
            routed = await self._router.deliver(decision)
        except TemporalUnavailable as error:
            logger.warning("delivery %s not relayed: %s", delivery.delivery_id, error)
            return _Answer(503, {"error": "Temporal is unavailable; redeliver later"}, "unavailable")
        if routed.refused:
            return _Answer(200, {"ignored": routed.refused}, "ignored")
        if routed.closed:
            reason = f"finished: {_closed(routed.closed, decision.target)}"
            return _Answer(200, {"ignored": reason}, "finished")
        if not routed.signalled:
            reason = f"untracked: no running workflow for {_describe(decision.target)}"
            return _Answer(200, {"ignored": reason}, "untracked")
        self._metrics.signals.labels(signal=decision.signal).inc(len(routed.signalled))
        return _Answer(
            202,
            {"signalled": routed.signalled, "signal": decision.signal, "delivery": delivery.delivery_id},
            "signalled",
        )

    async def _read_body(self, request: Request) -> bytes | _Answer:
        """The raw body; or the answer to one too large (never read unbounded), cut short or stalled."""
        declared = int(request.headers["content-length"]) if request.headers.get("content-length", "").isdigit() else None
        if declared is not None and declared > self._max_body_bytes:
            return self._too_large()
        chunks: list[bytes] = []
        size = 0
        stream = request.stream()
        try:
            while (chunk := await self._next_chunk(stream)) is not None:
                size += len(chunk)
                if size > self._max_body_bytes:
                    return self._too_large()
                chunks.append(chunk)
        except TimeoutError:
            return _incomplete(f"{size} bytes arrived, then nothing for {self._body_stall:g} s")
        except ClientDisconnect:
            return _incomplete(f"the client disconnected after {size} bytes")
        if declared is not None and size != declared:
            return _incomplete(f"Content-Length is {declared} bytes, {size} arrived")
        return b"".join(chunks)

    async def _next_chunk(self, stream: AsyncIterator[bytes]) -> bytes | None:
        """The body's next chunk, None at its end; TimeoutError when none comes within the stall limit."""
        async with asyncio.timeout(self._body_stall):
            return await anext(stream, None)

    def _too_large(self) -> _Answer:
        return _Answer(413, {"error": f"body larger than {self._max_body_bytes} bytes"}, "too_large")


def _incomplete(detail: str) -> _Answer:
    return _Answer(400, {"error": f"incomplete body: {detail}"}, "incomplete")


def _late_answer(delivery: _Delivery) -> _Answer:
    """The answer when a request runs out of time: the client's fault while its body is still arriving."""
    if not delivery.body_received:
        return _incomplete("the whole body did not arrive in time")
    return _Answer(503, {"error": "not answered in time; Temporal may be slow or unreachable"}, "timeout")


def _closed(workflow_ids: list[str], target: Target) -> str:
    if len(workflow_ids) == 1:
        return f"workflow {workflow_ids[0]} for {_describe(target)} has closed"
    return f"workflows {', '.join(workflow_ids)} for {_describe(target)} have closed"


def _describe(target: Target) -> str:
    if target.base_ref is not None:
        return f"{target.repository}:{target.base_ref}"
    if target.pr_keys:
        return ", ".join(target.pr_keys)
    return f"{target.repository}@{target.head_sha}"
