"""A client-side limit on calls to a rate-limited API (Mailjet: limits per API key per second,
429 past them): at most `max_concurrent` calls in flight and at most `max_per_second` started
within any one second (a sliding window, so no second, however aligned, holds more).

Waiters are served in arrival order. A slot is held until the call's worker thread is done,
even if the caller gave up waiting (cancelled), so the bound holds for what is on the wire.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

WINDOW = 1.0  # seconds


def start_delay(starts: deque[float], now: float, max_per_second: int) -> float:
    """How long to wait before one more call may start, given the start instants of earlier
    calls (oldest first; those out of the window are dropped from `starts`)."""
    while starts and starts[0] <= now - WINDOW:
        starts.popleft()
    if len(starts) < max_per_second:
        return 0.0
    return starts[len(starts) - max_per_second] + WINDOW - now


class Limiter:
    def __init__(self, max_concurrent: int, max_per_second: int, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        if max_concurrent < 1 or max_per_second < 1:
            raise ValueError("a limiter needs at least one call in flight and one per second")
        self.max_concurrent = max_concurrent
        self.max_per_second = max_per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._slots = asyncio.Semaphore(max_concurrent)
        self._pacing = asyncio.Lock()
        self._starts: deque[float] = deque()
        self.in_flight = 0

    async def acquire(self) -> None:
        """Wait for a slot and for the per-second window; the caller must release()."""
        await self._slots.acquire()
        try:
            async with self._pacing:
                while (delay := start_delay(self._starts, self._monotonic(), self.max_per_second)) > 0:
                    await self._sleep(delay)
                self._starts.append(self._monotonic())
        except BaseException:
            self._slots.release()
            raise
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        self._slots.release()
