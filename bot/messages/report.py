"""The wrap-up report of a round, as a model, Slack blocks and a text fallback.

Pure: everything it shows comes from its arguments (Mailjet counts with the time they were
read, earlier rounds' counts, the bounce list). Nothing is estimated: without counts the
report says Mailjet could not be read and shows no numbers; a rate without a denominator
is "—"; a verdict without processed messages is "no data".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.messages.common import context, header, lifecycle_metadata, section, slack_escape, text_sections
from bot.rates import (
    MISSING,
    BounceDomains,
    Counts,
    RateComparison,
    Rates,
    Verdict,
    bounce_domains,
    compare,
    one_decimal,
    verdict,
    verdict_reasons,
)
from bot.schedule import format_instant
from bot.slack_text import FIELD_TEXT, FIELDS, MESSAGE_BLOCKS, fit
from storage.outbox import SlackMessage

UNAVAILABLE = "Mailjet could not be read; no numbers are shown (nothing is estimated)"
SOURCE = ("Source: Mailjet statcounters (campaign, lifetime). Processed = delivered + hard + soft bounces; "
          "delivery and bounce rates are of processed, blocked of recipients, opens, clicks, unsubscribes and spam of delivered.")

VERDICT_EMOJI = {
    Verdict.HEALTHY: ":large_green_circle:",
    Verdict.WARNING: ":large_yellow_circle:",
    Verdict.CRITICAL: ":red_circle:",
    Verdict.NO_DATA: ":white_circle:",
}


@dataclass(frozen=True)
class RateLine:
    name: str
    label: str
    shown: str          # "75.1%" or "—"
    description: str    # "731 of 973 processed"

    @property
    def text(self) -> str:
        return f"{self.label}: {self.shown} ({self.description})"


@dataclass(frozen=True)
class ComparisonLine:
    round_number: int               # the earlier round
    comparison: RateComparison | None  # None when that round has no counts
    text: str


@dataclass(frozen=True)
class WrapupReport:
    campaign: str
    round_number: int
    zone: str
    collected_at: datetime | None
    counts: Counts | None
    verdict: Verdict
    verdict_text: str                       # "critical: bounce 24.9% > 5% and delivery 75.1% < 90%"
    counts_lines: tuple[str, ...]
    rate_lines: tuple[RateLine, ...]
    comparison_lines: tuple[ComparisonLine, ...]
    bounce_domains: BounceDomains | None
    bounce_domain_lines: tuple[str, ...]
    dominant_domain_warning: str | None
    data_age: str
    still_moving_note: str | None
    unavailable_note: str | None
    notes: tuple[str, ...] = field(default=())  # counts Mailjet returned that contradict each other

    @property
    def available(self) -> bool:
        return self.counts is not None

    @property
    def title(self) -> str:
        return f"{self.campaign}: round {self.round_number} wrap-up"

    @property
    def text(self) -> str:
        """Plain-text fallback (Slack `text`), with &, <, > escaped as Slack requires."""
        lines = [f"*{self.title}*"]
        if self.unavailable_note:
            lines.append(self.unavailable_note)
        lines.append(f"Verdict: {self.verdict_text}")
        if self.still_moving_note:
            lines.append(self.still_moving_note)
        if self.counts_lines:
            lines += ["", "Counts:"] + [f"• {line}" for line in self.counts_lines]
        if self.rate_lines:
            lines += ["", "Rates:"] + [f"• {line.text}" for line in self.rate_lines]
        if self.comparison_lines:
            lines += ["", "Compared with earlier rounds (percentage points):"]
            lines += [f"• {line.text}" for line in self.comparison_lines]
        if self.bounce_domain_lines or self.dominant_domain_warning:
            lines += ["", "Bounce domains:"] + [f"• {line}" for line in self.bounce_domain_lines]
            if self.dominant_domain_warning:
                lines.append(self.dominant_domain_warning)
        if self.notes:
            lines += ["", "Inconsistent counts from Mailjet (shown as read):"] + [f"• {n}" for n in self.notes]
        lines += ["", self.data_age]
        return slack_escape("\n".join(lines))

    def to_blocks(self) -> list[dict]:
        """Block Kit blocks within Slack's limits; what does not fit is said to be in the text."""
        head: list[dict] = [header(self.title)]
        if self.unavailable_note:
            head.append(section(f":warning: *{slack_escape(self.unavailable_note)}*"))
        verdict_detail = self._verdict_detail()
        head.append(section(
            f"{VERDICT_EMOJI[self.verdict]} *Verdict: {slack_escape(self.verdict.value)}*"
            + (f"  ({slack_escape(verdict_detail)})" if verdict_detail else "")
        ))
        if self.still_moving_note:
            head.append(section(f":hourglass_flowing_sand: {slack_escape(self.still_moving_note)}"))
        if self.counts_lines:
            head.append(_fields_section("*Counts*", [_count_field(line) for line in self.counts_lines]))
        if self.rate_lines:
            head.append(_fields_section("*Rates*", [
                f"*{slack_escape(line.label)}*\n{slack_escape(line.shown)} ({slack_escape(line.description)})"
                for line in self.rate_lines
            ]))

        tail: list[dict] = []
        if self.bounce_domain_lines or self.dominant_domain_warning:
            lines = []
            if self.dominant_domain_warning:  # first, so it is never cut off
                lines.append(f":warning: *{slack_escape(self.dominant_domain_warning)}*")
            lines += [f"• {slack_escape(line)}" for line in self.bounce_domain_lines]
            tail += _capped(text_sections("*Bounce domains*", lines), 5, "bounce domain lines")
        if self.notes:
            tail += _capped(text_sections("*Inconsistent counts from Mailjet* (shown as read, not corrected)",
                                           [f"• {slack_escape(n)}" for n in self.notes]), 2, "notes")
        tail.append(context(slack_escape(f"{self.data_age}. {SOURCE}")))

        middle: list[dict] = []
        if self.comparison_lines:
            middle = _capped(text_sections("*Compared with earlier rounds* (percentage points)",
                                            [f"• {slack_escape(line.text)}" for line in self.comparison_lines]),
                             MESSAGE_BLOCKS - len(head) - len(tail), "comparison lines")
        return head + middle + tail

    def _verdict_detail(self) -> str:
        _, _, detail = self.verdict_text.partition(": ")
        return detail


def build_wrapup_report(
    campaign: str,
    round_number: int,
    counts: Counts | None,
    collected_at: datetime | None,
    earlier: Sequence[tuple[int, Counts | None]],
    bounces: Sequence[tuple[str, str]] | None,
    zone: str,
    *,
    now: datetime,
    top_domains: int = 5,
) -> WrapupReport:
    """The wrap-up report of `round_number`.

    counts: the round's Mailjet statcounters, or None when Mailjet could not be read.
    collected_at: when the counts were read (or reading was tried), timezone-aware.
    earlier: (round number, counts or None) of earlier rounds; each one gets a comparison line.
    bounces: (email, "hard" | "soft") of the round, or None when no bounce detail was read.
    zone: IANA zone the times are shown in (UTC beside it). now: the report's "now", for the age.
    """
    for name, instant in (("collected_at", collected_at), ("now", now)):
        if instant is not None and instant.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    zone_info = ZoneInfo(zone)
    data_age = _data_age(counts is not None, collected_at, now, zone_info)

    if counts is None:
        return WrapupReport(
            campaign=campaign, round_number=round_number, zone=zone, collected_at=collected_at, counts=None,
            verdict=Verdict.NO_DATA, verdict_text=f"{Verdict.NO_DATA.value}: Mailjet could not be read",
            counts_lines=(), rate_lines=(), comparison_lines=(), bounce_domains=None, bounce_domain_lines=(),
            dominant_domain_warning=None, data_age=data_age, still_moving_note=None, unavailable_note=UNAVAILABLE,
        )

    result = verdict(counts)
    verdict_text = f"{result.value}: {verdict_reasons(counts)}"
    rates = Rates.of(counts)

    comparison_lines = tuple(
        _comparison_line(counts, number, then)
        for number, then in sorted(earlier, key=lambda item: item[0])
    )

    domains = None
    domain_lines: tuple[str, ...]
    warning = None
    if bounces is None:
        domain_lines = (f"no bounce details were read (Mailjet counts {counts.bounced:,} bounces)",)
    else:
        domains = bounce_domains(bounces, top=top_domains, hard_total=counts.hard)
        if not domains.top:
            domain_lines = (("no bounce details received yet "
                             f"(Mailjet counts {counts.bounced:,} bounces)") if counts.bounced else "no bounces",)
        else:
            domain_lines = tuple(
                f"{d.domain}: {d.total:,} ({d.hard:,} hard, {d.soft:,} soft)" for d in domains.top
            )
            if domains.domains > len(domains.top):
                domain_lines += (f"{domains.domains - len(domains.top):,} more domains",)
            listed = domains.hard_listed + domains.soft_listed
            if listed < counts.bounced:
                domain_lines += (f"details for {listed:,} of {counts.bounced:,} bounces",)
        if domains.dominant is not None:
            share = domains.dominant_share
            warning = (f"{domains.dominant.domain} holds {domains.dominant.hard:,} of {domains.hard_total:,} "
                       f"hard bounces ({one_decimal(share * 100)}%), more than half: "  # type: ignore[operator]
                       "check that domain before the next round")

    still_moving = None
    if counts.still_moving:
        still_moving = (f"Numbers still moving: {counts.queued:,} queued and {counts.deferred:,} deferred "
                        "when read; the rates and the verdict can still change.")

    return WrapupReport(
        campaign=campaign, round_number=round_number, zone=zone, collected_at=collected_at, counts=counts,
        verdict=result, verdict_text=verdict_text,
        counts_lines=_counts_lines(counts),
        rate_lines=tuple(RateLine(r.name, r.label, r.shown, r.description) for r in rates),
        comparison_lines=comparison_lines, bounce_domains=domains, bounce_domain_lines=domain_lines,
        dominant_domain_warning=warning, data_age=data_age, still_moving_note=still_moving,
        unavailable_note=None, notes=tuple(counts.inconsistencies()),
    )


# --- parts ----------------------------------------------------------------------------

def _counts_lines(c: Counts) -> tuple[str, ...]:
    return (
        f"Recipients: {c.recipients:,}",
        f"Processed: {c.processed:,} (delivered + hard + soft bounces)",
        f"Delivered: {c.delivered:,}",
        f"Bounced: {c.bounced:,} ({c.hard:,} hard, {c.soft:,} soft)",
        f"Blocked: {c.blocked:,} (never attempted, not a bounce)",
        f"Queued / deferred: {c.queued:,} / {c.deferred:,}",
        f"Unique opens: {c.opened:,}",
        f"Unique clicks: {c.clicked:,}",
        f"Unsubscribed: {c.unsub:,}",
        f"Spam complaints: {c.spam:,}",
    )


def _comparison_line(current: Counts, number: int, then: Counts | None) -> ComparisonLine:
    if then is None:
        return ComparisonLine(number, None, f"vs round {number}: no numbers for round {number}, nothing to compare")
    comparison = compare(current, then)
    if all(delta.exact_pp is None for delta in comparison):
        return ComparisonLine(number, comparison,
                              f"vs round {number}: no rates on both sides (nothing processed), nothing to compare")
    parts = [f"{d.label} {d.shown} ({d.earlier.shown if d.earlier else MISSING} → "
             f"{d.current.shown if d.current else MISSING})" for d in comparison]
    return ComparisonLine(number, comparison, f"vs round {number}: " + ", ".join(parts))


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return "less than a minute ago"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days} d {hours % 24} h ago"
    if hours:
        return f"{hours} h {minutes % 60} min ago"
    return f"{minutes} min ago"


def _data_age(read: bool, collected_at: datetime | None, now: datetime, zone: ZoneInfo) -> str:
    if collected_at is None:
        return "Mailjet was not read" if not read else "Numbers read from Mailjet at an unknown time"
    when = format_instant(collected_at.replace(second=0, microsecond=0), zone)  # to the minute
    delta = now - collected_at
    if delta < timedelta(seconds=-60):
        age = "(later than this report's clock)"
    else:
        age = _age(max(delta, timedelta(0)))
    if read:
        return f"Numbers read from Mailjet {age}, at {when}"
    return f"Mailjet reading tried {age}, at {when}"


def _count_field(line: str) -> str:
    label, _, value = line.partition(": ")
    return f"*{slack_escape(label)}*\n{slack_escape(value)}"


def _fields_section(title: str, fields: list[str]) -> dict:
    return {**section(title), "fields": [{"type": "mrkdwn", "text": fit(f, FIELD_TEXT)} for f in fields[:FIELDS]]}


def _capped(sections: list[dict], limit: int, what: str) -> list[dict]:
    """At most `limit` sections; when cut, the last one says the rest is in the message text."""
    if len(sections) <= limit:
        return sections
    if limit <= 0:
        return []
    return sections[:limit - 1] + [section(f"_More {what} than fit in one Slack message: "
                                            "the rest is in the message text._")]


def report_message(campaign: Mapping[str, Any], round_row: Mapping[str, Any], report: WrapupReport) -> SlackMessage:
    return SlackMessage(text=report.text, blocks=report.to_blocks(),
                        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "wrapup", round_row["state"]))
