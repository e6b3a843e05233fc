"""Delivering the fake GitHub's webhooks: signed like GitHub, with drop/duplicate/reorder faults.

Deliveries for one pull request go out in order through one lane (unless a reorder fault holds
one back); different pull requests use different lanes so a slow relay does not serialise them.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from fakes.config import FakeConfig
from webhooks.signature import sign

LANES = 4
HOOK_ID = 424242


@dataclass
class Delivery:
    event: str
    action: str | None
    key: str
    body: bytes
    delivery_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # What happened to each copy: an HTTP status, "dropped", or an error name.
    outcomes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "event": self.event,
            "action": self.action,
            "key": self.key,
            "outcomes": self.outcomes,
        }


class WebhookSender:
    def __init__(self, config: Callable[[], FakeConfig], rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self.counts: Counter[str] = Counter()
        self.log: deque[Delivery] = deque(maxlen=2000)
        self._lanes: list[asyncio.Queue[Delivery]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None

    def emit(self, event: str, payload: dict[str, Any], key: str) -> None:
        """Queue one delivery; `key` (e.g. `owner/repo#7`) keeps one PR's events in one lane."""
        if not self._config().webhooks_enabled:
            self.counts["disabled"] += 1
            return
        if not self._tasks:
            self._start()
        delivery = Delivery(event, payload.get("action"), key, json.dumps(payload).encode())
        self.log.append(delivery)
        self.counts["queued"] += 1
        self._lanes[zlib.crc32(key.encode()) % LANES].put_nowait(delivery)

    def pending(self) -> int:
        """Deliveries queued or in flight (tests wait for zero)."""
        return self.counts["queued"] - self.counts["finished"]

    def _start(self) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self._lanes = [asyncio.Queue() for _ in range(LANES)]
        self._tasks = [asyncio.create_task(self._run_lane(lane)) for lane in self._lanes]

    async def _run_lane(self, lane: asyncio.Queue[Delivery]) -> None:
        held: Delivery | None = None
        while True:
            config = self._config()
            try:
                if held is None:
                    delivery = await lane.get()
                else:
                    delivery = await asyncio.wait_for(lane.get(), config.webhook_reorder_hold_seconds)
            except TimeoutError:
                await self._deliver(held)
                held = None
                continue
            if held is None and self._rng.random() < config.webhook_reorder_rate:
                self.counts["reordered"] += 1
                held = delivery
                continue
            await self._deliver(delivery)
            if held is not None:
                await self._deliver(held)
                held = None

    async def _deliver(self, delivery: Delivery) -> None:
        config = self._config()
        try:
            if self._rng.random() < config.webhook_drop_rate:
                self.counts["dropped"] += 1
                delivery.outcomes.append("dropped")
                return
            copies = 2 if self._rng.random() < config.webhook_duplicate_rate else 1
            if copies == 2:
                self.counts["duplicated"] += 1
            for _ in range(copies):
                delivery.outcomes.append(await self._post(delivery, config))
        finally:
            self.counts["finished"] += 1

    async def _post(self, delivery: Delivery, config: FakeConfig) -> str:
        assert self._http is not None and config.webhook_secret
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.delivery_id,
            "X-GitHub-Hook-ID": str(HOOK_ID),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(zlib.crc32(delivery.key.split("#")[0].encode())),
            "X-Hub-Signature-256": sign(config.webhook_secret, delivery.body),
        }
        try:
            response = await self._http.post(config.relay_url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            # GitHub does not retry failed deliveries either; they show as failed.
            self.counts["failed"] += 1
            return type(exc).__name__
        self.counts["sent" if response.is_success else "failed"] += 1
        return str(response.status_code)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._http is not None:
            await self._http.aclose()
            self._http = None
