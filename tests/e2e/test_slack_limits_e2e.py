"""Real-sized inputs through `campaign-bot run` against a Slack stand-in that refuses what Slack
refuses (Block Kit limits, 40,000 characters): a 3,000-recipient round with 470 bounces over
60 domains, reasons of thousands of characters, an 80-character campaign name. Nothing is
refused, every message fits, full reasons stay in the audit log, and the cleanup plan's full
contact list comes as a CSV in the thread. And an upload accepted by Slack just before a
crash is not uploaded again."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta

import pytest

from standins import blockkit
from standins.mailjet import MailjetStandin
from tests.support.flows import Flow
from tests.support.harness import ADMIN, APPROVER, OPERATOR
from tests.support.world import SENDER, TEMPLATE_HTML, Account, seed_account, stage_messages

pytestmark = pytest.mark.slow

CHANNEL = "C0TRACTION"
LONG_NAME = "Quarterly Customer Letter for every region and language, second attempt (Q4)"  # 78 characters
# About 5,000 characters, with the Slack markup a cut must not break: a mention, a link, an entity.
LONG_REASON = " ".join(
    f"Point {i}: <@U0OPERATOR> checked <https://example.com/lists/{i}|export {i}> & found rows to fix." for i in range(60))


def seed_big_account(mailjet: MailjetStandin, *, domains: int = 60, per_domain: int = 50, first_id: int = 10001) -> Account:
    """A master list of domains × per_domain contacts, user<ID>@mailNN.example.net."""
    mailjet.add_sender(SENDER, name="Ops Team")
    master = mailjet.create_list("customers")
    ids: list[int] = []
    for d in range(domains):
        ids += mailjet.add_contacts(master, per_domain, start_id=first_id + d * per_domain, domain=f"mail{d:02d}.example.net")
    template = mailjet.create_draft(title="Big template", subject="Our quarterly letter", sender_email=SENDER,
                                    sender_name="Ops Team", html=TEMPLATE_HTML, text="Hello [[UNSUB_LINK_EN]]")
    return Account(master, template, ids)


def assert_fits(slack) -> None:
    """Everything Slack holds fits its limits, and it refused nothing."""
    assert slack.refusals == [], [(r["method"], r["error"], r["messages"][:3]) for r in slack.refusals]
    for message in slack.messages:
        assert len(message.text) <= 40_000
        assert blockkit.problems(message.blocks or []) == []
    for view in slack.home_views.values():
        assert blockkit.view_problems(view) == []
    for response in slack.responses:
        assert blockkit.problems(response["blocks"] or []) == []


async def test_real_sized_rounds_and_reasons_fit_slack_and_nothing_is_refused(bot_factory, slack, mailjet, database,
                                                                              clock_file):
    bot = await bot_factory(SEND_MODE="live")
    account = seed_big_account(mailjet)
    flow = Flow(slack, mailjet, database, clock_file, name=LONG_NAME)
    await flow.plan(rounds=1, account=account)
    round_row = await flow.round(1)
    assert round_row["recipient_count"] == 3000

    # A hold with a 5,000-character reason, then resumed; a freeze with one, then lifted.
    await flow.ready(1)
    assert "Held round 1" in await flow.command(f'hold "{LONG_NAME}" 1 {LONG_REASON}', user=OPERATOR)
    status = await flow.command(f'status "{LONG_NAME}"')
    assert "Status of" in status
    assert "Resumed" in await flow.command(f'resume "{LONG_NAME}" 1', user=APPROVER)
    assert "Froze" in await flow.command(f"freeze {LONG_REASON}", user=ADMIN)
    assert "No campaigns" not in await flow.command("list")
    assert "Unfroze" in await flow.command("unfreeze", user=ADMIN)

    # Sent to 3,000; 470 hard bounces over all 60 domains.
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    sent = await flow.wait_campaign_id(1)  # Mailjet sends in the background: the id comes later
    ids = account.contact_ids  # 50 per domain: 7 bounces in each of the 60 domains, one more in 50 of them
    bounced = [ids[d * 50 + k * 7] for k in range(7) for d in range(60)] + [ids[d * 50 + 49] for d in range(50)]
    emails = {f"user{c}@mail{(c - 10001) // 50:02d}.example.net": "hard" for c in bounced}
    assert len(emails) == 470 and len({e.split("@")[1] for e in emails}) == 60
    mailjet.set_outcome(sent["mailjet_campaign_id"], delivered=2530, hard=470, opened=900, clicked=120,
                        bounce_emails=emails)
    flow.move_to(flow.at[0] + timedelta(hours=2, seconds=5))
    await flow.wait_state(1, "reported", timeout=30)
    flow.move_to(flow.at[0] + timedelta(hours=24, seconds=5))
    csv_upload = (await slack.wait_for(lambda: [u for u in slack.uploads if u["filename"].endswith(".csv")], timeout=30))[0]

    # The plan message shows a sample and points to the CSV, which holds every contact.
    plan_message = next(m for m in stage_messages(slack, "cleanup", 1) if any(b["type"] == "actions" for b in m.blocks or []))
    assert "470 contacts to suppress" in plan_message.text
    assert "all 470 are in the attached CSV" in json.dumps(plan_message.blocks)
    assert csv_upload["thread_ts"] == stage_messages(slack, "prelaunch", 1)[0].ts
    rows = list(csv.DictReader(io.StringIO(csv_upload["bytes"].decode())))
    assert len(rows) == 470 and {r["email"] for r in rows} == set(emails)
    assert {r["action"] for r in rows} == {"suppress"}

    # A cancel with a long reason, on a second, small campaign: the confirm button names the stored reason.
    small = Flow(slack, mailjet, database, clock_file, name="Small Letter")
    await small.plan(rounds=1, first_in=timedelta(days=3),  # the clock is a day on by now
                     account=seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0, first_id=90001))
    envelope = await slack.send_slash_command(f'cancel "Small Letter" 1 {LONG_REASON}', user_id=APPROVER)
    await slack.wait_ack(envelope)
    [reply] = await slack.wait_for(lambda: [r for r in slack.responses if r["envelope_id"] == envelope and r["blocks"]])
    [actions] = [b for b in reply["blocks"] if b["type"] == "actions"]
    assert len(actions["block_id"]) <= 255
    click = await slack.send_block_action("cancel_round", str(await small.round_id(1)), user_id=APPROVER,
                                          block_id=actions["block_id"])
    await slack.wait_ack(click)
    answer = await slack.wait_for(lambda: [r for r in slack.responses if r["envelope_id"] == click and r.get("text")])
    assert "Cancelled round 1" in answer[0]["text"]
    await small.wait_state(1, "cancelled")

    # The full reasons are in the audit log; Slack got them cut, with an ellipsis.
    for action in ("held", "froze all sends", "cancelled"):
        [entry] = await flow.fetch("SELECT detail FROM audit_log WHERE action = $1", action)
        assert entry["detail"]["summary"] == LONG_REASON, action
    held_note = next(m for m in slack.messages if "Held by" in m.text)
    assert "…" in held_note.text and LONG_REASON not in held_note.text
    assert "Cancelled by" in (await small.round(1))["outcome_detail"] and LONG_REASON in (await small.round(1))["outcome_detail"]
    log_reply = await flow.command(f'log "{LONG_NAME}"')
    assert "held" in log_reply and len(log_reply) < 40_000

    # Reading it all back, with the Home tab open, is within limits too.
    for text in (f'status "{LONG_NAME}"', f'report "{LONG_NAME}"', "list", f'log "Small Letter"'):
        assert await flow.command(text)
    home = await slack.send_event({"type": "app_home_opened", "user": OPERATOR, "channel": "D0HOME", "tab": "home"})
    await slack.wait_ack(home)
    await slack.wait_for(lambda: slack.home_views.get(OPERATOR), timeout=10)
    await asyncio.sleep(1.0)

    assert_fits(slack)
    failed = await flow.fetch("SELECT idempotency_key, last_error FROM slack_outbox WHERE state <> 'sent'")
    assert failed == []
    assert "slack message shortened" not in bot.logs()  # the builders fitted their own text


async def test_sigkill_after_slack_accepted_an_upload_does_not_upload_it_twice(bot_factory, slack, mailjet, database,
                                                                               clock_file):
    """The wrap-up chart: Slack has it, the process dies before the outbox records it; the next
    process finds it in the thread by its name and records it instead of uploading again."""
    bot = await bot_factory(SEND_MODE="live", CAMPAIGN_BOT_TEST_FAILPOINT="after_slack_upload")
    flow = Flow(slack, mailjet, database, clock_file, name="Chart Once")
    await flow.plan(rounds=1, contacts=20)
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    sent = await flow.wait_campaign_id(1)  # Mailjet sends in the background: the id comes later
    mailjet.set_outcome(sent["mailjet_campaign_id"], delivered=18, hard=2,
                        bounce_emails={f"user{c}@example.com": "hard" for c in flow.account.contact_ids[:2]})
    flow.move_to(flow.at[0] + timedelta(hours=2, seconds=5))
    await asyncio.wait_for(bot.process.wait(), 30)  # killed right after Slack accepted the chart
    assert bot.process.returncode == -9
    [upload] = slack.uploads
    row = await flow.fetchrow("SELECT * FROM slack_outbox WHERE kind = 'upload'")
    assert row["state"] == "pending" and row["attempts"] == 1

    calls_before = len(slack.calls)
    await bot_factory(SEND_MODE="live")
    deadline = asyncio.get_running_loop().time() + 20
    while (row := await flow.fetchrow("SELECT * FROM slack_outbox WHERE kind = 'upload'"))["state"] != "sent":
        assert asyncio.get_running_loop().time() < deadline, row
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    assert slack.uploads == [upload]  # once
    assert row["ts"] == f"file:{upload['file_id']}"
    methods = [method for method, _ in slack.calls[calls_before:]]
    assert "conversations.replies" in methods and "files.getUploadURLExternal" not in methods
    assert upload["filename"].startswith("Chart Once-rates-round-1-cbk-") and upload["thread_ts"]
