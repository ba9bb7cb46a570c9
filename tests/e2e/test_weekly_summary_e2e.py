"""The weekly summary through `campaign-bot run`: posted once at WEEKLY_SUMMARY's local time
in a week with a DST change, by two replicas started at once, across restarts and a crash at
that minute; late the same day, skipped after the cut-off. The instants are computed from the
clock (the first DST week a month or more ahead), never from today's weekday."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from standins.slack import Message
from tests.support.flows import Flow
from tests.support.harness import OPERATOR
from tests.support.world import TEST_OFFSETS, iso, seed_account

pytestmark = pytest.mark.slow

LONDON = ZoneInfo("Europe/London")
ENV = {"WEEKLY_SUMMARY": "mon 09:00", "DEFAULT_TIMEZONE": "Europe/London", "SEND_MODE": "live"}


def monday_nine_after_a_dst_change(after: datetime) -> datetime:
    """The first Monday 09:00 London whose week began on the other side of a DST change."""
    day = after.astimezone(LONDON).date()
    while True:
        day += timedelta(days=1)
        if day.weekday() != 0:
            continue
        now = datetime.combine(day, time(9, 0), tzinfo=LONDON)
        before = datetime.combine(day - timedelta(days=7), time(9, 0), tzinfo=LONDON)
        if now.utcoffset() != before.utcoffset():
            return now.astimezone(UTC)


def summaries(flow: Flow) -> list[Message]:
    return [m for m in flow.slack.messages if (m.metadata or {}).get("event_type") == "campaign_weekly_summary"]


def summary_of(flow: Flow, week: str) -> list[Message]:
    return [m for m in summaries(flow) if m.metadata["event_payload"]["week_start"] == week]


async def settle(seconds: float = 1.5) -> None:
    """Give the bots time to do what they must not do (post twice, post early)."""
    await asyncio.sleep(seconds)


async def test_posted_once_at_local_time_across_dst_replicas_restarts_and_a_crash(bot_factory, slack, mailjet, database,
                                                                                  clock_file):
    flow = Flow(slack, mailjet, database, clock_file, name="Weekly Letter")
    summary_at = monday_nine_after_a_dst_change(datetime.now(UTC) + timedelta(days=30))
    week = summary_at.astimezone(LONDON).date().isoformat()
    assert summary_at.astimezone(LONDON).strftime("%a %H:%M") == "Mon 09:00"

    # A campaign with two rounds sent in the week before (with numbers) and one in the week after.
    flow.move_to(summary_at - timedelta(days=4))
    setup = await bot_factory(**ENV)
    flow.account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    flow.at = [summary_at - timedelta(days=3), summary_at - timedelta(days=2), summary_at + timedelta(days=2)]
    reply = await flow.command(f'new "{flow.name}" list={flow.account.master_list} draft={flow.account.template_draft} '
                               f'at={",".join(iso(i) for i in flow.at)} offsets={TEST_OFFSETS} window=30m', user=OPERATOR)
    assert "Planning" in reply, reply
    await slack.wait_for(lambda: [m for m in slack.messages if f"*{flow.name}* planned" in (m.text or "")], timeout=30)
    for number, (delivered, hard) in ((1, (4, 0)), (2, (3, 1))):  # round 2 bounces: critical
        await flow.approve(number)
        flow.move_to(flow.at[number - 1] + timedelta(seconds=1))
        await flow.wait_state(number, "sent")
        sent = await flow.wait_campaign_id(number)  # Mailjet sends in the background: the id comes later
        mailjet.set_outcome(sent["mailjet_campaign_id"], delivered=delivered, hard=hard, opened=2, clicked=1)
        flow.move_to(flow.at[number - 1] + timedelta(hours=2, seconds=5))
        await flow.wait_state(number, "reported")
    await setup.terminate()
    assert summaries(flow) == []

    # Two replicas start together ten seconds before 09:00 London: nothing yet.
    flow.move_to(summary_at - timedelta(seconds=10))
    first, second = await asyncio.gather(bot_factory(**ENV), bot_factory(**ENV))
    await settle()
    assert summaries(flow) == []
    # 09:00 London (UTC+1 or UTC+0 after the change, not 168 hours after last week's): one post.
    flow.move_to(summary_at + timedelta(seconds=1))
    [post] = await slack.wait_for(lambda: summary_of(flow, week), timeout=20)
    await settle()
    assert len(summary_of(flow, week)) == 1 and post.thread_ts is None
    payload = post.metadata["event_payload"]
    assert payload == {"week_start": week, "scheduled_for": summary_at.isoformat(), "late": False,
                       "sent_rounds": 2, "upcoming_rounds": 1}
    one, two = (next(line for line in post.text.splitlines() if f"Weekly Letter round {n} of 3" in line) for n in (1, 2))
    assert "delivery 100.0%, bounce 0.0%, open 50.0%, click 25.0%" in one and "verdict healthy" in one
    assert "first round sent" in one
    assert "delivery 75.0%, bounce 25.0%, open 66.7%, click 33.3%" in two and "verdict critical" in two
    assert "vs round 1: delivery -25.0 pp, bounce +25.0 pp" in two
    assert "Scheduled in the seven days after" in post.text and "Weekly Letter round 3 of 3" in post.text
    assert summary_at.astimezone(LONDON).strftime("%H:%M %Z") in post.text  # "09:00 BST" or "09:00 GMT"
    charts = await slack.wait_for(lambda: [u for u in slack.uploads if u["thread_ts"] == post.ts], timeout=20)
    assert len(charts) == 1 and charts[0]["bytes"][:8] == b"\x89PNG\r\n\x1a\n"
    rows = await flow.fetch("SELECT * FROM weekly_summaries")
    assert [(str(r["week_start"]), r["state"], r["late"]) for r in rows] == [(week, "posted", False)]

    # A restart at that minute: still one post, one chart, one row.
    await asyncio.gather(first.kill(), second.kill())
    flow.move_to(summary_at + timedelta(seconds=20))
    restarted = await bot_factory(**ENV)
    await settle()
    assert len(summary_of(flow, week)) == 1 and len([u for u in slack.uploads if u["thread_ts"] == post.ts]) == 1
    assert len(await flow.fetch("SELECT * FROM weekly_summaries")) == 1
    await restarted.kill()

    # Next week: a process dies inside the summary's transaction; the next one posts it, once.
    next_at = local_nine(summary_at, days=7)
    next_week = next_at.astimezone(LONDON).date().isoformat()
    flow.move_to(next_at - timedelta(seconds=3))
    doomed = await bot_factory(**ENV, CAMPAIGN_BOT_TEST_FAILPOINT="weekly_summary_claimed")
    assert doomed.process is not None
    await asyncio.wait_for(doomed.process.wait(), timeout=20)
    assert summary_of(flow, next_week) == [] and len(await flow.fetch("SELECT * FROM weekly_summaries")) == 1
    flow.move_to(next_at + timedelta(seconds=5))
    await bot_factory(**ENV)
    await slack.wait_for(lambda: summary_of(flow, next_week), timeout=20)
    await settle()
    assert len(summary_of(flow, next_week)) == 1
    assert summary_of(flow, next_week)[0].metadata["event_payload"]["late"] is False
    assert "nothing was sent" in summary_of(flow, next_week)[0].text  # round 3 was missed, not sent


async def test_late_the_same_day_skipped_after_the_cutoff_and_off_means_off(bot_factory, slack, mailjet, database,
                                                                            clock_file):
    flow = Flow(slack, mailjet, database, clock_file)
    summary_at = local_nine(datetime.now(UTC) + timedelta(days=10), days=0, monday=True)
    week = summary_at.astimezone(LONDON).date().isoformat()

    # Off: nothing is posted, not even at 09:00.
    flow.move_to(summary_at + timedelta(seconds=1))
    silent = await bot_factory(WEEKLY_SUMMARY="off", DEFAULT_TIMEZONE="Europe/London")
    await settle()
    assert summaries(flow) == [] and await flow.fetch("SELECT * FROM weekly_summaries") == []
    await silent.kill()

    # Down at 09:00, back at 14:00 the same day: posted, marked late.
    flow.move_to(summary_at + timedelta(hours=5))
    bot = await bot_factory(**ENV)
    [late] = await slack.wait_for(lambda: summary_of(flow, week), timeout=20)
    assert late.metadata["event_payload"]["late"] is True and "Posted late" in late.text
    await bot.kill()

    # Down all of next Monday, back on Tuesday: that week's is skipped (recorded, audited), not posted.
    next_at = local_nine(summary_at, days=7)
    next_week = next_at.astimezone(LONDON).date().isoformat()
    flow.move_to(next_at + timedelta(days=1))
    await bot_factory(**ENV)
    await wait_rows(flow, 2)
    await settle()
    assert summary_of(flow, next_week) == []
    rows = await flow.fetch("SELECT * FROM weekly_summaries ORDER BY week_start")
    assert [(str(r["week_start"]), r["state"]) for r in rows] == [(week, "posted"), (next_week, "skipped")]
    assert await flow.fetch("SELECT * FROM audit_log WHERE action = 'weekly summary skipped'")


def local_nine(instant: datetime, *, days: int, monday: bool = False) -> datetime:
    """09:00 London `days` local days after `instant`'s date (the next Monday's with monday=True)."""
    day = instant.astimezone(LONDON).date() + timedelta(days=days)
    while monday and day.weekday() != 0:
        day += timedelta(days=1)
    return datetime.combine(day, time(9, 0), tzinfo=LONDON).astimezone(UTC)


async def wait_rows(flow: Flow, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 20
    while len(await flow.fetch("SELECT * FROM weekly_summaries")) < count:
        assert asyncio.get_running_loop().time() < deadline, "no weekly_summaries row"
        await asyncio.sleep(0.1)
