"""Codegen's published rate limits, which the fake enforces when `FAKE_CODEGEN_CREATE_LIMIT` or
`FAKE_CODEGEN_READ_LIMIT` is set: creates per minute, and standard reads per 30 s shared by every GET."""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Literal

from fakes.config import FakeConfig

Kind = Literal["create", "read"]
# The middleware's label of the create route; every other Codegen GET is a standard read. Resume and
# remove-from-pr have no published limit.
CREATE_ENDPOINT = "POST /v1/organizations/{org_id}/agent/run"
READ_PREFIX = "GET /v1/"


def kind_of(endpoint: str) -> Kind | None:
    """Which limit a request (labelled "METHOD /route/{param}") counts against, if any."""
    if endpoint == CREATE_ENDPOINT:
        return "create"
    if endpoint.startswith(READ_PREFIX):
        return "read"
    return None


class SlidingWindowLimit:
    """At most `limit` requests in any `window_seconds`, kept as the times of the last `limit` accepted.

    Unlike a fixed window, a burst at a window's edge cannot pass twice the limit, and a client that
    spaces its requests `window_seconds / limit` apart is never refused.
    """

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._accepted: deque[float] = deque()

    def take(self, now: float) -> bool:
        """Accept one request at `now` (seconds, any monotonic clock); False, and nothing recorded, when full."""
        while self._accepted and self._accepted[0] <= now - self.window_seconds:
            self._accepted.popleft()
        if len(self._accepted) >= self.limit:
            return False
        self._accepted.append(now)
        return True

    def retry_after(self, now: float) -> int:
        """Whole seconds until the oldest accepted request leaves the window (at least 1)."""
        if not self._accepted:
            return 1
        return max(1, math.ceil(self._accepted[0] + self.window_seconds - now))


class CodegenLimits:
    """The create and read windows as configured now, and what they accepted and refused."""

    def __init__(self, config: Callable[[], FakeConfig]) -> None:
        self._config = config
        self._windows: dict[Kind, SlidingWindowLimit] = {}
        self.accepted: Counter[Kind] = Counter()
        self.refused: Counter[Kind] = Counter()
        self.refused_by_endpoint: Counter[str] = Counter()

    def admit(self, endpoint: str, now: float) -> int | None:
        """Count a request to `endpoint`; None if accepted, else the seconds it should wait (Retry-After)."""
        kind = kind_of(endpoint)
        if kind is None:
            return None
        window = self._window(kind)
        if window is not None and not window.take(now):
            self.refused[kind] += 1
            self.refused_by_endpoint[endpoint] += 1
            return window.retry_after(now)
        self.accepted[kind] += 1
        return None

    def _window(self, kind: Kind) -> SlidingWindowLimit | None:
        """The enforced window, if configured; a new configuration (PATCH /_admin/config) starts an empty one."""
        config = self._config()
        if kind == "create":
            limit, seconds = config.codegen_create_limit, config.codegen_create_window_seconds
        else:
            limit, seconds = config.codegen_read_limit, config.codegen_read_window_seconds
        if limit is None:
            return None
        window = self._windows.get(kind)
        if window is None or (window.limit, window.window_seconds) != (limit, seconds):
            window = self._windows[kind] = SlidingWindowLimit(limit, seconds)
        return window

    def counters(self) -> dict[str, Any]:
        return {
            "creates_accepted": self.accepted["create"],
            "create_429s": self.refused["create"],
            "reads_accepted": self.accepted["read"],
            "read_429s": self.refused["read"],
            "429s_by_endpoint": dict(self.refused_by_endpoint),
        }
