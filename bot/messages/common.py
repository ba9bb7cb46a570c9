"""The one set of Block Kit helpers every message builder uses: blocks fitted to Slack's
limits (bot/slack_text.py), escaping, how a time, a span and a count read, and the
lifecycle metadata. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.schedule import format_instant
from bot.slack_text import CONTEXT_TEXT, FIELD_TEXT, HEADER_TEXT, REASON_SHOWN_SHORT, SECTION_TEXT, fit, reason
from bot.states import FINAL, RoundState

Row = Mapping[str, Any]
Block = dict[str, Any]

STATE_EMOJI = {
    RoundState.PLANNED: ":calendar:",
    RoundState.READY: ":white_check_mark:",
    RoundState.BLOCKED: ":no_entry:",
    RoundState.APPROVED: ":large_green_circle:",
    RoundState.SENDING: ":hourglass_flowing_sand:",
    RoundState.SENT: ":email:",
    RoundState.REPORTED: ":bar_chart:",
    RoundState.CLEANED: ":broom:",
    RoundState.CANCELLED: ":x:",
    RoundState.MISSED: ":warning:",
    RoundState.FAILED: ":rotating_light:",
}
STAGE_LABEL = {
    "prelaunch": "Pre-launch",
    "preflight": "Pre-flight",
    "warning": "Launch warning",
    "launch": "Launch",
    "campaign_id": "Mailjet campaign id",
    "metrics": "Early look at the numbers",
    "wrapup": "Wrap-up",
    "cleanup": "List cleanup",
}


def slack_escape(text: str) -> str:
    """Slack reads <…> as links and mentions; literal text (usage lines) must be escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT) or " "}}
    if block_id:
        block["block_id"] = block_id
    return block


def text_sections(title: str, lines: Sequence[str]) -> list[Block]:
    """A title and its lines in as many sections as Slack's 3,000 characters need, split at lines."""
    out: list[Block] = []
    current = title
    for line in lines:
        line = fit(line, SECTION_TEXT - len(title) - 1)
        if len(current) + 1 + len(line) > SECTION_TEXT:
            out.append(section(current))
            current = line
        else:
            current = f"{current}\n{line}"
    out.append(section(current))
    return out


def fields(pairs: Sequence[tuple[str, str]]) -> Block:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": fit(f"*{k}*\n{v}", FIELD_TEXT)} for k, v in pairs[:10]]}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(text, CONTEXT_TEXT) or " "}]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": fit(text, HEADER_TEXT) or " ", "emoji": True}}


def divider() -> Block:
    return {"type": "divider"}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def button(action_id: str, text: str, value: str, style: str | None = None, confirm: dict[str, Any] | None = None) -> Block:
    out: Block = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": value}
    if style:
        out["style"] = style
    if confirm:
        out["confirm"] = confirm
    return out


def lifecycle_metadata(campaign: str, round_number: int, stage: str, state: str) -> dict[str, Any]:
    """Every lifecycle message says what it is about: campaign, round, stage and the round's state."""
    return {
        "event_type": "campaign_lifecycle",
        "event_payload": {"campaign": campaign, "round": int(round_number), "stage": stage, "state": state},
    }


def when(instant: datetime | None, zone: str | ZoneInfo) -> str:
    """Local time with UTC beside it, or a dash."""
    return format_instant(instant, zone) if instant else "—"


def humanize(delta: timedelta) -> str:
    """`15 minutes`, `40 seconds`, `2 h 5 min`: how a person says a short span."""
    seconds = max(int(round(delta.total_seconds())), 0)
    if seconds < 120:
        return f"{seconds} seconds"
    minutes = int(round(seconds / 60))
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{minutes // 60} h {minutes % 60} min"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def round_title(campaign: Row, round_row: Row) -> str:
    return f"{campaign['name']} · round {round_row['number']} of {campaign['round_count']}"


def state_text(round_row: Row, frozen: bool = False) -> str:
    text = f"{STATE_EMOJI.get(round_row['state'], '')} *{round_row['state']}*"
    if round_row.get("dry_run"):
        text += " (dry run: nothing was sent)"
    if round_row["held"]:
        text += " · :pause_button: *held*" + (f" ({reason(round_row['hold_reason'], REASON_SHOWN_SHORT)})"
                                               if round_row.get("hold_reason") else "")
    if frozen and round_row["state"] not in FINAL:
        text += " · :ice_cube: *sends frozen*"
    return text


def planning_label(state: str) -> str:
    """`planned`, `planning pending`, `planning failed`: never "planning planned"."""
    return "planned" if state == "planned" else f"planning {state}"
