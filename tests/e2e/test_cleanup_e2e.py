"""List cleanup through `campaign-bot run`: round 1's bounces at the stand-in become a plan,
an Apply click suppresses them and removes them from every unsent round that holds them
(here the overlapping campaign planned from the same master list), never from the master."""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta

import pytest

from tests.support.flows import Flow
from tests.support.harness import APPROVER, OPERATOR, STRANGER
from tests.support.world import stage_messages

pytestmark = pytest.mark.slow


async def test_bounces_become_a_plan_and_apply_removes_them_from_unsent_rounds(bot_factory, slack, mailjet, database, clock_file):
    await bot_factory(SEND_MODE="live")
    autumn = Flow(slack, mailjet, database, clock_file, name="Autumn")
    await autumn.plan(rounds=2, contacts=30)
    winter = Flow(slack, mailjet, database, clock_file, name="Winter")
    await winter.plan(rounds=2, first_in=timedelta(days=3), account=autumn.account)
    master_before = sorted(mailjet.list_member_emails(autumn.account.master_list))

    await autumn.approve(1)
    autumn.move_to(autumn.at[0] + timedelta(seconds=1))
    sent = await autumn.wait_campaign_id(1)  # Mailjet sends in the background: the id comes later
    first_half = autumn.account.contact_ids[:15]  # round 1 of both campaigns (FIFO)
    hard, spam, soft, blocked = first_half[0:2], first_half[2:3], first_half[3:4], first_half[4:5]
    outcome = {**{f"user{c}@example.com": "hard" for c in hard}, **{f"user{c}@example.com": "spam" for c in spam},
               **{f"user{c}@example.com": "soft" for c in soft}, **{f"user{c}@example.com": "blocked" for c in blocked}}
    mailjet.set_outcome(sent["mailjet_campaign_id"], delivered=5, hard=2, soft=1, blocked=1, spam=1, bounce_emails=outcome)

    autumn.move_to(autumn.at[0] + timedelta(hours=24, seconds=5))  # the cleanup stage
    # A copy, as the user saw it: the stand-in applies chat.update to its stored message in place.
    plan_message = copy.deepcopy((await slack.wait_for(
        lambda: [m for m in stage_messages(slack, "cleanup", 1) if any(b["type"] == "actions" for b in m.blocks or [])
                 and "Autumn" in m.text], timeout=20))[0])
    assert "3 contacts to suppress" in plan_message.text
    assert "Winter round 1: −3" in str(plan_message.blocks)

    refused = await autumn.click("apply_cleanup", plan_message, user=STRANGER)
    assert "needs the operator role" in refused
    winter_round = await winter.round(1)
    assert len(mailjet.list_member_emails(winter_round["mailjet_list_id"])) == 15  # nothing changed

    # 3 of 15 is over the 10% an operator may suppress at once: it takes an approver.
    assert "20.0%" in str(plan_message.blocks) and "only an approver can apply" in str(plan_message.blocks)
    refused = await autumn.click("apply_cleanup", plan_message, user=OPERATOR)
    assert "an approver must apply it" in refused
    reply = await autumn.click("apply_cleanup", plan_message, user=APPROVER)
    assert "Cleanup applied: 3 contacts suppressed" in reply, reply
    gone = {f"user{c}@example.com" for c in hard + spam}
    winter_round = await winter.round(1)
    winter_list = set(mailjet.list_member_emails(winter_round["mailjet_list_id"]))
    assert winter_list.isdisjoint(gone) and len(winter_list) == 12
    assert f"user{soft[0]}@example.com" in winter_list and f"user{blocked[0]}@example.com" in winter_list
    ledger = await winter.fetch("SELECT email FROM recipients WHERE round_id = $1 AND removed_at IS NULL", winter_round["id"])
    assert {r["email"] for r in ledger} == winter_list and winter_round["recipient_count"] == 12
    assert sorted(mailjet.list_member_emails(autumn.account.master_list)) == master_before  # master untouched
    assert (await autumn.round(1))["state"] == "cleaned"

    again = await autumn.click("apply_cleanup", plan_message, user=OPERATOR)
    assert "applied already; nothing changed" in again
    assert len(mailjet.list_member_emails(winter_round["mailjet_list_id"])) == 12
    soft_row = await winter.fetchrow("SELECT * FROM suppressions WHERE contact_id = $1", soft[0])
    assert soft_row["bounce_count"] == 1 and not soft_row["active"]
    assert await winter.fetchrow("SELECT * FROM suppressions WHERE contact_id = $1", blocked[0]) is None

    # Winter's pre-flight now passes the "no suppressed contact in the list" check.
    reply = await winter.command('preflight "Winter" 1', user=OPERATOR)
    run = await winter.fetchrow("SELECT p.checks FROM preflight_runs p WHERE p.round_id = $1 ORDER BY id DESC", winter_round["id"])
    checks = {c["key"]: c for c in run["checks"]}
    assert checks["suppressed"]["status"] == "pass" and checks["list"]["status"] == "pass", checks
    await asyncio.sleep(0.5)
