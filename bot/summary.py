"""The weekly summary (`WEEKLY_SUMMARY`): when it is due; what it says is bot/messages/summary.py.

Pure: times come in as arguments, rows as mappings. The summary is due every week at a
wall-clock time in DEFAULT_TIMEZONE (`mon 09:00`): 09:00 London is 09:00 in winter and in
summer, so across a DST change the instants are 167 or 169 hours apart, never 168 by
arithmetic. Each summary covers the rounds sent in the seven local days before its
scheduled instant and the rounds scheduled in the seven local days after it, so weeks
neither overlap nor leave gaps, whenever the post itself goes out.

Late policy: a summary whose instant passed while no process ran is posted, marked late,
until the end of that local day (the cut-off); after that it is skipped and recorded, and
the next week's comes as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.schedule import DAY_NAMES, local_instant

# A summary that starts more than this after its instant is marked late.
LATE_AFTER = timedelta(seconds=60)
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SETTING = re.compile(r"^\s*([a-z]+)\s+(\d{1,2}):(\d{2})\s*$")
SETTING_HELP = "must be a day and a 24-hour time in DEFAULT_TIMEZONE, such as `mon 09:00`, or `off`"


@dataclass(frozen=True)
class WeeklySlot:
    """`mon 09:00`: weekday (0 = Monday) and wall-clock time."""

    weekday: int
    at: time

    def __str__(self) -> str:
        return f"{DAY_NAMES[self.weekday]} {self.at:%H:%M}"


def parse_setting(text: str) -> WeeklySlot | None:
    """`mon 09:00` (or `Monday 9:00`) → a slot; `off` → None. ValueError says what is wrong."""
    cleaned = text.strip().lower()
    if cleaned == "off":
        return None
    match = _SETTING.match(cleaned)
    if not match:
        raise ValueError(f"{SETTING_HELP} (got `{text}`)")
    word, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3))
    days = [i for i, full in enumerate(_FULL_DAYS) if len(word) >= 3 and full.startswith(word)]
    if not days:
        raise ValueError(f"{SETTING_HELP}; `{word}` is not a day (got `{text}`)")
    if hours > 23 or minutes > 59:
        raise ValueError(f"{SETTING_HELP}; `{hours}:{minutes:02d}` is not a time of day (got `{text}`)")
    return WeeklySlot(days[0], time(hours, minutes))


def week_start(day: date) -> date:
    """The Monday of `day`'s week: the summary's key, one per week."""
    return day - timedelta(days=day.weekday())


def instant_of_week(slot: WeeklySlot, zone: ZoneInfo, monday: date) -> datetime:
    """The UTC instant of `slot` in the week starting `monday` (DST-safe: wall time in `zone`)."""
    return local_instant(monday + timedelta(days=slot.weekday), slot.at, zone)


def latest_due(slot: WeeklySlot, zone: ZoneInfo, now: datetime) -> tuple[date, datetime]:
    """(week, instant) of the latest scheduled summary at or before `now`."""
    monday = week_start(now.astimezone(zone).date())
    instant = instant_of_week(slot, zone, monday)
    if instant > now:
        monday -= timedelta(days=7)
        instant = instant_of_week(slot, zone, monday)
    return monday, instant


def next_due(slot: WeeklySlot, zone: ZoneInfo, now: datetime) -> tuple[date, datetime]:
    """(week, instant) of the first scheduled summary after `now`."""
    monday, _ = latest_due(slot, zone, now)
    monday += timedelta(days=7)
    return monday, instant_of_week(slot, zone, monday)


def cutoff(instant: datetime, zone: ZoneInfo) -> datetime:
    """The end of the summary's local day: after it a missed summary is skipped, not posted."""
    local_day = instant.astimezone(zone).date()
    return local_instant(local_day + timedelta(days=1), time(0, 0), zone)


def covered(instant: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, datetime]:
    """(seven local days before, the instant, seven local days after): the sent and upcoming windows."""
    local = instant.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    before = local_instant(local.date() - timedelta(days=7), wall, zone)
    after = local_instant(local.date() + timedelta(days=7), wall, zone)
    return before, instant, after
