"""The App Home tab's view, a pure function of rows (handlers/home.py reads them and publishes):
the freeze banner, the rounds waiting for approval with the same buttons as a pre-flight
result, the campaigns with their rounds and next events, and recent alerts. Times in the
viewer's zone with UTC beside them; never more than Slack's 100 blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.messages.common import (STAGE_LABEL, Row, context, divider, header, planning_label, section, state_text,
                                 when)
from bot.messages.rounds import preflight_block_id, round_buttons
from bot.roles import Role
from bot.slack_text import reason
from bot.states import FINAL, NOT_SENT, SENT

MAX_VIEW_BLOCKS = 100          # Slack's limit for a view
MAX_CAMPAIGNS = 15             # one section each (+ a divider)
MAX_APPROVALS = 10             # a section and an actions block each
MAX_ALERTS = 8
ALERTS_SINCE = timedelta(days=14)
SECTION_BUDGET = 2900          # a section's text may hold 3000 characters
CAMPAIGN_BUDGET = 1600         # per campaign, so fifteen of them stay readable


@dataclass
class HomeData:
    """Everything the tab shows, as read from the database."""

    campaigns: Sequence[Row]
    rounds: Mapping[int, Sequence[Row]]
    approvals: Sequence[Row]
    alerts: Sequence[Row]
    frozen: Row | None
    now: datetime
    campaigns_total: int = 0
    approvals_total: int = 0


def _next_event(stage: str | None, due_at: datetime | None, zone: str, round_number: int | None = None) -> str:
    if not stage or not due_at:
        return "nothing scheduled"
    of_round = f" of round {round_number}" if round_number is not None else ""
    return f"{STAGE_LABEL.get(stage, stage)}{of_round} at {when(due_at, zone)}"


def round_line(round_row: Row, zone: str, frozen: bool) -> str:
    """`• Round 1 — :calendar: *planned* · held · sends … · next: Pre-flight at …`"""
    parts = [f"• Round {round_row['number']} — {state_text(round_row, frozen)}"]
    state = round_row["state"]
    if state in SENT:
        parts.append(f"sent for {when(round_row['scheduled_at'], zone)}")
    elif state in NOT_SENT:
        parts.append(f"was {when(round_row['scheduled_at'], zone)}")
    else:
        parts.append(f"sends {when(round_row['scheduled_at'], zone)}")
    if round_row.get("approved_by"):
        parts.append(f"approved by <@{round_row['approved_by']}>")
    if round_row.get("next_stage"):
        parts.append("next: " + _next_event(round_row["next_stage"], round_row["next_due_at"], zone))
    return " · ".join(parts)


def campaign_section(campaign: Row, rounds: Sequence[Row], zone: str, frozen: bool) -> dict[str, Any]:
    """One campaign in one section: a head line, its next event, then a line per round. Past
    CAMPAIGN_BUDGET characters the rounds still to come are kept first, then the latest
    finished ones; the others are counted and `/campaign status` is pointed to."""
    sent = sum(1 for r in rounds if r["state"] in SENT)
    head = (f"*{campaign['name']}* · {sent}/{campaign['round_count']} rounds sent · approval "
            f"{campaign['approval_policy']} · {planning_label(campaign['planning_state'])}")
    lines = [head]
    if campaign["planning_state"] == "pending":
        lines.append(":hourglass_flowing_sand: Planning: splitting the master list and creating each round's list and draft.")
    elif campaign["planning_state"] == "failed":
        lines.append(f":rotating_light: Planning failed: {campaign.get('planning_error') or 'see the log'}. Nothing will be sent.")
    if campaign.get("next_stage"):
        lines.append("Next: " + _next_event(campaign["next_stage"], campaign["next_due_at"], zone, campaign["next_round"]))
    # Rounds still to come first when they cannot all be shown.
    shown = list(rounds)
    round_lines = [round_line(r, zone, frozen) for r in shown]
    used = sum(len(line) + 1 for line in lines)
    footer = f"`/campaign status \"{campaign['name']}\"` shows every round and stage."
    budget = CAMPAIGN_BUDGET - len(footer) - 80
    if used + sum(len(line) + 1 for line in round_lines) > budget:
        upcoming = [r for r in shown if r["state"] not in FINAL]
        done = [r for r in shown if r["state"] in FINAL]
        ordered = upcoming + done[::-1]  # the most recent finished rounds after the upcoming ones
        kept: list[Row] = []
        for r in ordered:
            line = round_line(r, zone, frozen)
            if used + len(line) + 1 > budget:
                break
            kept.append(r)
            used += len(line) + 1
        kept.sort(key=lambda r: r["number"])
        hidden = len(shown) - len(kept)
        round_lines = [round_line(r, zone, frozen) for r in kept]
        round_lines.append(f"… {hidden} more round{'s' if hidden != 1 else ''} not shown. {footer}")
    lines.extend(round_lines)
    return section("\n".join(lines), block_id=f"campaign:{campaign['id']}")


def approval_blocks(row: Row, zone: str, role: Role) -> list[dict[str, Any]]:
    campaign = {"id": row["campaign_id"], "name": row["name"], "round_count": row["round_count"],
                "timezone": row["timezone"], "approval_policy": row["approval_policy"]}
    window_closes = row["scheduled_at"] + row["launch_window"]
    text = (f":hourglass: *{row['name']}* · round {row['number']} of {row['round_count']} — "
            f"{state_text(row)}\nSends {when(row['scheduled_at'], zone)} · "
            f"{row['recipient_count'] if row['recipient_count'] is not None else '—'} recipients · "
            f"pre-flight #{row['preflight_run_id']} passed {when(row['preflight_ran_at'], zone)}\n"
            f"Must be approved before the launch window closes ({when(window_closes, zone)}).")
    out = [section(text)]
    if role >= Role.operator:
        out.append(round_buttons(campaign, row, preflight_block_id(row["preflight_run_id"]),
                                 approve=role >= Role.approver))
    return out


def _alert_summary(entry: Row) -> str:
    detail = entry["detail"] or {}
    if not isinstance(detail, Mapping):
        return ""
    for key in ("summary", "error", "reason"):
        if detail.get(key):
            return str(detail[key])
    return ""


def alert_lines(entries: Sequence[Row], zone: str, limit: int = MAX_ALERTS) -> list[str]:
    """Newest first; repeats of one alert in a row (a stage retrying) are folded into one line."""
    lines: list[str] = []
    previous: tuple[Any, ...] | None = None
    repeats = 1
    for entry in entries:
        key = (entry["action"], entry["campaign_id"], entry["round_id"])
        if key == previous:
            repeats += 1
            lines[-1] = lines[-1].split(" (×")[0] + f" (×{repeats})"
            continue
        if len(lines) >= limit:
            break
        previous, repeats = key, 1
        where = f"*{entry['campaign_name']}*" if entry["campaign_name"] else "all campaigns"
        if entry["round_number"]:
            where += f" round {entry['round_number']}"
        summary = _alert_summary(entry)
        line = f"• {when(entry['at'], zone)} · {where} · *{entry['action']}*" + (f" — {reason(summary, 300)}" if summary else "")
        lines.append(line)
    return lines


def home_view(data: HomeData, *, zone: str, role: Role = Role.anyone, notice: str | None = None) -> dict[str, Any]:
    """The Home tab view (≤ 100 blocks)."""
    frozen = bool(data.frozen and data.frozen["frozen"])
    out: list[dict[str, Any]] = [header(":mailbox_with_mail: Campaigns")]
    out.append(context(f"Times in {zone} (your Slack time zone) with UTC beside them · updated "
                        f"{when(data.now, zone)} · `/campaign help` for every command"))
    if notice:
        out.append(section(notice, block_id="notice"))
    if frozen:
        assert data.frozen is not None
        who = f" by <@{data.frozen['changed_by']}>" if data.frozen.get("changed_by") else ""
        since = f" since {when(data.frozen['changed_at'], zone)}" if data.frozen.get("changed_at") else ""
        why = f": {reason(data.frozen['reason'])}" if data.frozen.get("reason") else ""
        out.append(section(f":ice_cube: *All sends are frozen*{who}{since}{why}. Nothing is sent until an admin "
                            "runs `/campaign unfreeze`.", block_id="freeze"))

    # Pending approvals: what needs someone now.
    out.append(divider())
    out.append(header(f"Waiting for approval ({data.approvals_total})"))
    if data.approvals:
        if role < Role.approver:
            out.append(context("Only approvers can approve; the server checks the role on every click."))
        for row in data.approvals[:MAX_APPROVALS]:
            out.extend(approval_blocks(row, zone, role))
        more = data.approvals_total - min(len(data.approvals), MAX_APPROVALS)
        if more > 0:
            out.append(context(f"… and {more} more waiting; the soonest are shown. Each round's pre-flight result "
                                "in the channel has the same buttons."))
    else:
        out.append(context("No round is waiting for approval."))

    # Campaigns, most relevant first.
    out.append(divider())
    active = data.campaigns[0]["active_total"] if data.campaigns else 0
    out.append(header(f"Campaigns ({active} active, {data.campaigns_total} in all)"))
    if not data.campaigns:
        out.append(context("No campaigns yet. Plan one with `/campaign new`."))
    for campaign in data.campaigns[:MAX_CAMPAIGNS]:
        out.append(campaign_section(campaign, data.rounds.get(campaign["id"], []), zone, frozen))
    hidden = data.campaigns_total - min(len(data.campaigns), MAX_CAMPAIGNS)
    if hidden > 0:
        out.append(context(f"… and {hidden} more campaign{'s' if hidden != 1 else ''} (older or finished) not shown: "
                            "`/campaign list` lists them all."))

    # Recent alerts.
    out.append(divider())
    out.append(header("Recent alerts"))
    lines = alert_lines(data.alerts, zone)
    if lines:
        text = ""
        for line in lines:
            if len(text) + len(line) + 1 > SECTION_BUDGET:
                break
            text += line + "\n"
        out.append(section(text.rstrip("\n"), block_id="alerts"))
    else:
        out.append(context(f"No alerts in the last {ALERTS_SINCE.days} days."))

    if len(out) > MAX_VIEW_BLOCKS:  # cannot happen with the limits above; never publish an invalid view
        out = out[: MAX_VIEW_BLOCKS - 1] + [context("(Shortened to fit Slack's limit.)")]
    return {"type": "home", "callback_id": "campaign_home", "blocks": out}
