"""Wrap-up through `campaign-bot run`: the report carries the stand-in's numbers, the chart
reaches the upload endpoint in the round's thread, nothing is invented when Mailjet fails."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest

from tests.support.flows import Flow
from tests.support.harness import OPERATOR
from tests.support.world import stage_messages

pytestmark = pytest.mark.slow


@pytest.fixture
async def flow(slack, mailjet, database, clock_file) -> Flow:
    return Flow(slack, mailjet, database, clock_file)


async def send_round(flow: Flow, number: int = 1):
    await flow.approve(number)
    flow.move_to(flow.at[number - 1] + timedelta(seconds=1))
    await flow.wait_state(number, "sent")
    return await flow.wait_campaign_id(number)  # Mailjet sends in the background: the id comes later


async def test_wrapup_report_has_the_real_numbers_and_a_chart_in_the_thread(bot_factory, flow, slack, mailjet):
    await bot_factory(SEND_MODE="live")
    await flow.plan(rounds=2, contacts=40)
    sent = await send_round(flow, 1)
    campaign_id = sent["mailjet_campaign_id"]
    # The predecessor's round 1, scaled down: the stand-in reports it as Mailjet would.
    mailjet.set_outcome(campaign_id, delivered=14, hard=5, soft=1, blocked=0, opened=9, clicked=2,
                        bounce_emails={f"user{c}@example.com": "hard" for c in flow.account.contact_ids[:5]})
    flow.move_to(flow.at[0] + timedelta(minutes=31))  # the early look
    await asyncio.sleep(1.5)
    early = await flow.fetch("SELECT * FROM metrics_snapshots WHERE kind = 'early'")
    assert len(early) == 1 and early[0]["counters"]["MessageSentCount"] == 14
    flow.move_to(flow.at[0] + timedelta(hours=2, seconds=5))
    await flow.wait_state(1, "reported")
    report = (await slack.wait_for(lambda: stage_messages(slack, "wrapup", 1), timeout=15))[0]
    parent = stage_messages(slack, "prelaunch", 1)[0]
    assert report.thread_ts == parent.ts
    text = str(report.blocks) + report.text
    assert "70.0%" in text  # delivery 14 of 20 processed
    assert "30.0%" in text  # bounce 6 of 20 processed
    assert "critical" in text.lower()
    assert "example.com" in text  # the domain that holds every hard bounce is named
    upload = await slack.wait_for(lambda: slack.uploads, timeout=15)
    assert upload[0]["thread_ts"] == parent.ts and upload[0]["bytes"][:4] == b"\x89PNG"
    critical = await slack.wait_for(lambda: [a for a in flow.alerts(1) if "critical" in a.text], timeout=10)
    assert critical[0].reply_broadcast
    reply = await flow.command(f'report "{flow.name}" 1', user=OPERATOR)
    assert reply


async def test_unreadable_mailjet_says_so_and_retries_without_inventing_numbers(bot_factory, flow, slack, mailjet):
    await bot_factory(SEND_MODE="live")
    await flow.plan(rounds=1)
    sent = await send_round(flow, 1)
    # Down for longer than the client's own read retries (over https mailjet-rest's transport
    # retries a GET three times): the early look and the wrap-up cannot read the numbers.
    mailjet.fail_next("GET", r"/statcounters$", status=503, times=1000)
    flow.move_to(flow.at[0] + timedelta(hours=2, seconds=5))
    note = await slack.wait_for(lambda: [m for m in stage_messages(slack, "wrapup", 1) if "could not be read" in m.text], timeout=30)
    assert "%" not in note[0].text  # no number, no rate
    assert (await flow.round(1))["state"] == "sent"
    # The stage retries (backoff 30 s): move past it, Mailjet answers, the report arrives once.
    mailjet.clear_faults()
    mailjet.set_outcome(sent["mailjet_campaign_id"], delivered=6)
    flow.move_to(flow.at[0] + timedelta(hours=2, minutes=1, seconds=5))
    await flow.wait_state(1, "reported", timeout=20)
    await slack.wait_for(lambda: [m for m in stage_messages(slack, "wrapup", 1) if "100.0%" in str(m.blocks)], timeout=10)


async def test_webhook_is_served_by_the_running_bot(bot_factory, flow):
    bot = await bot_factory(MAILJET_WEBHOOK_USER="mailjet", MAILJET_WEBHOOK_PASSWORD="s3cret-hook")
    events = [{"event": "open", "time": 1764300000, "MessageID": 1, "email": "a@example.com", "mj_campaign_id": 7}]
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{bot.port}/mailjet/events"
        good = {"Authorization": aiohttp.encode_basic_auth("mailjet", "s3cret-hook")}
        bad = {"Authorization": aiohttp.encode_basic_auth("mailjet", "wrong")}
        async with session.post(url, json=events, headers=good) as response:
            assert response.status == 200
        async with session.post(url, json=events, headers=bad) as response:
            assert response.status == 401
    assert len(await flow.fetch("SELECT * FROM mailjet_events")) == 1


async def test_a_stage_that_keeps_failing_is_given_up_with_an_alert(bot_factory, flow, slack, mailjet):
    await bot_factory(SEND_MODE="live", STAGE_MAX_ATTEMPTS="2")
    await flow.plan(rounds=1)
    await send_round(flow, 1)
    mailjet.fail_next("GET", r"/statcounters$", status=503, times=100)
    flow.move_to(flow.at[0] + timedelta(hours=2, seconds=5))
    await slack.wait_for(lambda: [m for m in stage_messages(slack, "wrapup", 1) if "could not be read" in m.text], timeout=30)
    flow.move_to(flow.at[0] + timedelta(hours=2, minutes=2))  # past the first retry's backoff
    alert = await slack.wait_for(lambda: [a for a in flow.alerts(1) if "given up" in a.text and "Wrap-up" in a.text],
                                 timeout=15)
    assert alert[0].reply_broadcast
    run = await flow.fetchrow("SELECT s.* FROM stage_runs s WHERE s.stage = 'wrapup'")
    assert run["state"] == "failed" and run["attempts"] == 2 and "503" in run["last_error"]
    log = await flow.fetch("SELECT action FROM audit_log WHERE action = 'stage wrapup error'")
    assert len(log) == 2
