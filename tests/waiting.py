"""The suite's one way to wait: poll a condition until it holds, with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def wait_until(
    check: Callable[[], Any],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
    not_yet: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy, and return that; fail after `timeout` seconds.

    `not_yet`: errors that mean "no answer yet" rather than a failure, such as a query to a workflow whose
    worker was just killed (it can time out on the dead worker's sticky queue until another worker takes over).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
        except not_yet:
            result = None
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
