"""The Mailjet webhook through `campaign-bot run`: a batch with a malformed event is answered
200, its good events are stored, the bad one is set aside (table, metric, one log line) and
`campaign-bot check` says so; a body that is not a JSON array is still 400."""

from __future__ import annotations

import asyncio
import json
import subprocess

import aiohttp
import asyncpg
import pytest

from tests.support.harness import CAMPAIGN_BOT, BotProcess

pytestmark = pytest.mark.slow

USER, PASSWORD = "mailjet", "s3cret-hook-pa55"
AUTH = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}


def _open(message_id: int, email: str) -> dict:
    return {"event": "open", "time": 1_795_000_000, "MessageID": message_id, "email": email, "mj_campaign_id": 7,
            "mj_contact_id": message_id, "ip": "127.0.0.1", "geo": "GB", "agent": "Mozilla/5.0"}


def _set_aside_metric(text: str) -> float:
    for line in text.splitlines():
        if line.startswith('campaign_bot_mailjet_webhook_events_total{outcome="set_aside"}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_malformed_event_is_set_aside_and_its_batch_answered_200(bot_factory, database):
    bot: BotProcess = await bot_factory(MAILJET_WEBHOOK_USER=USER, MAILJET_WEBHOOK_PASSWORD=PASSWORD)
    malformed = {"event": "bounce", "time": "yesterday", "MessageID": 3, "email": "hidden.person@example.org",
                 "hard_bounce": True}
    batch = [_open(1, "one@example.com"), malformed, _open(2, "two@example.com")]
    url = f"http://127.0.0.1:{bot.port}/mailjet/events"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{bot.port}/metrics") as response:
            assert _set_aside_metric(await response.text()) == 0
        async with session.post(url, json=batch, headers=AUTH) as response:
            assert response.status == 200
            answer = await response.json()
        # Not JSON, or not an array: 400 and nothing stored, as before.
        async with session.post(url, data=b'[{"event": "open",', headers=AUTH) as response:
            assert response.status == 400 and "JSON" in (await response.json())["error"]
        async with session.post(url, json=batch[0], headers=AUTH) as response:
            assert response.status == 400 and "Version 2" in (await response.json())["error"]
        async with session.get(f"http://127.0.0.1:{bot.port}/metrics") as response:
            assert _set_aside_metric(await response.text()) == 1

    assert answer["stored"] == 2 and answer["duplicates"] == 0 and answer["set_aside"] == 1
    assert answer["invalid"] == [{"index": 1, "reason": answer["invalid"][0]["reason"]}]
    assert answer["invalid"][0]["reason"].startswith("time: Input should be a valid integer")
    connection = await asyncpg.connect(database)
    try:
        stored = await connection.fetch("SELECT message_id FROM mailjet_events ORDER BY message_id")
        rejects = await connection.fetch("SELECT position, reason, raw::text AS raw FROM mailjet_event_rejects")
    finally:
        await connection.close()
    assert [row["message_id"] for row in stored] == [1, 2]
    assert len(rejects) == 1 and rejects[0]["position"] == 1
    assert json.loads(rejects[0]["raw"]) == malformed and rejects[0]["reason"] == answer["invalid"][0]["reason"]

    lines = [json.loads(line) for line in bot.logs().splitlines() if "events set aside" in line]
    assert len(lines) == 1
    assert (lines[0]["received"], lines[0]["stored"], lines[0]["set_aside"]) == (3, 2, 1)
    assert lines[0]["problems"] == {"time:int_parsing": 1}
    assert "hidden.person" not in bot.logs() and "@example." not in bot.logs()

    # `campaign-bot check` names them as a warning that does not fail the check.
    result = await asyncio.to_thread(subprocess.run, [CAMPAIGN_BOT, "check"], env=bot.env, capture_output=True,
                                     text=True, timeout=60, cwd=bot.workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    warning = [line for line in result.stdout.splitlines() if line.startswith("! mailjet webhook:")]
    assert len(warning) == 1 and "1 malformed event(s) set aside in the last 7 days" in warning[0], result.stdout
    assert "A webhook event was set aside" in warning[0]
    assert "hidden.person" not in result.stdout + result.stderr
