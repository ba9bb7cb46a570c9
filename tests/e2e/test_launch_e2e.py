"""The send path through `campaign-bot run` (SEND_MODE=live against the Mailjet stand-in):
a round goes out once, on time, approved, or not at all."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.support.flows import Flow
from tests.support.harness import ADMIN, APPROVER, OPERATOR, STRANGER
from tests.support.world import lifecycle, stage_messages

pytestmark = pytest.mark.slow
LIVE = {"SEND_MODE": "live"}


@pytest.fixture
async def flow(slack, mailjet, database, clock_file) -> Flow:
    return Flow(slack, mailjet, database, clock_file)


async def settle(seconds: float = 1.0) -> None:
    """Give the bot time to do what it should not do (send early, post twice)."""
    await asyncio.sleep(seconds)


async def test_approved_round_sends_once_at_its_instant(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)
    await flow.plan(rounds=2)
    message = await flow.ready(1)
    assert [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]] == [
        "approve_launch", "hold_round", "cancel_round"]
    cancel = next(e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "cancel_round")
    assert cancel["style"] == "danger" and cancel["confirm"]["style"] == "danger"

    reply = await flow.click("approve_launch", message, user=APPROVER)
    assert "Approved round 1" in reply
    await flow.wait_state(1, "approved")
    # The pre-flight message is updated in place: who approved and when, no Approve button any more.
    updated = await slack.wait_for(lambda: [m for m in [slack.message_by_ts(message.channel, message.ts)]
                                            if m.edits and "Approved by <@U0APPROVER>" in str(m.blocks)], timeout=10)
    assert "approve_launch" not in str(updated[0].blocks)
    again = await flow.click("approve_launch", message, user=APPROVER)
    assert "already approved" in again  # a repeated click changes nothing and says why

    flow.move_to(flow.at[0] - timedelta(seconds=3))
    await settle(1.5)
    assert await flow.draft_sends(1) == []  # never early
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    row = await flow.wait_state(1, "sent")
    sends = await flow.draft_sends(1)
    assert len(sends) == 1 and sends[0]["at"] >= row["scheduled_at"]
    # Mailjet sends in the background: the round is sent at once, its campaign id comes later.
    assert row["dry_run"] is False
    confirmations = await slack.wait_for(lambda: flow.confirmations(1), timeout=10)
    assert "delivers in the background" in confirmations[0].text or confirmations[0].edits
    row = await flow.wait_campaign_id(1)
    assert row["mailjet_campaign_id"] == sends[0]["campaign_id"] and row["state"] == "sent"
    await slack.wait_for(lambda: [c for c in flow.confirmations(1) if str(row["mailjet_campaign_id"]) in c.text], timeout=10)
    await settle()
    assert len(flow.confirmations(1)) == 1  # updated in place, not posted again
    assert mailjet.send_attempts == [a for a in mailjet.send_attempts if a["accepted"]] and len(mailjet.send_attempts) == 1
    parent = stage_messages(slack, "prelaunch", 1)[0]
    await slack.wait_for(lambda: str(row["mailjet_campaign_id"]) in str(slack.message_by_ts(parent.channel, parent.ts).blocks),
                         timeout=10)
    assert confirmations[0].thread_ts == parent.ts
    assert lifecycle(slack.message_by_ts(parent.channel, parent.ts))["state"] == "sent"
    assert (await flow.round(2))["state"] == "planned"  # the other round is untouched
    assert mailjet.schedule_calls == []  # timing is never handed to Mailjet


async def test_not_approved_is_missed_with_an_alert_and_never_sent(bot_factory, flow, slack):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.ready(1)
    flow.move_to(flow.at[0] + timedelta(seconds=5))
    await settle(1.5)
    assert await flow.draft_sends(1) == []
    assert (await flow.round(1))["state"] == "ready"  # waiting for an approval inside the window
    flow.move_to(flow.at[0] + timedelta(minutes=31))  # the 30 min window has closed
    row = await flow.wait_state(1, "missed")
    assert "not sent" in row["outcome_detail"] and "waiting for approval" in row["outcome_detail"]
    alerts = await slack.wait_for(lambda: [a for a in flow.alerts(1) if "window" in a.text], timeout=10)
    assert alerts[0].reply_broadcast is True
    # A late approval changes nothing.
    message = flow.preflight_messages(1)[-1]
    reply = await flow.click("approve_launch", message)
    assert "cannot be approved" in reply
    await settle()
    assert await flow.draft_sends(1) == []


async def test_held_round_is_not_sent(bot_factory, flow, slack):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    reply = await flow.command(f'hold "{flow.name}" 1 checking the offer link', user=OPERATOR)
    assert "Held round 1" in reply
    flow.move_to(flow.at[0] + timedelta(seconds=5))
    await settle(1.5)
    assert await flow.draft_sends(1) == []
    row = await flow.round(1)
    assert row["held"] and row["state"] == "approved"
    flow.move_to(flow.at[0] + timedelta(minutes=31))
    await flow.wait_state(1, "missed")
    assert await flow.draft_sends(1) == []


async def test_cancelled_round_is_not_sent_and_others_are_unaffected(bot_factory, flow, slack):
    await bot_factory(**LIVE)
    await flow.plan(rounds=2)
    await flow.approve(1)
    envelope = await slack.send_slash_command(f'cancel "{flow.name}" 1 wrong audience', user_id=APPROVER)
    await slack.wait_ack(envelope)
    confirm = await slack.wait_for(lambda: [r for r in slack.responses if r.get("envelope_id") == envelope and r.get("blocks")])
    button = next(e for b in confirm[0]["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert button["action_id"] == "cancel_round" and button["confirm"]["style"] == "danger"
    assert (await flow.round(1))["state"] == "approved"  # asking is not cancelling
    block_id = next(b["block_id"] for b in confirm[0]["blocks"] if b["type"] == "actions")
    click = await slack.send_block_action("cancel_round", button["value"], user_id=APPROVER, block_id=block_id)
    await slack.wait_ack(click)
    row = await flow.wait_state(1, "cancelled")
    assert "wrong audience" in row["outcome_detail"]
    await flow.approve(2)
    flow.move_to(flow.at[0] + timedelta(seconds=5))
    await settle(1.5)
    assert await flow.draft_sends(1) == []
    flow.move_to(flow.at[1] + timedelta(seconds=1))
    await flow.wait_state(2, "sent")
    assert len(await flow.draft_sends(2)) == 1


async def test_freeze_stops_sends_and_unfreeze_inside_the_window_sends_once(bot_factory, flow, slack):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    refused = await flow.command("freeze", user=APPROVER)
    assert "needs the admin role" in refused
    assert "Froze" in await flow.command("freeze incident review", user=ADMIN)
    flow.move_to(flow.at[0] + timedelta(seconds=5))
    await settle(1.5)
    assert await flow.draft_sends(1) == []
    status = await flow.command(f'status "{flow.name}"')
    assert status  # the reply carries blocks; the freeze shows in them
    assert "Unfroze" in await flow.command("unfreeze", user=ADMIN)
    await flow.wait_state(1, "sent")
    await settle()
    assert len(await flow.draft_sends(1)) == 1
    assert len(flow.confirmations(1)) == 1


async def test_non_approver_and_stale_buttons_change_nothing(bot_factory, flow, slack):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    first = await flow.ready(1)
    for user in (OPERATOR, STRANGER):
        reply = await flow.click("approve_launch", first, user=user)
        assert "needs the approver role" in reply and "nothing was changed" in reply
    refused = await flow.command(f'approve "{flow.name}" 1', user=OPERATOR)
    assert "needs the approver role" in refused
    assert (await flow.round(1))["state"] == "ready"
    # Pre-flight runs again: the older result's button no longer approves anything.
    await flow.command(f'preflight "{flow.name}" 1', user=OPERATOR)
    await slack.wait_for(lambda: len(flow.preflight_messages(1)) == 2, timeout=10)
    stale = await flow.click("approve_launch", first, user=APPROVER)
    assert "older pre-flight" in stale
    assert (await flow.round(1))["state"] == "ready"
    assert await flow.fetch("SELECT * FROM approvals") == []
    newest = flow.preflight_messages(1)[-1]
    assert "Approved" in await flow.click("approve_launch", newest, user=APPROVER)


async def test_reschedule_earlier_and_later_never_sends_before_the_instant(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)
    await flow.plan(rounds=2, spacing=timedelta(hours=3))
    await flow.approve(1)
    original = flow.at[0]
    later = original + timedelta(hours=1)
    reply = await flow.command(f'reschedule "{flow.name}" 1 {later.strftime("%Y-%m-%dT%H:%M:%SZ")}', user=APPROVER)
    assert "now sends" in reply
    row = await flow.round(1)
    assert row["state"] == "planned" and row["scheduled_at"] == later
    flow.move_to(original + timedelta(seconds=5))  # the old instant passes: nothing goes
    await settle(1.5)
    assert await flow.draft_sends(1) == []
    flow.at[0] = later
    await flow.approve(1)  # the clock is now 29 minutes before `later`
    # Now earlier again (still in the future): its pre-flight is overdue and runs at once.
    earlier = later - timedelta(minutes=10)
    reply = await flow.command(f'reschedule "{flow.name}" 1 {earlier.strftime("%Y-%m-%dT%H:%M:%SZ")}', user=APPROVER)
    assert "now sends" in reply
    await flow.wait_state(1, "ready")  # approval cleared, pre-flight passed again
    assert len(await flow.fetch("SELECT * FROM approvals WHERE lapsed_at IS NULL")) == 0
    newest = (await slack.wait_for(lambda: len(flow.preflight_messages(1)) >= 3 and flow.preflight_messages(1)))[-1]
    assert "Approved" in await flow.click("approve_launch", newest)
    flow.move_to(earlier - timedelta(seconds=2))
    await settle(1.5)
    assert await flow.draft_sends(1) == []
    flow.move_to(earlier + timedelta(seconds=1))
    row = await flow.wait_state(1, "sent")
    sends = await flow.draft_sends(1)
    assert len(sends) == 1 and sends[0]["at"] >= earlier == row["scheduled_at"]


@pytest.mark.parametrize("failpoint", ["before_claim", "after_claim", "after_send_recorded"])
async def test_sigkill_on_the_send_path_sends_and_confirms_exactly_once(bot_factory, flow, slack, failpoint):
    bot = await bot_factory(**LIVE, CAMPAIGN_BOT_TEST_FAILPOINT=failpoint)
    await flow.plan(rounds=1)
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await asyncio.wait_for(bot.process.wait(), 20)  # it killed itself at the failpoint
    assert bot.process.returncode == -9
    await bot_factory(**LIVE)  # a fresh process, no failpoint
    await flow.wait_state(1, "sent")
    await slack.wait_for(lambda: flow.confirmations(1), timeout=15)
    await settle(1.5)
    assert len(await flow.draft_sends(1)) == 1
    assert len(flow.confirmations(1)) == 1


@pytest.mark.parametrize("mode", ["in_flight", "accepted_not_recorded"])
async def test_sigkill_while_mailjet_handles_the_send(bot_factory, flow, slack, mailjet, mode):
    bot = await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    # The send request hangs in Mailjet; applied first or not.
    mailjet.fail_next("POST", r"/campaigndraft/\d+/send$", status=500, delay=3.0, apply_first=mode == "accepted_not_recorded")
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await slack.wait_for(lambda: mailjet.send_attempts, timeout=15)
    await bot.kill()
    await asyncio.sleep(3.5)  # the hung request finishes (or not) on Mailjet's side
    await bot_factory(**LIVE)
    if mode == "in_flight":
        # Mailjet never applied it: the draft is still a draft, so it may be sent, once.
        await flow.wait_state(1, "sent", timeout=60)
    else:
        await flow.wait_state(1, "sent")
    await slack.wait_for(lambda: flow.confirmations(1), timeout=15)
    await settle(1.5)
    assert len(await flow.draft_sends(1)) == 1
    assert len(flow.confirmations(1)) == 1
    row = await flow.wait_campaign_id(1)  # Mailjet finished the background send; the id follows
    assert row["state"] == "sent" and row["mailjet_campaign_id"] == (await flow.draft_sends(1))[0]["campaign_id"]


@pytest.mark.parametrize("fault", ["500_after_apply", "timeout_after_apply"])
async def test_ambiguous_mailjet_answers_are_reconciled_not_resent(bot_factory, flow, slack, mailjet, fault):
    await bot_factory(**LIVE, MAILJET_TIMEOUT_SECONDS="1.5")
    await flow.plan(rounds=1)
    await flow.approve(1)
    delay = 3.0 if fault == "timeout_after_apply" else 0.0
    mailjet.fail_next("POST", r"/campaigndraft/\d+/send$", status=500, delay=delay, apply_first=True)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    row = await flow.wait_state(1, "sent", timeout=20)
    await slack.wait_for(lambda: flow.confirmations(1), timeout=15)
    await settle(1.5)
    assert len(await flow.draft_sends(1)) == 1
    assert len([a for a in mailjet.send_attempts if a["draft_id"] == row["mailjet_draft_id"]]) == 1
    assert len(flow.confirmations(1)) == 1
    assert "interrupted send" in flow.confirmations(1)[0].text or "interrupted" in str(flow.confirmations(1)[0].blocks)
    # Right after the send Mailjet reads Status 1 (being sent): that is "sent", never "failed".
    assert "round failed" not in [r["action"] for r in await flow.fetch("SELECT action FROM audit_log")]
    await flow.wait_campaign_id(1)


async def test_two_replicas_racing_send_once(bot_factory, flow, slack):
    await bot_factory(**LIVE)
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await flow.wait_state(1, "sent")
    await settle(2)
    assert len(await flow.draft_sends(1)) == 1
    assert len(flow.confirmations(1)) == 1


async def test_dry_run_does_everything_but_the_send_and_says_so(bot_factory, flow, slack, mailjet):
    await bot_factory()  # SEND_MODE defaults to dry-run
    await flow.plan(rounds=1)
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    row = await flow.wait_state(1, "sent")
    assert row["dry_run"] is True and row["mailjet_campaign_id"] is None
    confirmation = (await slack.wait_for(lambda: flow.confirmations(1), timeout=10))[0]
    assert "Dry run" in confirmation.text and "NOT sent" in confirmation.text
    assert mailjet.send_attempts == []


async def test_a_missed_round_goes_out_only_if_rescheduled_and_approved_again(bot_factory, flow, slack):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    await flow.command(f'hold "{flow.name}" 1', user=OPERATOR)
    flow.move_to(flow.at[0] + timedelta(minutes=31))
    await flow.wait_state(1, "missed")
    await flow.command(f'resume "{flow.name}" 1', user=APPROVER)
    await settle(1.5)
    assert await flow.draft_sends(1) == []  # resuming a missed round does not send it
    new_instant = flow.at[0] + timedelta(hours=2)
    reply = await flow.command(f'reschedule "{flow.name}" 1 {new_instant.strftime("%Y-%m-%dT%H:%M:%SZ")}', user=APPROVER)
    assert "now sends" in reply
    assert (await flow.round(1))["state"] == "planned"
    flow.at[0] = new_instant
    await flow.approve(1)
    flow.move_to(new_instant + timedelta(seconds=1))
    await flow.wait_state(1, "sent")
    assert len(await flow.draft_sends(1)) == 1


async def test_auto_approval_sends_a_ready_round_but_not_a_changed_draft(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)
    await flow.plan(rounds=2, extra="approval=auto")
    await flow.ready(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await flow.wait_state(1, "sent")  # no person approved it
    assert len(await flow.draft_sends(1)) == 1
    await flow.ready(2)
    mailjet.edit_draft_content((await flow.round(2))["mailjet_draft_id"], html="<p>edited [[UNSUB_LINK_EN]]</p>")
    flow.move_to(flow.at[1] + timedelta(seconds=1))
    await flow.wait_state(2, "blocked")
    await slack.wait_for(lambda: [a for a in flow.alerts(2) if "changed in Mailjet" in a.text], timeout=10)
    assert await flow.draft_sends(2) == []


async def test_a_send_mailjet_refuses_fails_the_round_once_with_an_alert(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)
    await flow.plan(rounds=1)
    await flow.approve(1)
    mailjet.fail_next("POST", r"/campaigndraft/\d+/send$", status=400, body={"ErrorMessage": "Sender not validated"})
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    row = await flow.wait_state(1, "failed")
    assert "refused" in row["outcome_detail"]
    await slack.wait_for(lambda: [a for a in flow.alerts(1) if "refused" in a.text], timeout=10)
    await settle(1.5)
    assert len([a for a in mailjet.send_attempts if a["draft_id"] == row["mailjet_draft_id"]]) == 1
    assert await flow.draft_sends(1) == []
