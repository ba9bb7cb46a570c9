"""Planning and the weekly summary's schedule pass on any day: each is run with `now` on every
day of the two weeks of 2027 that hold a DST change in Europe/London (tests/support/days.py),
at hours either side of the send time and of midnight. `now` is passed in, never read from the
machine; the expectations come from oracles that do not share the code under test.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from bot.campaigns import round_instants
from bot.grammar import parse
from bot.schedule import DAY_NAMES, SkippedDay
from bot.summary import WeeklySlot, latest_due, next_due
from tests.support.days import DAYS, GB_ENG, LONDON, WEEKS, day_id, planned_oracle
from tests.unit.test_schedule import expected_instant

HOURS = [time(0, 30), time(9, 14), time(9, 16), time(23, 45)]  # around midnight and the 09:15 default
MOMENTS = [datetime.combine(day, hour, tzinfo=LONDON) for day in DAYS for hour in HOURS]


def test_the_weeks_hold_a_dst_change_and_every_weekday():
    for monday in WEEKS.values():
        sunday = monday + timedelta(days=6)
        assert sunday.weekday() == 6 and (sunday + timedelta(days=7)).month != sunday.month  # the month's last Sunday
        before = datetime.combine(monday, time(12), tzinfo=LONDON).utcoffset()
        after = datetime.combine(sunday, time(12), tzinfo=LONDON).utcoffset()
        assert before != after
    assert sorted({d.weekday() for d in DAYS}) == list(range(7)) and len(DAYS) == 14
    assert date(2027, 3, 26) in GB_ENG and date(2027, 3, 29) in GB_ENG  # Good Friday, Easter Monday


# (the options after `new X list=1 draft=2`, and what they mean)
COMMANDS = {
    "defaults": ("", dict(days=("tue", "thu"), at=time(9, 15), rounds=3, calendar=GB_ENG)),
    "every day at 01:30": ("rounds=9 days=mon,tue,wed,thu,fri,sat,sun time=01:30",
                           dict(days=tuple(DAY_NAMES), at=time(1, 30), rounds=9, calendar=GB_ENG)),
    "weekends, no holidays": ("rounds=3 days=sat,sun time=09:15 holidays=none",
                              dict(days=("sat", "sun"), at=time(9, 15), rounds=3, calendar=None)),
    "mon wed fri from today": ("rounds=4 start=TODAY days=mon,wed,fri time=09:15",
                               dict(days=("mon", "wed", "fri"), at=time(9, 15), rounds=4, calendar=GB_ENG)),
}


@pytest.mark.parametrize("now", MOMENTS, ids=day_id)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_planning_from_any_moment(command: str, now: datetime):
    options, meaning = COMMANDS[command]
    today = now.astimezone(LONDON).date()
    new = parse(f"new X list=1 draft=2 {options.replace('TODAY', today.isoformat())}").new
    skipped: list[SkippedDay] = []
    planned = round_instants(new, now, skipped)
    expected, expected_skips = planned_oracle(now, start=today if "start=" in options else None, **meaning)
    assert [p.at for p in planned] == expected
    assert [s.day for s in skipped] == expected_skips and all(s.name for s in skipped)
    for instant in expected:
        local = instant.astimezone(LONDON)
        assert local.date() >= today and instant > now
        # The wall time is kept, except in the spring gap (01:30 does not exist): moved on by the gap.
        assert local.time() == meaning["at"] or (meaning["at"] == time(1, 30) and local.time() == time(2, 30))


SLOTS = [WeeklySlot(0, time(9, 0)), WeeklySlot(6, time(1, 30))]  # the default, and in the spring gap / autumn overlap


@pytest.mark.parametrize("now", MOMENTS, ids=day_id)
@pytest.mark.parametrize("slot", SLOTS, ids=str)
def test_the_weekly_summary_from_any_moment(slot: WeeklySlot, now: datetime):
    # Oracle: the slot's instants of the weeks around `now`, from the wall time alone.
    local_today = now.astimezone(LONDON).date()
    mondays = [local_today - timedelta(days=local_today.weekday() + 7 * k) for k in (-1, 0, 1)]
    instants = sorted(expected_instant(m + timedelta(days=slot.weekday), slot.at, LONDON)[0] for m in mondays)
    latest = max(i for i in instants if i <= now)
    upcoming = min(i for i in instants if i > now)
    week, instant = latest_due(slot, LONDON, now)
    assert instant == latest and week.weekday() == 0 and week == instant.astimezone(LONDON).date() - timedelta(days=slot.weekday)
    week, instant = next_due(slot, LONDON, now)
    assert instant == upcoming and week.weekday() == 0
