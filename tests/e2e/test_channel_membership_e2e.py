"""The bot is not in the campaign channel, through `campaign-bot run` against a Slack stand-in
that refuses with not_in_channel as Slack does: the bot says so where people look (log,
/readyz, `campaign-bot check`, every /campaign answer), keeps every message it could not post,
and posts them in their order, once each, when it is invited."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest

from jobs.outbox import block_id_for
from tests.support.flows import Flow
from tests.support.harness import ADMIN, CAMPAIGN_BOT, BotProcess
from tests.support.world import TEST_OFFSETS, iso, seed_account, stage_messages

pytestmark = pytest.mark.slow

CHANNEL = "C0TRACTION"
INVITE = "/invite @campaign-bot"


async def readyz(bot: BotProcess) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{bot.port}/readyz") as response:
            return response.status, await response.json()


async def metric(bot: BotProcess, name: str) -> float:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{bot.port}/metrics") as response:
            text = await response.text()
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def log_events(bot: BotProcess) -> list[dict]:
    events = []
    for line in bot.logs().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


async def plan_without_waiting(flow: Flow, rounds: int = 2) -> str:
    """`/campaign new …` as Flow.plan does, without waiting for the announcement (it cannot come)."""
    flow.account = seed_account(flow.mailjet, contacts=12, unsubscribed=0, excluded=0)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    flow.at = [start + timedelta(hours=1) * i for i in range(rounds)]
    reply = await flow.command(f'new "{flow.name}" list={flow.account.master_list} draft={flow.account.template_draft} '
                               f'at={",".join(iso(i) for i in flow.at)} offsets={TEST_OFFSETS} window=30m')
    assert "Planning" in reply, reply
    deadline = asyncio.get_running_loop().time() + 30
    while (await flow.fetchrow("SELECT planning_state FROM campaigns WHERE name = $1", flow.name))["planning_state"] != "planned":
        assert asyncio.get_running_loop().time() < deadline, "planning did not finish"
        await asyncio.sleep(0.2)
    return reply


async def test_a_bot_that_was_never_invited_says_so_keeps_everything_and_posts_it_in_order_once_invited(
        bot_factory, slack, mailjet, database, clock_file, tmp_path):
    slack.remove_bot(CHANNEL)
    bot = await bot_factory()

    # --- it says so: /readyz (200: alive, a restart would not help), the gauge, one log line, check
    status, body = await readyz(bot)
    assert status == 200 and body["ready"] is True
    assert body["channel"]["member"] is False and body["channel"]["id"] == CHANNEL
    assert INVITE in body["channel"]["detail"]
    assert await metric(bot, "campaign_bot_slack_channel_member") == 0
    said = [e for e in log_events(bot) if "not a member of the campaign channel" in e.get("event", "")]
    assert len(said) == 1 and said[0]["level"] == "error" and INVITE in said[0]["fix"]

    check = await asyncio.to_thread(subprocess.run, [CAMPAIGN_BOT, "check"], env=bot.env, capture_output=True,
                                    text=True, timeout=60, cwd=tmp_path)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"✗ slack: the bot is not a member of #_traction ({CHANNEL})" in check.stdout
    assert f"Type {INVITE} in #_traction" in check.stdout

    # --- every /campaign answer tells the user what to do; read-only and state-changing ones still work
    flow = Flow(slack, mailjet, database, clock_file, name="Waiting Letter")
    for text in ("help", "list", "nonsense words"):
        assert INVITE in await flow.command(text)
    planned = await plan_without_waiting(flow)
    assert INVITE in planned
    assert "Froze" in await flow.command("freeze the list is being checked", user=ADMIN)
    assert "Unfroze" in await flow.command("unfreeze", user=ADMIN)
    status_reply = await flow.command(f'status "{flow.name}"')
    assert "Status of" in status_reply and INVITE in status_reply

    # --- stages run; their messages wait, none is dropped or given up
    flow.move_to(flow.at[0] - timedelta(minutes=29))  # round 1: pre-launch (T-1h) and pre-flight (T-30m) are due
    await flow.wait_state(1, "ready")
    await asyncio.sleep(1.0)
    rows = await flow.fetch("SELECT * FROM slack_outbox ORDER BY id")
    keys = [r["idempotency_key"] for r in rows]
    assert any(k.endswith(":parent") for k in keys) and any(":preflight:" in k for k in keys)
    assert {r["state"] for r in rows} == {"pending"}, [(r["idempotency_key"], r["state"], r["last_error"]) for r in rows]
    assert not any(k.startswith("undeliverable:") for k in keys)
    assert rows[0]["waiting_since"] is not None and "not_in_channel" in rows[0]["last_error"]
    assert all(r["attempts"] == 0 for r in rows)  # refusals are not attempts: nothing is ever given up
    assert slack.channel_messages(CHANNEL) == [] and slack.uploads == []
    assert (await readyz(bot))[1]["channel"]["waiting_messages"] >= 1
    assert {r["error"] for r in slack.refusals} == {"not_in_channel"}

    # --- invited: Slack sends member_joined_channel; everything goes out now, in order, once
    await slack.invite_bot(CHANNEL)
    await slack.wait_for(lambda: len(slack.channel_messages(CHANNEL)) >= sum(1 for r in rows if r["kind"] == "post"),
                         timeout=20)
    deadline = asyncio.get_running_loop().time() + 20
    while {r["state"] for r in await flow.fetch("SELECT state FROM slack_outbox")} != {"sent"}:
        assert asyncio.get_running_loop().time() < deadline, await flow.fetch("SELECT * FROM slack_outbox WHERE state <> 'sent'")
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    rows = await flow.fetch("SELECT * FROM slack_outbox ORDER BY id")
    posts = [r for r in rows if r["kind"] == "post"]
    messages = slack.channel_messages(CHANNEL)
    assert len(messages) == len(posts)  # once each
    assert len({r["ts"] for r in posts}) == len(posts)
    for row in posts:  # and each one is the message Slack holds under its ts
        [posted] = [m for m in messages if m.ts == row["ts"]]
        updates = [r["idempotency_key"] for r in rows if r["target_key"] == row["idempotency_key"]]
        assert posted.blocks[0]["block_id"] == block_id_for(updates[-1] if updates else row["idempotency_key"])
    assert [Decimal(r["ts"]) for r in posts] == sorted(Decimal(r["ts"]) for r in posts)  # in the order queued
    assert "planned" in messages[0].text and "froze every send" in messages[1].text and "unfroze" in messages[2].text
    parent = stage_messages(slack, "prelaunch", 1)[0]
    assert stage_messages(slack, "preflight", 1)[0].thread_ts == parent.ts
    assert parent.edits  # the parent's updates waited for it and were applied after it

    assert [e for e in log_events(bot) if e.get("event") == "the bot was invited to a channel"]  # the event did it
    status, body = await readyz(bot)
    assert body["channel"]["member"] is True and body["channel"]["waiting_messages"] == 0
    assert await metric(bot, "campaign_bot_slack_channel_member") == 1
    assert INVITE not in await flow.command("list")
    assert not [e for e in log_events(bot) if e.get("level") == "error" and "could not be delivered" in e.get("event", "")]


async def test_a_bot_removed_while_running_notices_and_finds_its_way_back_without_the_event(
        bot_factory, slack, mailjet, database, clock_file):
    slack.bot_events.discard("member_joined_channel")  # an app installed from an older manifest
    bot = await bot_factory()
    flow = Flow(slack, mailjet, database, clock_file, name="Kicked Letter")
    await flow.plan(rounds=1)
    assert (await readyz(bot))[1]["channel"]["member"] is True

    slack.remove_bot(CHANNEL)  # someone removed it; Slack tells the bot nothing
    before = len(slack.channel_messages(CHANNEL))
    assert "Froze" in await flow.command("freeze checking the list", user=ADMIN)
    # The post is refused, kept, and the bot now knows.
    await slack.wait_for(lambda: any(r["error"] == "not_in_channel" for r in slack.refusals), timeout=10)
    for _ in range(50):
        if (await readyz(bot))[1]["channel"]["member"] is False:
            break
        await asyncio.sleep(0.1)
    assert (await readyz(bot))[1]["channel"]["member"] is False
    assert INVITE in await flow.command("unfreeze", user=ADMIN)
    waiting = await flow.fetch("SELECT * FROM slack_outbox WHERE state = 'pending' ORDER BY id")
    assert [r["idempotency_key"].split(":")[0] for r in waiting] == ["freeze", "freeze"]

    # Invited again, with no event: the outbox's retry (5 s doubling to 5 min) or the membership
    # watcher notices, and both notes go out in order.
    await slack.invite_bot(CHANNEL)
    flow.move_to(datetime.now(UTC) + timedelta(minutes=6))
    notes = await slack.wait_for(lambda: slack.channel_messages(CHANNEL)[before:] if len(
        slack.channel_messages(CHANNEL)) >= before + 2 else None, timeout=30)
    assert "froze every send" in notes[0].text and "unfroze" in notes[1].text and len(notes) == 2
    for _ in range(50):
        if (await readyz(bot))[1]["channel"]["member"] is True:
            break
        await asyncio.sleep(0.1)
    assert (await readyz(bot))[1]["channel"]["member"] is True
