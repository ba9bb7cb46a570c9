"""Ephemeral answers to `/campaign`: the campaign list, a campaign's status, its audit log, and
the confirmation of `/campaign new` (the text form and the form alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.campaigns import CreatedCampaign
from bot.grammar import NewCampaign
from bot.messages.common import STAGE_LABEL, Row, planning_label, plural, section, state_text, when
from bot.messages.rounds import explicit_holiday_lines, holiday_lines
from bot.slack_text import REASON_SHOWN, fit, reason


def _frozen_banner(frozen: Row) -> str:
    return f":ice_cube: *All sends are frozen* by <@{frozen['changed_by']}>" + (f": {reason(frozen['reason'])}" if frozen["reason"] else "")


def stage_state(stage_row: Row) -> str:
    """A stage run's state as a person reads it: a launch that ended a round says how."""
    state = stage_row["state"].replace("_", " ")
    result = stage_row.get("result") or {}
    if stage_row["stage"] == "launch" and stage_row["state"] == "done" and isinstance(result, Mapping):
        if result.get("missed"):
            return "missed"
        if result.get("failed"):
            return "failed"
        if result.get("sent"):
            return "sent (dry run)" if result.get("dry_run") else "sent"
    return state


def status_blocks(campaign: Row, rounds: Sequence[Row], stages: Mapping[int, Sequence[Row]],
                  approvals: Mapping[int, Row], frozen: Row) -> list[dict[str, Any]]:
    zone = campaign["timezone"]
    blocks: list[dict[str, Any]] = [section(
        f"*{campaign['name']}* · {plural(campaign['round_count'], 'round')} · {zone} · approval {campaign['approval_policy']} · "
        f"{planning_label(campaign['planning_state'])}"
        + (f" ({campaign['planning_error']})" if campaign.get("planning_error") else "")
        + (f" · :file_cabinet: archived {when(campaign['archived_at'], zone)}" if campaign.get("archived_at") else "")
    )]
    if frozen["frozen"]:
        blocks.append(section(_frozen_banner(frozen)))
    for r in rounds:
        lines = [f"*Round {r['number']}* — {state_text(r, frozen['frozen'])}",
                 f"Sends {when(r['scheduled_at'], zone)}",
                 f"Recipients {r['recipient_count'] if r['recipient_count'] is not None else '—'} · "
                 f"list {r['mailjet_list_id'] or '—'} · draft {r['mailjet_draft_id'] or '—'}"
                 + (f" · campaign {r['mailjet_campaign_id']}" if r["mailjet_campaign_id"] else
                    " · campaign pending (Mailjet is sending)" if r.get("dry_run") is False else "")]
        approval = approvals.get(r["id"])
        if approval:
            lines.append(f"Approved by <@{approval['approved_by']}> at {when(approval['approved_at'], zone)}")
        if r.get("outcome_detail"):
            lines.append(fit(r["outcome_detail"], REASON_SHOWN + 200))
        round_stages = stages.get(r["id"], [])
        pending = [s for s in round_stages if s["state"] == "pending"]
        if pending:
            nxt = min(pending, key=lambda s: s["due_at"])
            lines.append(f"Next: {STAGE_LABEL[nxt['stage']]} at {when(nxt['due_at'], zone)}")
        stage_bits = [f"{STAGE_LABEL[s['stage']]}: {stage_state(s)}"
                      + (" (late)" if s["late"] else "") for s in round_stages]
        if stage_bits:
            lines.append("Stages: " + " · ".join(stage_bits))
        blocks.append(section("\n".join(lines)))
    return blocks[:50]


def campaigns_list_text(rows: Sequence[Row], default_zone: str, frozen: Row | None = None) -> str:
    banner = _frozen_banner(frozen) + "\n" if frozen and frozen["frozen"] else ""
    if not rows:
        return banner + "No campaigns yet. Plan one with `/campaign new`."
    lines = [banner + "*Campaigns*"]
    for c in rows:
        nxt = (f"next: {STAGE_LABEL[c['next_stage']]} of round {c['next_round']} at {when(c['next_due_at'], c['timezone'])}"
               if c["next_stage"] else "nothing scheduled")
        lines.append(f"• *{c['name']}* — {c['rounds_sent']}/{c['rounds_total']} rounds sent · {planning_label(c['planning_state'])} · {nxt}")
    return "\n".join(lines)


def audit_text(campaign: Row, entries: Sequence[Row], page: int, pages: int) -> str:
    zone = campaign["timezone"]
    if not entries:
        return f"No audit entries for *{campaign['name']}* on page {page}."
    lines = [f"*Audit log of {campaign['name']}* (newest first, page {page} of {pages})"]
    for e in entries:
        who = "system" if e["actor"] == "system" else f"<@{e['actor']}>"
        where = f" round {e['round_number']}" if e["round_number"] else ""
        detail = e["detail"] or {}
        summary = reason(str(detail.get("summary") or ", ".join(f"{k}={v}" for k, v in detail.items())))
        lines.append(f"• {when(e['at'], zone)} · {who} · *{e['action']}*{where}" + (f" — {summary}" if summary else ""))
    if page < pages:
        lines.append(f"Older entries: `/campaign log \"{campaign['name']}\" {page + 1}`")
    return "\n".join(lines)


def planning_text(new: NewCampaign, created: CreatedCampaign) -> str:
    """The reply to a successful `/campaign new`, the same for the text form and the modal."""
    zone = new.zone.key
    lines = [f":spiral_calendar_pad: Planning *{new.name}*: {plural(new.rounds, 'round')}, approval {new.approval}, "
             f"public holidays: {new.holidays or 'none'}."]
    for r in created.rounds:
        lines.append(f"• Round {r['number']}: {when(r['scheduled_at'], zone)}"
                     + (" (given with at=)" if r["instant_source"] == "explicit" else ""))
    lines += holiday_lines(created.skipped_rows(), new.holidays)
    lines += explicit_holiday_lines(created.rounds, zone, new.holidays)
    lines.append("I am splitting the master list and creating each round's list and draft in Mailjet now; "
                 f"the channel will be told when it is done. `/campaign status \"{new.name}\"` shows progress.")
    return "\n".join(lines)
