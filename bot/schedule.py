"""Time rules of a campaign: durations, stage offsets, and each round's send instant.

Round instants are wall-clock times in the campaign's zone (09:15 London is 09:15 in winter
and in summer), converted to aware UTC instants once, at planning. A wall time that does not
exist on a given day (the spring-forward gap) moves forward by the gap, as clocks do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

STAGES = ("prelaunch", "preflight", "warning", "launch", "wrapup", "cleanup")
DEFAULT_OFFSETS = {
    "prelaunch": timedelta(hours=-21),
    "preflight": timedelta(hours=-3, minutes=-15),
    "warning": timedelta(minutes=-15),
    "launch": timedelta(0),
    "wrapup": timedelta(hours=2),
    "cleanup": timedelta(hours=24),
}
DEFAULT_WINDOW = timedelta(hours=2)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DURATION = re.compile(r"^([+-])?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class ScheduleError(ValueError):
    """Input that cannot make a schedule; the message is shown to the user as it is."""


def parse_duration(text: str) -> timedelta:
    """`-3h15m`, `+40s`, `2h`, `1d` → timedelta. Units d, h, m, s in that order."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()[1:]):
        raise ScheduleError(f"`{text}` is not a duration (use d, h, m, s: -3h15m, +40s, 2h)")
    sign, days, hours, minutes, seconds = match.groups()
    try:
        value = timedelta(
            days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0), seconds=int(seconds or 0)
        )
    except OverflowError:
        raise ScheduleError(f"`{text}` is too long a duration") from None
    return -value if sign == "-" else value


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + ("".join(parts) or "0s")


def parse_offsets(text: str) -> dict[str, timedelta]:
    """`prelaunch:-21h,warning:-10m` → the defaults with those stages replaced."""
    offsets = dict(DEFAULT_OFFSETS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        stage, sep, value = item.partition(":")
        if not sep:
            raise ScheduleError(f"`{item}` is not stage:duration (for example warning:-15m)")
        if stage not in STAGES:
            raise ScheduleError(f"`{stage}` is not a stage; stages are {', '.join(STAGES)}")
        if stage == "launch":
            raise ScheduleError("the launch stage is the round's instant itself; it has no offset")
        offsets[stage] = parse_duration(value)
    validate_offsets(offsets)
    return offsets


def validate_offsets(offsets: dict[str, timedelta]) -> None:
    for stage in ("prelaunch", "preflight", "warning"):
        if offsets[stage] >= timedelta(0):
            raise ScheduleError(f"{stage} must come before the send (a negative offset such as -15m)")
    for stage in ("wrapup", "cleanup"):
        if offsets[stage] <= timedelta(0):
            raise ScheduleError(f"{stage} must come after the send (a positive offset such as +2h)")
    if not offsets["prelaunch"] < offsets["preflight"] < offsets["warning"]:
        raise ScheduleError("stages must run in order: prelaunch, then preflight, then warning")
    if not offsets["wrapup"] < offsets["cleanup"]:
        raise ScheduleError("cleanup must come after wrapup")


_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day_name(part: str) -> str | None:
    """`tue`, `tues`, `tuesday` → `tue`; anything that is not a prefix of a day's name → None."""
    word = part.strip().lower()
    for short, full in zip(DAY_NAMES, _FULL_DAY_NAMES, strict=True):
        if len(word) >= 3 and full.startswith(word):
            return short
    return None


def parse_days(text: str) -> tuple[str, ...]:
    parts = [part for part in text.split(",") if part.strip()]
    names = [_day_name(part) for part in parts]
    days = tuple(dict.fromkeys(name for name in names if name))
    bad = [part for part, name in zip(parts, names, strict=True) if name is None]
    if not days or bad:
        raise ScheduleError(f"days must be a list like tue,thu (got `{text}`)")
    return tuple(sorted(days, key=DAY_NAMES.index))


def parse_time_of_day(text: str) -> time:
    match = re.match(r"^(\d{1,2}):(\d{2})$", text.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ScheduleError(f"time must be HH:MM in 24-hour form (got `{text}`)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except Exception:
        raise ScheduleError(f"`{text}` is not a time zone (use an IANA name such as Europe/London)") from None


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """ISO 8601; without an offset the wall time is read in `zone`."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ScheduleError(f"`{text}` is not an ISO 8601 date and time (for example 2026-12-01T09:15)") from None
    if value.tzinfo is None:
        if "T" not in cleaned and " " not in cleaned:
            raise ScheduleError(f"`{text}` has no time of day (for example 2026-12-01T09:15)")
        return local_instant(value.date(), value.time(), zone)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ScheduleError(f"`{text}` is out of range") from None


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `zone`.

    In the autumn overlap the first occurrence is taken (fold=0). In the spring gap the wall
    time does not exist; it moves forward by the gap (01:30 London on the spring-forward day
    is 02:30 BST), never back before it.
    """
    naive = datetime.combine(day, at).replace(tzinfo=None)
    try:
        utc = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if utc.astimezone(zone).replace(tzinfo=None) != naive:
            # Nonexistent wall time. The two folds read it with the offsets before and after
            # the gap; the later instant is the one moved forward by the gap. (With zoneinfo
            # that is fold=0: fold=1 lands before the gap, which would send early.)
            utc = max(utc, naive.replace(tzinfo=zone, fold=1).astimezone(UTC))
    except OverflowError:
        raise ScheduleError(f"{day.isoformat()} {at:%H:%M} is out of range") from None
    return utc


@dataclass(frozen=True)
class PlannedInstant:
    at: datetime          # aware, UTC
    source: str           # 'planner' or 'explicit'


@dataclass(frozen=True)
class SkippedDay:
    day: date             # a send day the planner did not use
    name: str             # the public holiday on it


def planner_instants(
    *, rounds: int, start: date, days: tuple[str, ...], at: time, zone: ZoneInfo, now: datetime,
    holiday_of: Callable[[date], str | None] | None = None, skipped: list[SkippedDay] | None = None,
) -> list[PlannedInstant]:
    """The next `rounds` allowed days from `start` (inclusive) at `at` in `zone`, all after `now`.

    With `holiday_of` (a day → its public holiday's name, or None), a holiday is never picked;
    each one passed over on an allowed day, up to the last round, is appended to `skipped`.
    """
    allowed = {DAY_NAMES.index(d) for d in days}
    instants: list[PlannedInstant] = []
    day = start
    # A year of days is far more than any campaign needs; the bound only stops a bad loop.
    for _ in range(366 * 2):
        if day.weekday() in allowed:
            instant = local_instant(day, at, zone)
            if instant > now:
                holiday = holiday_of(day) if holiday_of else None
                if holiday:
                    if skipped is not None:
                        skipped.append(SkippedDay(day, holiday))
                else:
                    instants.append(PlannedInstant(instant, "planner"))
                    if len(instants) == rounds:
                        return instants
        if day == date.max:
            break
        day += timedelta(days=1)
    raise ScheduleError("could not find enough allowed days in the next two years")


def on_allowed_day_and_time(instant: datetime, *, days: tuple[str, ...], at: time, zone: ZoneInfo) -> bool:
    local = instant.astimezone(zone)
    return DAY_NAMES[local.weekday()] in days and local_instant(local.date(), at, zone) == instant


def round_sizes(eligible: int, rounds: int) -> list[int]:
    """`ceil(n/rounds)` per round, the remainder in the last (boundaries never shift afterwards)."""
    if rounds < 1:
        raise ScheduleError("a campaign has at least one round")
    per_round = -(-eligible // rounds)
    sizes = []
    remaining = eligible
    for _ in range(rounds):
        take = min(per_round, remaining)
        sizes.append(take)
        remaining -= take
    return sizes


def format_instant(instant: datetime, zone: ZoneInfo | str) -> str:
    """`Tue 1 Dec 2026 09:15 GMT (09:15 UTC)`: local first, UTC beside it."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    local = instant.astimezone(zone)
    utc = instant.astimezone(UTC)
    # Seconds only when there are any (compressed test timelines); real rounds are on the minute.
    clock = "%H:%M:%S" if local.second else "%H:%M"
    return f"{local:%a} {local.day} {local.strftime('%b %Y ' + clock)} {local.tzname()} ({utc.strftime(clock)} UTC)"


def early_look_delay(campaign: Mapping[str, Any]) -> timedelta:
    """The early look at the numbers: 30 min after the send, or halfway to a sooner wrap-up."""
    return min(timedelta(minutes=30), timedelta(seconds=campaign["offsets"]["wrapup"]) / 2)
