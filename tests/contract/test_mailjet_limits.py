"""bot/mailjet.py's transport keeps to the client-side limit (bot/limiter.py) against the
Mailjet stand-in: calls in flight never exceed the bound, and an abandoned call keeps its slot."""

from __future__ import annotations

import asyncio

import pytest

from bot.mailjet import Mailjet
from standins.mailjet import MailjetStandin


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
