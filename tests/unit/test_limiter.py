"""The client-side Mailjet limit (bot/limiter.py), on a fake clock. Its use by bot/mailjet.py's
transport against the stand-in: tests/contract/test_mailjet_limits.py."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from bot.limiter import Limiter, start_delay


class FakeTime:
    """Monotonic time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def test_start_delay_is_a_sliding_window():
    starts = deque([10.0, 10.2, 10.5])
    assert start_delay(starts, 10.6, 3) == pytest.approx(0.4)   # 10.0 leaves the window at 11.0
    assert start_delay(starts, 10.6, 4) == 0.0
    assert start_delay(starts, 11.0, 3) == 0.0                  # 10.0 is out: two in the window
    assert list(starts) == [10.2, 10.5]
    assert start_delay(deque(), 0.0, 1) == 0.0
    full = deque([5.0, 5.1])
    assert start_delay(full, 5.3, 1) == pytest.approx(0.8)      # the newer of the two must leave
    with pytest.raises(ValueError):
        Limiter(0, 10)


async def test_no_second_holds_more_starts_than_the_limit():
    clock = FakeTime()
    limiter = Limiter(50, 4, monotonic=clock.monotonic, sleep=clock.sleep)
    started: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        started.append(clock.now)
        limiter.release()

    await asyncio.gather(*(call() for _ in range(13)))
    assert len(started) == 13
    for first in started:
        assert sum(1 for t in started if first <= t < first + 1.0) <= 4
    assert started[-1] - started[0] >= 3.0  # 13 starts at 4 per second span at least 3 seconds
    assert started == sorted(started)


async def test_at_most_max_concurrent_in_flight_and_waiters_served_in_order():
    limiter = Limiter(3, 1000)
    peak, order = 0, []
    release = asyncio.Event()

    async def call(i: int) -> None:
        nonlocal peak
        await limiter.acquire()
        order.append(i)
        peak = max(peak, limiter.in_flight)
        await release.wait()
        limiter.release()

    tasks = [asyncio.ensure_future(call(i)) for i in range(8)]
    await asyncio.sleep(0.05)
    assert limiter.in_flight == 3 and order == [0, 1, 2]
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3 and order == list(range(8)) and limiter.in_flight == 0


async def test_a_cancelled_waiter_does_not_leak_a_slot():
    limiter = Limiter(1, 1000)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    await asyncio.wait_for(limiter.acquire(), 1)  # the one slot is free again
    limiter.release()
    assert limiter.in_flight == 0
