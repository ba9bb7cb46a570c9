"""Running it week after week, through `campaign-bot run`: public holidays in planning and
pre-flight, `/campaign resolve` of a failed round, suppressions looked up and lifted (and
soft bounces coming back after revalidation), archiving a finished campaign.

No test depends on today's date: holiday dates are in next year's December, relative to the
clock, and the shared test clock is moved to reach them."""

from __future__ import annotations

import base64
import os
import ssl
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.support.flows import Flow
from tests.support.harness import ADMIN, APPROVER, MAILJET_KEY, MAILJET_SECRET, OPERATOR, STRANGER
from tests.e2e.test_home_modal_e2e import block, form_values, open_home, open_modal, submit, view_text
from tests.support.world import TEST_OFFSETS, lifecycle, seed_account, stage_messages

pytestmark = pytest.mark.slow
LIVE = {"SEND_MODE": "live"}
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
async def flow(slack, mailjet, database, clock_file) -> Flow:
    return Flow(slack, mailjet, database, clock_file)


def next_december() -> int:
    """A December at least eleven months ahead, whatever today is."""
    return datetime.now(UTC).year + 1


async def planned_announcement(slack, name: str):
    return (await slack.wait_for(lambda: [m for m in slack.messages if f"*{name}* planned" in (m.text or "")], timeout=30))[0]


async def campaign_count(flow: Flow) -> int:
    return (await flow.fetchrow("SELECT count(*) AS n FROM campaigns"))["n"]


# --- holidays -----------------------------------------------------------------------------------

async def test_planning_skips_public_holidays_names_them_and_none_turns_it_off(bot_factory, flow, slack, mailjet):
    await bot_factory()  # DEFAULT_HOLIDAYS is GB-ENG unless set
    account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    year = next_december()
    ok = f"list={account.master_list} draft={account.template_draft}"
    every_day = "days=mon,tue,wed,thu,fri,sat,sun"

    reply = await flow.command(f'new "Festive" {ok} rounds=3 start={year}-12-24 {every_day} offsets={TEST_OFFSETS}')
    assert "public holidays: GB-ENG" in reply, reply
    assert f"Christmas Day" in reply and "Boxing Day" in reply and "Skipped public holidays (GB-ENG)" in reply
    assert f"25 Dec {year} (Christmas Day)" in reply and f"26 Dec {year} (Boxing Day)" in reply
    rounds = await flow.fetch("SELECT r.scheduled_at FROM rounds r JOIN campaigns c ON c.id = r.campaign_id "
                              "WHERE c.name = 'Festive' ORDER BY r.number")
    days = [r["scheduled_at"].astimezone(LONDON).date() for r in rounds]
    assert date(year, 12, 24) in days and date(year, 12, 25) not in days and date(year, 12, 26) not in days
    campaign = await flow.fetchrow("SELECT holidays, holiday_skips FROM campaigns WHERE name = 'Festive'")
    assert campaign["holidays"] == "GB-ENG" and {"date": f"{year}-12-25", "name": "Christmas Day"} in _json(campaign["holiday_skips"])
    announcement = await planned_announcement(slack, "Festive")
    assert "Skipped public holidays (GB-ENG)" in announcement.text and "Christmas Day" in announcement.text
    assert "12 recipients in 3 rounds" in announcement.text

    reply = await flow.command(f'new "Festive plain" {ok} rounds=2 start={year}-12-24 {every_day} holidays=none '
                               f"offsets={TEST_OFFSETS}")
    assert "public holidays: none" in reply and "Skipped" not in reply, reply
    rounds = await flow.fetch("SELECT r.scheduled_at FROM rounds r JOIN campaigns c ON c.id = r.campaign_id "
                              "WHERE c.name = 'Festive plain' ORDER BY r.number")
    assert [r["scheduled_at"].astimezone(LONDON).date() for r in rounds] == [date(year, 12, 24), date(year, 12, 25)]

    before = await campaign_count(flow)
    for text, expected in [(f"new X {ok} holidays=england", "`england` is not a holiday calendar"),
                           (f"new X {ok} holidays=GB-XYZ", "GB has no subdivision XYZ (it has GB-ENG, GB-NIR, GB-SCT, GB-WLS)")]:
        reply = await flow.command(text)
        assert expected in reply and "Usage" in reply and "[holidays=GB-ENG|none]" in reply, reply
    assert await campaign_count(flow) == before


async def test_default_holidays_comes_from_the_setting(bot_factory, flow, mailjet):
    await bot_factory(DEFAULT_HOLIDAYS="us")
    account = seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0)
    year = next_december()
    reply = await flow.command(f'new "Fourth" list={account.master_list} draft={account.template_draft} rounds=1 '
                               f"start={year + 1}-07-04 days=mon,tue,wed,thu,fri,sat,sun offsets={TEST_OFFSETS}")
    assert "public holidays: US" in reply and f"4 Jul {year + 1} (Independence Day)" in reply, reply


async def test_a_bad_default_holidays_stops_start_up_with_one_clear_line(bot_factory, flow, tmp_path):
    with pytest.raises(AssertionError) as caught:
        await bot_factory(DEFAULT_HOLIDAYS="Narnia")
    assert "configuration error: DEFAULT_HOLIDAYS: Narnia is not a holiday calendar" in str(caught.value)
    assert "GB-ENG" in str(caught.value)


async def test_an_explicit_instant_on_a_holiday_is_kept_and_warned_about(bot_factory, flow, slack, mailjet):
    await bot_factory()
    account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    year = next_december()
    christmas = datetime(year, 12, 25, 9, 15, tzinfo=LONDON)
    later = datetime(year, 12, 29, 9, 15, tzinfo=LONDON)
    at = ",".join(i.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for i in (christmas, later))
    reply = await flow.command(f'new "{flow.name}" list={account.master_list} draft={account.template_draft} '
                               f"at={at} offsets={TEST_OFFSETS} window=30m")
    assert "Round 1 is on a public holiday (Christmas Day, GB-ENG): it is kept as given" in reply, reply
    await planned_announcement(slack, flow.name)
    assert (await flow.round(1))["scheduled_at"] == christmas

    # reschedule onto a holiday: done, with a warning in the answer
    boxing_day = datetime(year, 12, 26, 10, 0, tzinfo=LONDON)
    reply = await flow.command(f'reschedule "{flow.name}" 2 {boxing_day.isoformat()}', user=APPROVER)
    assert "now sends" in reply and f"is a public holiday (Boxing Day, GB-ENG)" in reply, reply
    assert (await flow.round(2))["scheduled_at"] == boxing_day
    reply = await flow.command(f'reschedule "{flow.name}" 2 {later.isoformat()}', user=APPROVER)
    assert "public holiday" not in reply

    # its pre-flight warns and still passes
    flow.move_to(christmas - timedelta(minutes=29))
    await flow.wait_state(1, "ready", timeout=30)
    result = (await slack.wait_for(lambda: flow.preflight_messages(1), timeout=10))[-1]
    assert "Pre-flight passed" in result.text
    shown = str(result.blocks)
    assert ":warning: *Public holiday*" in shown and "is Christmas Day (GB-ENG)" in shown
    run = await flow.fetchrow("SELECT checks FROM preflight_runs p JOIN rounds r ON r.id = p.round_id WHERE r.number = 1")
    assert {c["key"]: c["status"] for c in _json(run["checks"])}["holiday"] == "warn"


async def test_the_modal_has_the_holiday_calendar(bot_factory, slack, mailjet, database):
    account = seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0)
    await bot_factory(DEFAULT_HOLIDAYS="GB-SCT")
    view = await open_modal(slack)
    assert block(view, "holidays")["element"]["initial_value"] == "GB-SCT"
    values = form_values("Modal Festive", account.master_list, account.template_draft, rounds="1",
                         start=f"{next_december()}-12-25", days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    values["holidays"] = {"value": {"type": "plain_text_input", "value": "Atlantis"}}
    payload = await submit(slack, view, values)
    assert payload["response_action"] == "errors" and list(payload["errors"]) == ["holidays"], payload
    assert "Atlantis is not a holiday calendar" in payload["errors"]["holidays"]
    values["holidays"] = {"value": {"type": "plain_text_input", "value": "gb-eng"}}
    assert await submit(slack, view, values) is None  # planned; the modal closes
    answer = (await slack.wait_for(lambda: slack.ephemerals, timeout=10))[-1]
    assert "public holidays: GB-ENG" in answer["text"] and "Christmas Day" in answer["text"], answer


# --- resolve ----------------------------------------------------------------------------------

async def send_in_mailjet_by_hand(mailjet, draft_id: int) -> None:
    """Someone presses Send in Mailjet's own UI: the same API call the app would make."""
    token = base64.b64encode(f"{MAILJET_KEY}:{MAILJET_SECRET}".encode()).decode()
    tls = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])  # the stand-in's test CA
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:
        async with session.post(f"{mailjet.api_url}v3/REST/campaigndraft/{draft_id}/send", json={}, ssl=tls) as response:
            assert response.status == 201, await response.text()
    mailjet.finish_sends()  # by the time someone checks, Mailjet has finished sending it


async def fail_round(flow: Flow, mailjet, number: int):
    await flow.approve(number)
    mailjet.fail_next("POST", r"/campaigndraft/\d+/send$", status=400, body={"ErrorMessage": "Sender not validated"})
    flow.move_to(flow.at[number - 1] + timedelta(seconds=1))
    return await flow.wait_state(number, "failed")


async def test_resolve_a_failed_round_as_sent_then_wrapup_follows_and_another_as_not_sent(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)
    await flow.plan(rounds=2, contacts=20)
    failed = await fail_round(flow, mailjet, 1)
    name = flow.name
    audit_before = (await flow.fetchrow("SELECT count(*) AS n FROM audit_log"))["n"]

    for user in (STRANGER, OPERATOR, APPROVER):
        assert "needs the admin role" in await flow.command(f'resolve "{name}" 1 sent', user=user)
    for text, expected in [
        (f'resolve "{name}" 2 sent', "round 2 is planned; only a failed round"),
        (f'resolve "{name}" 3 sent', "has no round 3"),
        (f'resolve "Nope" 1 sent', "there is no campaign named `Nope`"),
        (f'resolve "{name}" 1 perhaps', "`perhaps` is neither sent nor not-sent"),
        (f'resolve "{name}" 1', "say whether the round went out"),
        (f'resolve "{name}" 1 sent', f"Mailjet says draft {failed['mailjet_draft_id']} is still a draft: it was not sent"),
    ]:
        reply = await flow.command(text, user=ADMIN)
        assert expected in reply, (text, reply)
    assert (await flow.round(1))["state"] == "failed"
    assert (await flow.fetchrow("SELECT count(*) AS n FROM audit_log"))["n"] == audit_before  # nothing changed

    # Someone fixes the sender and sends the draft from Mailjet's UI; the admin records it.
    await send_in_mailjet_by_hand(mailjet, failed["mailjet_draft_id"])
    mailjet_campaign = mailjet.draft(failed["mailjet_draft_id"])["CampaignID"]
    reply = await flow.command(f'resolve "{name}" 1 sent sender fixed, sent by hand', user=ADMIN)
    assert f"recorded as sent (Mailjet campaign {mailjet_campaign})" in reply, reply
    row = await flow.round(1)
    assert (row["state"], row["mailjet_campaign_id"], row["resolution"], row["resolved_by"]) == ("sent", mailjet_campaign, "sent", ADMIN)
    assert row["dry_run"] is False and row["sent_at"] is not None
    stages = {s["stage"]: s["state"] for s in await flow.fetch("SELECT stage, state FROM stage_runs WHERE round_id = $1", row["id"])}
    assert stages["wrapup"] == stages["cleanup"] == stages["metrics"] == "pending"
    note = (await slack.wait_for(lambda: [m for m in stage_messages(slack, "launch", 1) if "Resolved as sent" in m.text], timeout=10))[0]
    assert note.thread_ts and lifecycle(note)["state"] == "sent" and "sender fixed, sent by hand" in note.text
    await slack.wait_for(lambda: [m for m in slack.channel_messages() if lifecycle(m) and lifecycle(m)["stage"] == "prelaunch"
                                  and lifecycle(m)["round"] == 1 and lifecycle(m)["state"] == "sent"], timeout=10)
    assert "already resolved as sent" in await flow.command(f'resolve "{name}" 1 not-sent', user=ADMIN)
    assert len(flow.sends(failed["mailjet_draft_id"])) == 1  # the bot never sent it

    # Round 2 fails too and was not sent: closed as such.
    second = await fail_round(flow, mailjet, 2)
    reply = await flow.command(f'resolve "{name}" 2 not-sent the sender is gone for good', user=ADMIN)
    assert "closed as not sent" in reply, reply
    row2 = await flow.round(2)
    assert (row2["state"], row2["resolution"], row2["resolution_reason"]) == ("failed", "not-sent", "the sender is gone for good")
    await slack.wait_for(lambda: [m for m in stage_messages(slack, "launch", 2) if "Resolved as not sent" in m.text], timeout=10)
    assert "already resolved as not-sent" in await flow.command(f'resolve "{name}" 2 sent', user=ADMIN)
    assert flow.sends(second["mailjet_draft_id"]) == []
    actions = [a["action"] for a in await flow.fetch("SELECT action FROM audit_log WHERE action LIKE 'resolved%' ORDER BY id")]
    assert actions == ["resolved: sent", "resolved: not sent"]

    # The wrap-up of round 1 follows, with Mailjet's numbers.
    mailjet.set_outcome(mailjet_campaign, delivered=9, hard=1)
    flow.move_to(flow.at[0] + timedelta(hours=2, seconds=5))
    await flow.wait_state(1, "reported", timeout=30)
    report = (await slack.wait_for(lambda: stage_messages(slack, "wrapup", 1), timeout=15))[0]
    assert report.thread_ts
    status = await flow.command(f'status "{name}"')
    assert "Status of" in status


# --- suppressions -------------------------------------------------------------------------------

async def seed_suppressions(flow: Flow, now: datetime) -> None:
    """A hard bounce (permanent) on contact 5001 and three soft bounces on 5002 whose
    revalidation date is a day away, as cleanups would have left them."""
    connection = await _connect(flow)
    try:
        await connection.execute(
            "INSERT INTO suppressions (contact_id, email, reason, bounce_count, first_seen, last_seen, permanent, active, "
            "revalidate_after) VALUES "
            "(5001, 'user5001@example.com', 'hard_bounce', 1, $1, $1, true, true, NULL), "
            "(5002, 'user5002@example.com', 'soft_bounce', 3, $2, $1, false, true, $3)",
            now - timedelta(days=20), now - timedelta(days=179), now + timedelta(days=1))
    finally:
        await connection.close()


async def test_suppression_lookup_unsuppress_and_revalidation_in_planning(bot_factory, slack, mailjet, database, clock_file):
    await bot_factory()
    first = Flow(slack, mailjet, database, clock_file, name="Before")
    account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    await seed_suppressions(first, datetime.now(UTC))
    await first.plan(rounds=1, account=account)
    ledger = {r["contact_id"] for r in await first.fetch("SELECT contact_id FROM recipients")}
    assert 5001 not in ledger and 5002 not in ledger and len(ledger) == 10

    shown = await first.command("suppression User5001@Example.com", user=STRANGER)
    for part in ("*user5001@example.com* (Mailjet contact 5001)", "*suppressed* · permanent", "hard bounce", "Never lifted"):
        assert part in shown, (part, shown)
    shown = await first.command("suppression user5002@example.com", user=STRANGER)
    assert "soft bounces counted: 3" in shown and "Revalidation date:" in shown and "*suppressed*" in shown, shown
    assert "has no suppression record" in await first.command("suppression user5003@example.com", user=STRANGER)
    assert "`user5001` is not an email address" in await first.command("suppression user5001", user=STRANGER)

    audit_before = (await first.fetchrow("SELECT count(*) AS n FROM audit_log"))["n"]
    assert "needs the approver role" in await first.command("unsuppress user5001@example.com", user=OPERATOR)
    assert "has no suppression record; nothing changed" in await first.command("unsuppress nobody@example.com", user=APPROVER)
    assert "`nobody@` is not an email address" in await first.command("unsuppress nobody@ typo", user=APPROVER)
    assert (await first.fetchrow("SELECT count(*) AS n FROM audit_log"))["n"] == audit_before
    reply = await first.command("unsuppress user5001@example.com mailbox fixed, confirmed by phone", user=APPROVER)
    assert "Lifted the suppression of user5001@example.com (hard bounce, permanent)" in reply, reply
    assert "rounds already planned are not changed" in reply
    assert "is not suppressed" in await first.command("unsuppress user5001@example.com", user=APPROVER)
    shown = await first.command("suppression user5001@example.com")
    assert "(lifted)" in shown and f"Lifted by <@{APPROVER}>" in shown and "mailbox fixed, confirmed by phone" in shown
    lifted = await first.fetchrow("SELECT * FROM audit_log WHERE action = 'suppression lifted'")
    assert lifted["actor"] == APPROVER and "mailbox fixed" in _json(lifted["detail"])["summary"]
    assert {r["contact_id"] for r in await first.fetch("SELECT contact_id FROM recipients")} == ledger  # planned: unchanged

    # Two days later the soft bounces' revalidation date has passed: the next plan takes both back.
    first.move_to(datetime.now(UTC) + timedelta(days=2))
    shown = await first.command("suppression user5002@example.com")
    assert "*revalidated*" in shown, shown
    second = Flow(slack, mailjet, database, clock_file, name="After")
    await second.plan(rounds=1, account=account, first_in=timedelta(days=3))
    campaign = await second.fetchrow("SELECT * FROM campaigns WHERE name = 'After'")
    ledger = {r["contact_id"] for r in await second.fetch("SELECT contact_id FROM recipients WHERE campaign_id = $1", campaign["id"])}
    assert {5001, 5002} <= ledger and len(ledger) == 12
    assert campaign["revalidated_contacts"] == 1
    announcement = await planned_announcement(slack, "After")
    assert "1 contact came back" in announcement.text, announcement.text


# --- archive -----------------------------------------------------------------------------------

async def test_archive_hides_a_finished_campaign_and_status_report_log_still_answer(bot_factory, flow, slack):
    await bot_factory()
    await flow.plan(rounds=1)
    announcement = await planned_announcement(slack, flow.name)
    assert "12 recipients in 1 round " in announcement.text  # not "1 rounds"
    name = flow.name
    assert "needs the admin role" in await flow.command(f'archive "{name}"', user=APPROVER)
    reply = await flow.command(f'archive "{name}"', user=ADMIN)
    assert "round 1 is planned" in reply and "only a campaign with no unsent round can be archived; nothing changed" in reply
    assert "there is no campaign named `Nobody`" in await flow.command('archive "Nobody"', user=ADMIN)

    flow.move_to(flow.at[0] + timedelta(minutes=31))  # never approved: missed after its window
    await flow.wait_state(1, "missed", timeout=30)
    status = await flow.command(f'status "{name}"')
    assert status  # the ephemeral text; the blocks say more
    blocks_text = await _status_text(slack, name)
    assert "Launch: missed" in blocks_text and "Launch: done" not in blocks_text
    assert "planning planned" not in blocks_text and "· planned" in blocks_text

    assert name in await flow.command("list")
    reply = await flow.command(f'archive "{name}"', user=ADMIN)
    assert f"Archived *{name}*" in reply, reply
    listing = await flow.command("list")
    assert name not in listing and "1 archived campaign not shown" in listing, listing
    home = await open_home(slack, OPERATOR)
    assert name not in view_text(home)
    assert "archived" in await _status_text(slack, name)
    assert "archived" in await flow.command(f'log "{name}"')
    report = await flow.command(f'report "{name}"')
    assert "Report of" in report
    assert "was archived by" in await flow.command(f'archive "{name}"', user=ADMIN)
    await slack.wait_for(lambda: [m for m in slack.channel_messages() if f"archived *{name}*" in (m.text or "")], timeout=10)


# --- helpers -----------------------------------------------------------------------------------

def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else value


async def _connect(flow: Flow):
    from storage.database import connect

    return await connect(flow.database)


async def _status_text(slack, name: str) -> str:
    envelope = await slack.send_slash_command(f'status "{name}"', user_id=OPERATOR)
    await slack.wait_ack(envelope)
    found = await slack.wait_for(lambda: [r for r in slack.responses if r["envelope_id"] == envelope and r.get("blocks")])
    return str(found[0]["blocks"])
