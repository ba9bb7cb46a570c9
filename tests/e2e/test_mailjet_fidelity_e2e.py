"""The product against Mailjet as Mailjet really behaves, through `campaign-bot run`: a send
carried out in the background (Status 1 with no campaign id for a while), 429s, and answers
lost after Mailjet carried out a write. The stand-in serves HTTPS, so mailjet-rest's own
transport retries are as live as in production."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.support.flows import Flow
from tests.support.world import stage_messages

pytestmark = pytest.mark.slow
LIVE = {"SEND_MODE": "live"}
SEND = r"/campaigndraft/\d+/send$"


@pytest.fixture
async def flow(slack, mailjet, database, clock_file) -> Flow:
    return Flow(slack, mailjet, database, clock_file)


def accepted(mailjet) -> list[dict]:
    return [a for a in mailjet.send_attempts if a["accepted"]]


async def audit_actions(flow: Flow) -> list[str]:
    return [r["action"] for r in await flow.fetch("SELECT action FROM audit_log ORDER BY id")]


async def test_a_rate_limited_send_is_tried_again_inside_the_window_and_sent_once(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    # Busy for longer than the transport's own 429 retries (it honours Retry-After): the
    # first send call ends in a 429, which changed nothing.
    mailjet.fail_next("POST", SEND, status=429, times=4, retry_after=1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await slack.wait_for(lambda: len(mailjet.send_attempts) >= 4, timeout=30)
    released = await flow.wait_state(1, "approved", "sent", timeout=20)
    assert accepted(mailjet) == [] or released["state"] == "sent"
    flow.move_to(flow.at[0] + timedelta(seconds=20))  # past the pause after a 429
    row = await flow.wait_state(1, "sent", timeout=30)
    await asyncio.sleep(1.0)
    assert [a["status"] for a in mailjet.send_attempts] == [429, 429, 429, 429, 201]
    assert len(accepted(mailjet)) == 1 and len(flow.confirmations(1)) == 1
    assert row["outcome_detail"] is None and row["send_attempts"] == 2
    actions = await audit_actions(flow)
    assert "send refused for now (429)" in actions and "round failed" not in actions
    await flow.wait_campaign_id(1)


async def test_rate_limited_until_the_window_closes_is_missed_saying_so(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    mailjet.fail_next("POST", SEND, status=429, times=10_000)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await slack.wait_for(lambda: len(mailjet.send_attempts) >= 4, timeout=30)
    await flow.wait_state(1, "approved", timeout=20)  # released: a 429 is "later", never "no"
    assert (await flow.round(1))["state"] != "failed"
    flow.move_to(flow.at[0] + timedelta(minutes=31))  # the 30-minute window has closed
    row = await flow.wait_state(1, "missed", timeout=30)
    assert "rate-limiting" in row["outcome_detail"]
    alert = await slack.wait_for(lambda: [a for a in flow.alerts(1) if "rate-limiting" in a.text], timeout=15)
    assert alert[0].reply_broadcast and "will not be sent automatically" in alert[0].text
    assert accepted(mailjet) == [] and mailjet.schedule_calls == []


async def test_lost_answers_to_creates_leave_no_orphan_and_planning_succeeds(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE, MAILJET_TIMEOUT_SECONDS="2")
    # Mailjet carries out each write, then the answer is lost (a 502 from a proxy): the list,
    # the contacts job, the draft and its content all exist although the client saw an error.
    for path in (r"/contactslist$", r"/contactslist/\d+/managemanycontacts$", r"/campaigndraft$",
                 r"/campaigndraft/\d+/detailcontent$"):
        mailjet.fail_next("POST", path, status=502, apply_first=True)
    # And one create whose answer never comes before the client gives up.
    mailjet.fail_next("POST", r"/campaigndraft$", status=200, apply_first=True, delay=4.0)
    await flow.plan(rounds=2)
    lists = [l for l in mailjet.lists() if l["Name"].startswith(f"{flow.name}-round-")]
    assert sorted(l["Name"] for l in lists) == [f"{flow.name}-round-1", f"{flow.name}-round-2"]
    rounds = [await flow.round(1), await flow.round(2)]
    for round_row in rounds:
        live = [d for d in mailjet.drafts() if d["ContactsListID"] == round_row["mailjet_list_id"] and d["Status"] >= 0]
        assert [d["ID"] for d in live] == [round_row["mailjet_draft_id"]]  # one draft per round, no orphan
        members = mailjet.list_member_emails(round_row["mailjet_list_id"])
        assert len(members) == round_row["recipient_count"] == 6
        assert mailjet.draft_content(round_row["mailjet_draft_id"])["Html-part"]
    campaign = await flow.fetchrow("SELECT * FROM campaigns WHERE name = $1", flow.name)
    assert campaign["planning_state"] == "planned" and campaign["planning_attempts"] == 0
    assert "planning error" not in await audit_actions(flow)


async def test_numbers_wait_for_a_campaign_id_that_comes_late(bot_factory, flow, slack, mailjet):
    mailjet.send_processing_seconds = 10**9  # Mailjet keeps the send "programmed" until told
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    row = await flow.wait_state(1, "sent")
    assert row["dry_run"] is False and row["mailjet_campaign_id"] is None
    assert mailjet.draft(row["mailjet_draft_id"])["Status"] == 1
    confirmation = (await slack.wait_for(lambda: flow.confirmations(1), timeout=10))[0]
    assert "in the background" in confirmation.text and "None" not in confirmation.text

    flow.move_to(flow.at[0] + timedelta(minutes=31))
    late = await slack.wait_for(lambda: [a for a in flow.alerts(1) if "still gives no campaign id" in a.text], timeout=20)
    assert late[0].reply_broadcast
    flow.move_to(flow.at[0] + timedelta(hours=2, seconds=5))  # the wrap-up is due, the id is not there
    await asyncio.sleep(2.0)
    assert stage_messages(slack, "wrapup", 1) == []  # it waits: no "dry run", no invented numbers
    wrapup = await flow.fetchrow("SELECT s.* FROM stage_runs s WHERE s.stage = 'wrapup'")
    assert wrapup["state"] == "pending" and "campaign id" in wrapup["result"]["reason"]

    mailjet.finish_sends()
    campaign_id = mailjet.sends[0]["campaign_id"]
    mailjet.set_outcome(campaign_id, delivered=6)
    flow.move_to(flow.at[0] + timedelta(hours=2, minutes=6))  # the next look for the id
    row = await flow.wait_campaign_id(1)
    assert row["mailjet_campaign_id"] == campaign_id
    await slack.wait_for(lambda: [c for c in flow.confirmations(1) if str(campaign_id) in c.text], timeout=10)
    await flow.wait_state(1, "reported", timeout=20)
    report = await slack.wait_for(lambda: [m for m in stage_messages(slack, "wrapup", 1) if "100.0%" in str(m.blocks)],
                                  timeout=10)
    assert "dry run" not in report[0].text
    assert len(flow.alerts(1)) == 1  # the late-id alert was said once


async def test_a_campaign_id_that_never_comes_is_announced_and_reports_say_so(bot_factory, flow, slack, mailjet):
    mailjet.send_processing_seconds = 10**9
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await flow.wait_state(1, "sent")
    flow.move_to(flow.at[0] + timedelta(hours=24, minutes=10))
    gave_up = await slack.wait_for(lambda: [a for a in flow.alerts(1) if "cannot run" in a.text], timeout=20)
    assert "Check the campaign in Mailjet" in gave_up[0].text
    note = await slack.wait_for(lambda: [m for m in stage_messages(slack, "wrapup", 1) if "never gave" in m.text], timeout=20)
    assert "%" not in note[0].text and "dry run" not in note[0].text
    cleanup = await flow.fetchrow("SELECT s.* FROM stage_runs s WHERE s.stage = 'cleanup'")
    await asyncio.sleep(1.0)
    cleanup = await flow.fetchrow("SELECT s.* FROM stage_runs s WHERE s.stage = 'cleanup'")
    assert cleanup["state"] == "skipped" and "campaign id" in cleanup["result"]["reason"]
