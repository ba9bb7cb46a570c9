"""The weekly summary's post: the rounds sent in the seven days before its instant, with their
rates, verdicts and the change from the campaign's previous round (from each round's newest
stored snapshot, never estimated), and the rounds scheduled in the seven days after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.messages.common import section, text_sections
from bot.rates import MISSING, Counts, Rates, compare, verdict
from bot.schedule import format_instant
from bot.states import RoundState
from bot.summary import LATE_AFTER, covered

RATES_SHOWN = ("delivery", "bounce", "open", "click")
MAX_ROUNDS_SHOWN = 20  # per list, to stay well inside Slack's 50 blocks and 3,000 characters


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
    if row["state"] == RoundState.APPROVED and row["approved_by"]:
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
    source = ("Rates as in every report (delivery and bounce of processed, opens and clicks of delivered), "
              "from each round's newest stored Mailjet snapshot "
              "(with the time it was read); verdicts on the exact values. " + chart_note)
    blocks: list[dict[str, Any]] = [section("\n".join(lines))]
    blocks += text_sections(sent_head, sent_body)
    blocks += text_sections(up_head, up_body)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": source}]})
    text = "\n".join(lines + [sent_head] + sent_body + [up_head] + up_body + [source]).replace("*", "")
    metadata = {"event_type": "campaign_weekly_summary", "event_payload": {
        "week_start": week.isoformat(), "scheduled_for": instant.isoformat(), "late": late,
        "sent_rounds": sent_total, "upcoming_rounds": upcoming_total,
    }}
    chart_rounds = [(index, line.counts) for index, line in enumerate(with_numbers, start=1) if line.counts is not None]
    labels = {index: line.label for index, line in enumerate(with_numbers, start=1)}
    return WeeklySummary(text[:3900], blocks[:50], metadata, chart_rounds, labels)
