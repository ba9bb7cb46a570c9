"""Days to run the clock-dependent tests on: every day of the two weeks of 2027 that hold a DST
change in Europe/London (the weeks of the last Sundays of March and October; the spring one
also holds Good Friday and ends the day before Easter Monday), and an oracle for the days the
planner must pick from any `now`, which does not share the code under test: public holidays
read from the `holidays` package directly, wall times turned into instants by reading UTC
offsets only where they certainly exist (`expected_instant`, tests/unit/test_schedule.py)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from bot.schedule import DAY_NAMES
from tests.unit.test_schedule import expected_instant

LONDON = ZoneInfo("Europe/London")
WEEKS = {"spring": date(2027, 3, 22), "autumn": date(2027, 10, 25)}  # their Mondays; the change is on the Sunday
SPRING_WEEK = [WEEKS["spring"] + timedelta(days=n) for n in range(7)]
DAYS = [monday + timedelta(days=n) for monday in WEEKS.values() for n in range(7)]
GB_ENG = holidays.country_holidays("GB", subdiv="ENG")


def day_id(day: date | datetime) -> str:
    return day.strftime("%a-%Y-%m-%d-%H:%M" if isinstance(day, datetime) else "%a-%Y-%m-%d")


def planned_oracle(now: datetime, *, start: date | None, days: tuple[str, ...], at: time, rounds: int,
                   calendar: holidays.HolidayBase | None) -> tuple[list[datetime], list[date]]:
    """The first `rounds` allowed days from `start` (default: today in London) whose send instant
    is after `now`, skipping holidays; and the holidays passed over on the way."""
    day = start or now.astimezone(LONDON).date()
    picked: list[datetime] = []
    skipped: list[date] = []
    while len(picked) < rounds:
        if DAY_NAMES[day.weekday()] in days:
            instant, _ = expected_instant(day, at, LONDON)
            if instant > now:
                if calendar is not None and day in calendar:
                    skipped.append(day)
                else:
                    picked.append(instant)
        day += timedelta(days=1)
    return picked, skipped
