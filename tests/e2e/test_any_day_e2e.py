"""Planning through `campaign-bot run` on each day of a week that holds a DST change: the bot
(and the Mailjet stand-in, which shares its clock) starts with its clock at 10:00 London on
that day, and `/campaign new` with send days picks the rounds the oracle picks (Good Friday
and Easter Monday skipped and named), with every stage at its offset across the change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from bot.clock import write_test_clock_offset
from bot.schedule import DEFAULT_OFFSETS
from tests.support.days import GB_ENG, LONDON, SPRING_WEEK, day_id, planned_oracle
from tests.support.flows import Flow
from tests.support.harness import BotProcess
from tests.support.world import seed_account

pytestmark = pytest.mark.slow

BotOn = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
def bot_on(bot_factory: BotProcess.Factory, clock_file: Path) -> BotOn:
    """Start `campaign-bot run` with its clock (shared with the Mailjet stand-in) at `now`."""

    async def start(now: datetime, **env: str) -> BotProcess:
        write_test_clock_offset(clock_file, (now - datetime.now(UTC)).total_seconds())
        return await bot_factory(**env)

    return start


@pytest.mark.parametrize("day", SPRING_WEEK, ids=day_id)
async def test_planning_on_each_day_of_a_dst_week(day: date, bot_on: BotOn, slack, mailjet, database, clock_file):
    now = datetime.combine(day, time(10, 0), tzinfo=LONDON)
    await bot_on(now)
    flow = Flow(slack, mailjet, database, clock_file, name="Easter Letter")
    account = seed_account(mailjet, contacts=8, unsubscribed=0, excluded=0)
    reply = await flow.command(f'new "Easter Letter" list={account.master_list} draft={account.template_draft} '
                               "rounds=4 days=mon,wed,fri time=09:15")
    assert "Planning *Easter Letter*" in reply, reply
    await slack.wait_for(lambda: [m for m in slack.messages if "*Easter Letter* planned" in (m.text or "")], timeout=30)

    # The bot's clock has run on for a few seconds since 10:00: nothing is due between then and now.
    expected, skipped = planned_oracle(now, start=None, days=("mon", "wed", "fri"), at=time(9, 15), rounds=4,
                                       calendar=GB_ENG)
    rounds = await flow.fetch("SELECT r.* FROM rounds r JOIN campaigns c ON c.id = r.campaign_id "
                              "WHERE c.name = 'Easter Letter' ORDER BY r.number")
    assert [r["scheduled_at"] for r in rounds] == expected
    assert all(r["scheduled_at"].astimezone(LONDON).strftime("%H:%M") == "09:15" for r in rounds)
    for holiday in skipped:  # Good Friday and Easter Monday, when they fall between today and the last round
        assert f"{holiday:%a} {holiday.day} {holiday:%b %Y} ({GB_ENG[holiday]})" in reply, reply
    assert ("Skipped public holidays" in reply) == bool(skipped)
    runs = await flow.fetch("SELECT s.stage, s.nominal_at, r.scheduled_at FROM stage_runs s JOIN rounds r ON r.id = s.round_id")
    # Each stage of each round at its offset from the send instant, in elapsed time, across the change.
    assert len(runs) == len(DEFAULT_OFFSETS) * 4
    assert {(r["stage"], r["nominal_at"] - r["scheduled_at"]) for r in runs} == set(DEFAULT_OFFSETS.items())
