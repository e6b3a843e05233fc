"""Codegen's read limit (60 requests per 30 s per token, shared by every GET) kept by this process."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class ReadBudget:
    """At most `reads` requests in any `window_seconds`, measured as Codegen would: a slot is free again
    `window_seconds` after its request's answer came back (the server counted it before that), so even
    uneven network delays never put one request too many in a window. Waiters are served in turn.
    """

    def __init__(self, reads: int, window_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if reads < 1:
            raise ValueError(f"a read budget needs at least one read per window, not {reads}")
        self.reads = reads
        self.window_seconds = window_seconds
        self._clock = clock
        # When each slot not in use is free again; slots in use are out of the heap.
        self._free_at = [0.0] * reads
        # One waiter at a time takes the next slot: the rest queue in turn behind it.
        self._turn = asyncio.Lock()
        self._returned = asyncio.Event()

    @property
    def per_second(self) -> float:
        return self.reads / self.window_seconds

    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        """Hold one slot for the request made inside the block."""
        async with self._turn:
            while not self._free_at:
                self._returned.clear()
                await self._returned.wait()
            free_at = heapq.heappop(self._free_at)
            try:
                delay = free_at - self._clock()
                if delay > 0:
                    await asyncio.sleep(delay)
            except BaseException:
                self._give_back(free_at)  # cancelled while waiting: the slot was never used
                raise
        try:
            yield
        finally:
            self._give_back(self._clock() + self.window_seconds)

    def _give_back(self, free_at: float) -> None:
        heapq.heappush(self._free_at, free_at)
        self._returned.set()
