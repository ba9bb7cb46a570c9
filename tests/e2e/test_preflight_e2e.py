"""Each pre-flight check made to fail against the Mailjet stand-in, through `campaign-bot run`."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.holiday_calendar import holiday_name
from tests.support.flows import Flow
from tests.support.harness import APPROVER, OPERATOR
from tests.support.world import SENDER

pytestmark = pytest.mark.slow


@pytest.fixture
async def flow(slack, mailjet, database, clock_file) -> Flow:
    return Flow(slack, mailjet, database, clock_file)


async def preflight(flow: Flow, number: int = 1) -> dict[str, dict]:
    reply = await flow.command(f'preflight "{flow.name}" {number}', user=OPERATOR)
    assert "Pre-flight" in reply, reply
    run = await flow.fetchrow("SELECT p.* FROM preflight_runs p JOIN rounds r ON r.id = p.round_id "
                              "WHERE r.number = $1 ORDER BY p.id DESC LIMIT 1", number)
    return {c["key"]: c for c in run["checks"]}


async def test_all_checks_pass_on_a_good_round(bot_factory, flow):
    await bot_factory()
    await flow.plan(rounds=2)
    checks = await preflight(flow)
    # The round's instant is two hours from now: on a public holiday in England (DEFAULT_HOLIDAYS)
    # that check warns, never fails; any other day it passes.
    on_holiday = holiday_name(flow.at[0].astimezone(ZoneInfo("Europe/London")).date(), "GB-ENG")
    assert {k: c["status"] for k, c in checks.items()} == {
        "list": "pass", "suppressed": "pass", "draft": "pass", "sender": "pass", "content": "pass",
        "bounce": "pass", "timing": "pass", "holiday": "warn" if on_holiday else "pass"}
    assert (await flow.round(1))["state"] == "ready"


def break_unsubscribe_link(flow: Flow, round_row) -> None:
    flow.mailjet.edit_draft_content(round_row["mailjet_draft_id"], html='<p>Hi <a href="https://example.com">x</a></p>', text="Hi")


def break_a_link(flow: Flow, round_row) -> None:
    flow.mailjet.edit_draft_content(round_row["mailjet_draft_id"], html='<p><a href="htps//example.com/offer">x</a> [[UNSUB_LINK_EN]]</p>')


def point_draft_at_wrong_list(flow: Flow, round_row) -> None:
    flow.mailjet.edit_draft(round_row["mailjet_draft_id"], ContactsListID=flow.account.master_list)


def deactivate_sender(flow: Flow, round_row) -> None:
    flow.mailjet.set_sender_status(SENDER, "Inactive")


def shrink_the_list(flow: Flow, round_row) -> None:
    # 6 contacts in the round; removing 2 is far beyond the 1% tolerance.
    ids = [c for c in flow.account.contact_ids[:2]]
    flow.mailjet.remove_from_list(round_row["mailjet_list_id"], ids)


@pytest.mark.parametrize(
    ("breakage", "key", "words"),
    [
        (break_unsubscribe_link, "content", "no unsubscribe link"),
        (break_a_link, "content", "not valid http(s) URLs"),
        (point_draft_at_wrong_list, "draft", "not the round's list"),
        (deactivate_sender, "sender", "Inactive"),
        (shrink_the_list, "list", "in the ledger"),
    ],
)
async def test_a_broken_round_is_blocked_with_the_reason(bot_factory, flow, slack, breakage, key, words):
    await bot_factory()
    await flow.plan(rounds=2)
    breakage(flow, await flow.round(1))
    checks = await preflight(flow)
    assert checks[key]["status"] == "fail", checks
    assert words in checks[key]["reason"]
    assert (await flow.round(1))["state"] == "blocked"
    alert = await slack.wait_for(lambda: [a for a in flow.alerts(1) if "Pre-flight failed" in a.text], timeout=10)
    # Before the round has a parent message the alert is top-level; in a thread it is broadcast.
    assert alert[0].thread_ts is None or alert[0].reply_broadcast
    message = flow.preflight_messages(1)[-1]
    assert "approve_launch" not in str(message.blocks)  # nothing to approve
    assert "cannot be approved" in await flow.click("approve_launch", message, user=APPROVER)


async def test_suppressed_contact_in_the_list_blocks(bot_factory, flow, database):
    await bot_factory()
    await flow.plan(rounds=2)
    round_row = await flow.round(1)
    contact = await flow.fetchrow("SELECT contact_id, email FROM recipients WHERE round_id = $1 ORDER BY contact_id LIMIT 1",
                                  round_row["id"])
    import asyncpg

    connection = await asyncpg.connect(database)
    await connection.execute("INSERT INTO suppressions (contact_id, email, reason, first_seen, last_seen, permanent) "
                             "VALUES ($1, $2, 'spam', now(), now(), true)", contact["contact_id"], contact["email"])
    await connection.close()
    checks = await preflight(flow)
    assert checks["suppressed"]["status"] == "fail" and contact["email"] in checks["suppressed"]["reason"]


async def test_previous_round_bounce_over_five_percent_blocks_the_next(bot_factory, flow, mailjet):
    await bot_factory(SEND_MODE="live")
    await flow.plan(rounds=2)
    await flow.approve(1)
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    sent = await flow.wait_campaign_id(1)
    checks = await preflight(flow, 2)
    assert checks["bounce"]["status"] == "warn" and "no numbers yet" in checks["bounce"]["reason"]
    mailjet.set_outcome(sent["mailjet_campaign_id"], delivered=5, hard=1)  # 1/6 = 16.7% bounced
    checks = await preflight(flow, 2)
    assert checks["bounce"]["status"] == "fail" and "16.7%" in checks["bounce"]["reason"]
    assert (await flow.round(2))["state"] == "blocked"
    # An approver may accept the bounce rate: the check becomes a warning naming them.
    message = (await flow.slack.wait_for(
        lambda: [m for m in flow.preflight_messages(2) if "override_bounce" in str(m.blocks)], timeout=10))[-1]
    assert "needs the approver role" in await flow.click("override_bounce", message, user=OPERATOR)
    assert "Override recorded; pre-flight passed" in await flow.click("override_bounce", message, user=APPROVER)
    run = await flow.fetchrow("SELECT * FROM preflight_runs ORDER BY id DESC LIMIT 1")
    bounce = next(c for c in run["checks"] if c["key"] == "bounce")
    assert bounce["status"] == "warn" and "overridden by <@U0APPROVER>" in bounce["reason"]
    assert (await flow.round(2))["state"] == "ready"
    mailjet.set_outcome(sent["mailjet_campaign_id"], delivered=6, hard=0)
    checks = await preflight(flow, 2)
    assert checks["bounce"]["status"] == "pass"
    assert (await flow.round(2))["state"] == "ready"


async def test_draft_changed_after_approval_lapses_it_and_nothing_is_sent(bot_factory, flow, slack, mailjet):
    await bot_factory(SEND_MODE="live")
    await flow.plan(rounds=1)
    await flow.approve(1)
    round_row = await flow.round(1)
    mailjet.edit_draft_content(round_row["mailjet_draft_id"], html="<p>Changed after approval [[UNSUB_LINK_EN]]</p>")
    flow.move_to(flow.at[0] + timedelta(seconds=1))
    await flow.wait_state(1, "ready")
    assert await flow.draft_sends(1) == []
    await slack.wait_for(lambda: [a for a in flow.alerts(1) if "approval lapsed" in a.text], timeout=10)
    lapsed = await flow.fetchrow("SELECT * FROM approvals")
    assert lapsed["lapsed_at"] is not None and "draft" in lapsed["lapse_reason"]
