"""Fault injection and request counting for the fake: latency, random and injected answers."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fakes import rate_limit
from fakes.config import FakeConfig
from fakes.world import FakeWorld

# Answers for paths outside the two APIs: not subject to faults or latency.
ADMIN_PREFIXES = ("/_admin", "/healthz")
# Codegen's 429 message.
RATE_LIMITED = "Rate limit exceeded. Please try again later."


def api_error(status: int, message: str, github: bool = False, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error body as Codegen (`message`, `status_code`) or GitHub (`message`, `documentation_url`) shapes it."""
    if github:
        body = {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}
    else:
        body = {"message": message, "status_code": status}
    return JSONResponse(body, status_code=status, headers=headers)


class Injection:
    """A canned response for matching requests, `times` times; `after_effect` lets the request act first."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.method = str(spec.get("method", "")).upper()
        self.path_contains = str(spec.get("path_contains", ""))
        self.status = int(spec["status"])
        self.body = spec.get("body", {"message": f"Injected {self.status}", "status_code": self.status})
        self.headers = {str(k): str(v) for k, v in (spec.get("headers") or {}).items()}
        self.remaining = int(spec.get("times", 1))
        self.after_effect = bool(spec.get("after_effect", False))
        # Hold the answer this long: longer than the client's timeout makes it a lost response.
        self.delay_seconds = float(spec.get("delay_seconds", 0))

    def matches(self, method: str, path: str, after_effect: bool) -> bool:
        return (
            self.remaining > 0
            and self.after_effect == after_effect
            and (not self.method or self.method == method)
            and self.path_contains in path
        )

    async def reply(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.remaining -= 1
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        await JSONResponse(self.body, status_code=self.status, headers=self.headers)(scope, receive, send)


class FaultsAndCounters:
    """Latency, injected and random faults, and both APIs' rate limits, on API routes; request counts by route and status."""

    def __init__(self, app: ASGIApp, world: FakeWorld, routes: list[BaseRoute], injections: list[Injection]) -> None:
        self.app = app
        self.world = world
        # "GET /repos/{owner}/{repo}/pulls/{number}": labels for the request counters.
        self.routes = [(route, re.sub(r":\w+}", "}", route.path)) for route in routes if isinstance(route, Route)]
        self.injections = injections

    def _endpoint(self, scope: Scope) -> str:
        # The router leaves the matched route in the scope; faults answer before routing.
        routed = scope.get("route")
        for route, label in self.routes:
            if route is routed or (routed is None and route.matches(scope)[0] == Match.FULL):
                return f"{scope['method']} {label}"
        return f"{scope['method']} (unmatched)"

    def _take(self, method: str, path: str, after_effect: bool) -> Injection | None:
        return next((i for i in self.injections if i.matches(method, path, after_effect)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        statuses: list[int] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        try:
            if path.startswith(ADMIN_PREFIXES):
                await self.app(scope, receive, recording_send)
                return
            await self._serve_api(scope, receive, recording_send, method, path)
        finally:
            self.world.count_request(self._endpoint(scope), statuses[0] if statuses else 0)

    async def _serve_api(self, scope: Scope, receive: Receive, send: Send, method: str, path: str) -> None:
        config = self.world.config
        if config.latency_seconds:
            await asyncio.sleep(config.latency_seconds)
        injection = self._take(method, path, after_effect=False)
        if injection is not None:
            await injection.reply(scope, receive, send)
            return
        github = not path.startswith("/v1/")
        fault = self._random_fault(config, github=github)
        if fault is not None:
            await fault(scope, receive, send)
            return
        if not github:
            retry_after = self.world.codegen_limits.admit(self._endpoint(scope), time.monotonic())
            if retry_after is not None:
                refusal = api_error(429, RATE_LIMITED, headers={"Retry-After": str(retry_after)})
                await refusal(scope, receive, send)
                return
        elif path != "/rate_limit":
            limit = self.world.github_rate_limit()
            if limit is not None:
                if not limit.take(time.time()):
                    message = "API rate limit exceeded for this token. Wait for x-ratelimit-reset."
                    await api_error(403, message, github=True, headers=rate_limit.headers(limit.state()))(scope, receive, send)
                    return
                send = _refunding_not_modified(send, limit)
        injection = self._take(method, path, after_effect=True)
        if injection is None:
            await self.app(scope, receive, send)
            return

        async def discard(message: Message) -> None:
            return None

        # The request takes effect; its response is lost and replaced.
        await self.app(scope, receive, discard)
        await injection.reply(scope, receive, send)

    def _random_fault(self, config: FakeConfig, github: bool) -> Response | None:
        retry_after = {"Retry-After": str(config.retry_after_seconds)}
        if self.world.chance(config.fault_rate(429, github=github)):
            return api_error(429, RATE_LIMITED, github, retry_after)
        if self.world.chance(config.fault_rate(503, github=github)):
            return api_error(503, "Service temporarily unavailable.", github, retry_after)
        if self.world.chance(config.fault_rate(500, github=github)):
            return api_error(500, "Internal Server Error", github)
        return None


def _refunding_not_modified(send: Send, limit: rate_limit.PrimaryRateLimit) -> Send:
    """`send`, giving the request back to the limit when it is answered 304 Not Modified."""

    async def refunding(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 304:
            limit.refund()
        await send(message)

    return refunding
