"""Test support for the fake services: a webhook receiver and waiting on conditions."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

AUTH = {"Authorization": "Bearer test-key"}


@dataclass
class ReceivedWebhook:
    event: str
    delivery_id: str
    signature_valid: bool
    payload: dict[str, Any]

    @property
    def action(self) -> str | None:
        return self.payload.get("action")

    def pr_number(self) -> int | None:
        if "pull_request" in self.payload:
            return self.payload["pull_request"]["number"]
        for kind in ("check_run", "check_suite"):
            if kind in self.payload and self.payload[kind]["pull_requests"]:
                return self.payload[kind]["pull_requests"][0]["number"]
        return None


class WebhookReceiver:
    """A tiny relay stand-in: verifies each delivery's HMAC itself and keeps them in order."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[ReceivedWebhook] = []
        self.app = Starlette(routes=[Route("/webhooks/github", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        signature = request.headers.get("x-hub-signature-256", "")
        self.received.append(
            ReceivedWebhook(
                event=request.headers["x-github-event"],
                delivery_id=request.headers["x-github-delivery"],
                signature_valid=hmac.compare_digest(expected, signature),
                payload=json.loads(body),
            )
        )
        return JSONResponse({"accepted": True}, status_code=202)

    def for_pull(self, repository: str, number: int) -> list[ReceivedWebhook]:
        return [
            hook
            for hook in self.received
            if hook.payload["repository"]["full_name"] == repository and hook.pr_number() == number
        ]


async def create_run(http: httpx.AsyncClient, task_id: str, attempt: int = 1, **scenario: Any) -> dict[str, Any]:
    """Start a fake agent run straight through the API (what the client would send)."""
    metadata = {"task_id": task_id, "workflow_id": f"codegen-task-{task_id}", "attempt": attempt, "scenario": scenario}
    response = await http.post("/v1/organizations/1/agent/run", json={"prompt": f"Do {task_id}", "metadata": metadata}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


async def finished_run(http: httpx.AsyncClient, run_id: int, timeout: float = 10.0) -> dict[str, Any]:
    """Poll the fake until the run leaves ACTIVE."""
    latest: dict[str, Any] = {}

    async def poll() -> None:
        while True:
            latest.update((await http.get(f"/v1/organizations/1/agent/run/{run_id}", headers=AUTH)).json())
            if latest["status"] != "ACTIVE":
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)
    return latest
