"""The client-side Mailjet limit (bot/limiter.py) and its use by bot/mailjet.py's transport."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from bot.limiter import Limiter, start_delay
from bot.mailjet import Mailjet
from standins.mailjet import MailjetStandin


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


@pytest.fixture
async def standin():
    server = MailjetStandin(api_key="k", api_secret="s")
    await server.start()
    yield server
    await server.stop()


async def test_mailjet_calls_in_flight_never_exceed_the_bound(standin):
    list_id = standin.create_list("weekly")
    client = Mailjet("k", "s", standin.api_url, timeout=5, max_concurrent=2, max_per_second=1000)
    try:
        standin.latency = 0.2
        lists = await asyncio.gather(*(client.get_list(list_id) for _ in range(7)))
        assert [row["ID"] for row in lists] == [list_id] * 7
        assert standin.max_in_flight == 2  # bounded, and the bound is used
    finally:
        client.close()


async def test_a_call_abandoned_by_its_caller_keeps_its_slot_until_the_thread_is_done(standin):
    list_id = standin.create_list("weekly")
    client = Mailjet("k", "s", standin.api_url, timeout=5, max_concurrent=1, max_per_second=1000)
    try:
        standin.latency = 0.6
        call = asyncio.ensure_future(client.get_list(list_id))
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert client._limiter.in_flight == 1 and standin.in_flight == 1  # still on the wire
        second = await client.get_list(list_id)  # waits for the abandoned call's thread
        assert second["ID"] == list_id and standin.max_in_flight == 1
    finally:
        client.close()
