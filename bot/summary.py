"""The weekly summary (PRODUCT.md section 8.1, `WEEKLY_SUMMARY`): when it is due, and what it says.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.rates import MISSING, Counts, Rates, compare, verdict
from bot.schedule import DAY_NAMES, format_instant, local_instant

# A summary that starts more than this after its instant is marked late.
LATE_AFTER = timedelta(seconds=60)
RATES_SHOWN = ("delivery", "bounce", "open", "click")
MAX_ROUNDS_SHOWN = 20  # per list, to stay well inside Slack's 50 blocks and 3,000 characters
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


# --- the post ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SentLine:
    campaign: str
    number: int
    counts: Counts | None
    label: str                   # "Winter Letter r2", the chart's label
    text: str


def _rates_text(counts: Counts) -> str:
    rates = Rates.of(counts)
    return ", ".join(f"{rates[name].label.lower()} {rates[name].shown}" for name in RATES_SHOWN)


def _change_text(counts: Counts, previous: Counts | None, previous_number: int | None) -> str:
    if previous_number is None:
        return "first round sent"
    if previous is None:
        return f"round {previous_number} has no numbers stored, no comparison"
    comparison = compare(counts, previous)
    return f"vs round {previous_number}: " + ", ".join(
        f"{comparison[name].label.lower()} {comparison[name].shown}" for name in RATES_SHOWN)


def sent_line(row: Mapping[str, Any], zone: ZoneInfo) -> SentLine:
    """One sent round: rates and verdict from its newest stored snapshot, and the change from
    the campaign's previous sent round; or why there are no numbers (never estimated)."""
    head = (f"*{row['name']}* round {row['number']} of {row['round_count']}, sent "
            f"{format_instant(row['sent_at'], zone)}")
    counts = Counts.from_statcounters(row["counters"]) if row["counters"] is not None else None
    if row["dry_run"]:
        return SentLine(row["name"], row["number"], None, "", f"{head}: a dry run, nothing was sent, so no numbers")
    if counts is None:
        return SentLine(row["name"], row["number"], None, "",
                        f"{head}: no numbers stored yet (the wrap-up reads them from Mailjet); none are estimated")
    previous = Counts.from_statcounters(row["previous_counters"]) if row["previous_counters"] is not None else None
    result = verdict(counts)
    text = (f"{head}: {_rates_text(counts)} · verdict *{result.value}* · "
            f"{_change_text(counts, previous, row['previous_number'])} "
            f"(numbers read {format_instant(row['collected_at'], zone)})")
    return SentLine(row["name"], row["number"], counts, f"{row['name']} r{row['number']}", text)


def upcoming_line(row: Mapping[str, Any], zone: ZoneInfo) -> str:
    state = row["state"] + (", held" if row["held"] else "")
    if row["state"] == "approved" and row["approved_by"]:
        state += f" by <@{row['approved_by']}>"
    elif row["approval_policy"] == "auto":
        state += ", automatic approval"
    recipients = f"{row['recipient_count']:,}" if row["recipient_count"] is not None else MISSING
    return (f"*{row['name']}* round {row['number']} of {row['round_count']}: {format_instant(row['scheduled_at'], zone)} · "
            f"{recipients} recipients · {state}")


@dataclass(frozen=True)
class WeeklySummary:
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any]
    chart_rounds: list[tuple[int, Counts]]     # for bot/chart.py: index → counts
    chart_labels: dict[int, str]


def build_summary(*, week: date, instant: datetime, posted_at: datetime, zone: ZoneInfo,
                  sent: Sequence[Mapping[str, Any]], sent_total: int,
                  upcoming: Sequence[Mapping[str, Any]], upcoming_total: int) -> WeeklySummary:
    """The top-level post of one week."""
    before, _, after = covered(instant, zone)
    late = posted_at - instant > LATE_AFTER
    title = f":calendar: *Weekly summary* for the week of {week:%a} {week.day} {week:%b %Y}"
    lines = [title]
    if late:
        lines.append(f":hourglass: Posted late: it was due {format_instant(instant, zone)} and campaign-bot was not "
                     "running then.")
    sent_lines = [sent_line(row, zone) for row in sent[:MAX_ROUNDS_SHOWN]]
    sent_head = (f"*Sent in the seven days before* ({format_instant(before, zone)} to {format_instant(instant, zone)}): "
                 f"{sent_total}")
    sent_body = [f"• {line.text}" for line in sent_lines] or ["• nothing was sent"]
    if sent_total > len(sent_lines):
        sent_body.append(f"• …and {sent_total - len(sent_lines)} more")
    up_head = (f"*Scheduled in the seven days after* (to {format_instant(after, zone)}): {upcoming_total}")
    up_body = [f"• {upcoming_line(row, zone)}" for row in upcoming[:MAX_ROUNDS_SHOWN]] or ["• nothing is scheduled"]
    if upcoming_total > min(len(upcoming), MAX_ROUNDS_SHOWN):
        up_body.append(f"• …and {upcoming_total - min(len(upcoming), MAX_ROUNDS_SHOWN)} more")
    with_numbers = [line for line in sent_lines if line.counts is not None]
    chart_note = ("The chart of their rates follows in the thread." if with_numbers
                  else "No chart: no sent round of the week has stored numbers.")
    source = ("Rates as defined in PRODUCT.md section 6, from each round's newest stored Mailjet snapshot "
              "(with the time it was read); verdicts on the exact values. " + chart_note)
    blocks: list[dict[str, Any]] = [_section("\n".join(lines))]
    blocks += _sections(sent_head, sent_body)
    blocks += _sections(up_head, up_body)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": source}]})
    text = "\n".join(lines + [sent_head] + sent_body + [up_head] + up_body + [source]).replace("*", "")
    metadata = {"event_type": "campaign_weekly_summary", "event_payload": {
        "week_start": week.isoformat(), "scheduled_for": instant.isoformat(), "late": late,
        "sent_rounds": sent_total, "upcoming_rounds": upcoming_total,
    }}
    chart_rounds = [(index, line.counts) for index, line in enumerate(with_numbers, start=1) if line.counts is not None]
    labels = {index: line.label for index, line in enumerate(with_numbers, start=1)}
    return WeeklySummary(text[:3900], blocks[:50], metadata, chart_rounds, labels)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text if len(text) <= 3000 else text[:2999] + "…"}}


def _sections(head: str, lines: list[str]) -> list[dict[str, Any]]:
    """A heading and its lines in as many sections as Slack's 3,000 characters need."""
    out, current = [], head
    for line in lines:
        if len(current) + 1 + len(line) > 3000:
            out.append(_section(current))
            current = line
        else:
            current += "\n" + line
    out.append(_section(current))
    return out
