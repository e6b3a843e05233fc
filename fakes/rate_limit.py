"""GitHub's primary rate limit, which the fake enforces when `FAKE_GITHUB_RATE_LIMIT` is set."""

from __future__ import annotations

import math
from dataclasses import dataclass

# What the fake reports when no limit is enforced: a fresh hour of an authenticated token's 5,000.
UNLIMITED = {"limit": 5000, "remaining": 4999, "reset": 4102444800, "used": 1}


@dataclass
class PrimaryRateLimit:
    """`limit` requests per window of `window_seconds`, which starts at its first request.

    As on GitHub, a conditional request answered 304 Not Modified costs nothing, and the
    `/rate_limit` endpoint itself is free.
    """

    limit: int
    window_seconds: float
    used: int = 0
    reset_at: float = 0.0  # epoch seconds

    def take(self, now: float) -> bool:
        """Count one request; False (and nothing counted) when the window's requests are spent."""
        if now >= self.reset_at:
            self.used, self.reset_at = 0, now + self.window_seconds
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def refund(self) -> None:
        self.used = max(0, self.used - 1)

    def state(self) -> dict[str, int]:
        return {"limit": self.limit, "remaining": self.limit - self.used, "reset": math.ceil(self.reset_at), "used": self.used}


def headers(state: dict[str, int]) -> dict[str, str]:
    """GitHub's `x-ratelimit-*` response headers for a `state()`."""
    return {f"x-ratelimit-{name}": str(value) for name, value in state.items()} | {"x-ratelimit-resource": "core"}
