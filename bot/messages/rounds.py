"""What is posted about a round in the channel: its parent message (posted by pre-launch, then
updated in place), the launch warning, the pre-flight result, the launch confirmation, the
cleanup plan, thread notes and alerts, their buttons, and what a planned campaign says.

Times in the campaign's zone with UTC beside them; a person's free text (hold, cancel, freeze
reasons) shown up to REASON_SHOWN characters, kept whole in the audit log. The buttons'
block_id names what they act on (`preflight:<run>`, `cleanup:<plan>`,
`cancel-request:<id>`), so a click on an older message's button changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.holiday_calendar import holiday_name
from bot.messages.common import (Row, button, context, fields, humanize, lifecycle_metadata, plural, round_title,
                                 section, state_text, when)
from bot.reasons import CANCEL_REQUEST_PREFIX
from bot.slack_text import CONFIRM_TEXT, REASON_SHOWN, fit
from bot.states import NOT_SENT, RoundState
from storage.outbox import SlackMessage


def round_parent(campaign: Row, round_row: Row, *, frozen: bool = False, late_by: str | None = None,
                 approval: Row | None = None, dry_run: bool = True) -> SlackMessage:
    """The round's parent message: posted by pre-launch, then updated in place on every change."""
    zone = campaign["timezone"]
    title = f":mailbox_with_mail: {round_title(campaign, round_row)}"
    facts = [
        ("Sends", when(round_row["scheduled_at"], zone)),
        ("State", state_text(round_row, frozen)),
        ("Recipients", f"{round_row['recipient_count']:,}" if round_row["recipient_count"] is not None else "—"),
        ("Mailjet list", str(round_row["mailjet_list_id"] or "—")),
        ("Mailjet draft", str(round_row["mailjet_draft_id"] or "—")),
        ("Subject", campaign.get("subject") or "—"),
        ("Sender", f"{campaign.get('sender_name') or '—'} ({campaign.get('sender_email') or '—'})"),
    ]
    if approval is not None:
        facts.append(("Approved", f"<@{approval['approved_by']}> at {when(approval['approved_at'], zone)}"))
    if round_row.get("mailjet_campaign_id"):
        facts.append(("Mailjet campaign", str(round_row["mailjet_campaign_id"])))
    elif round_row.get("dry_run") is False:
        facts.append(("Mailjet campaign", "pending: Mailjet is sending in the background"))
    blocks: list[dict[str, Any]] = [section(f"*{title}*"), fields(facts)]
    notes = []
    if late_by:
        notes.append(f":hourglass: Posted late: this message was due {late_by} ago.")
    if round_row.get("outcome_detail") and round_row["state"] in NOT_SENT:
        notes.append(fit(round_row["outcome_detail"], REASON_SHOWN + 200))
    if round_row.get("dry_run") is not None:
        dry_run = round_row["dry_run"]  # once sent, how it was sent, whatever the mode is now
    notes.append(f"Send mode: {'dry run (nothing is sent to Mailjet)' if dry_run else 'live'}. Stages follow in this thread.")
    blocks.append(context(" ".join(notes)))
    text = f"{round_title(campaign, round_row)}: {round_row['state']}, sends {when(round_row['scheduled_at'], zone)}"
    return SlackMessage(text=text, blocks=blocks,
                        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "prelaunch", round_row["state"]))


def launch_warning(campaign: Row, round_row: Row, *, frozen: bool, sends_in: timedelta, approval: Row | None) -> SlackMessage:
    zone = campaign["timezone"]
    if frozen:
        status = ":ice_cube: Sends are frozen: it will not go out unless an admin unfreezes in time."
    elif round_row["held"]:
        status = ":pause_button: Held: it will not go out unless an approver resumes it."
    elif round_row["state"] == RoundState.APPROVED:
        status = f":large_green_circle: Approved by <@{approval['approved_by']}>: it will go out on time." if approval else ":large_green_circle: Approved."
    elif round_row["state"] == RoundState.READY:
        if campaign["approval_policy"] == "auto":
            status = ":white_check_mark: Pre-flight passed; approval is automatic for this campaign."
        else:
            status = ":hourglass: Awaiting approval: it goes out only if an approver approves before the window closes."
    elif round_row["state"] == RoundState.BLOCKED:
        status = ":no_entry: Blocked by pre-flight: it will not go out until pre-flight passes and it is approved."
    else:
        status = f"State: {round_row['state']}."
    text = f":alarm_clock: {round_title(campaign, round_row)} sends in {humanize(sends_in)} ({when(round_row['scheduled_at'], zone)})."
    return SlackMessage(
        text=text,
        blocks=[section(text), section(status)],
        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "warning", round_row["state"]),
    )


def launch_confirmation(campaign: Row, round_row: Row, *, dry_run: bool, recipients: int | None, note: str | None = None) -> SlackMessage:
    zone = campaign["timezone"]
    if dry_run:
        head = (f":test_tube: *Dry run: {round_title(campaign, round_row)} was NOT sent.* "
                f"Everything up to the send call happened at {when(round_row['sent_at'], zone)}; "
                "SEND_MODE=dry-run skips the call to Mailjet.")
    else:
        count = recipients if recipients is not None else round_row["recipient_count"]
        campaign_id = round_row["mailjet_campaign_id"]
        head = (f":rocket: *{round_title(campaign, round_row)} sent* at {when(round_row['sent_at'], zone)} — "
                + (f"Mailjet campaign {campaign_id}, {count:,} recipients." if campaign_id else
                   f"{count:,} recipients. Mailjet accepted the send and delivers in the background; "
                   "its campaign id is added here once Mailjet gives it."))
    body = [section(head)]
    if note:
        body.append(context(note))
    return SlackMessage(text=head.replace("*", ""), blocks=body,
                        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "launch", round_row["state"]))


def alert(campaign: Row, round_row: Row, text: str) -> SlackMessage:
    """Broadcast to the channel from the round's thread (or top-level before it has one)."""
    return SlackMessage(
        text=f":rotating_light: {round_title(campaign, round_row)}: {text}",
        blocks=[section(f":rotating_light: *{round_title(campaign, round_row)}*\n{text}")],
        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "alert", round_row["state"]),
        reply_broadcast=True,
    )


def thread_note(campaign: Row, round_row: Row, stage: str, text: str) -> SlackMessage:
    """An announcement in the round's thread (holds, resumes, reschedules…); with stage
    "alert" it is also broadcast to the channel."""
    return SlackMessage(
        text=text,
        blocks=[section(text)],
        metadata=lifecycle_metadata(campaign["name"], round_row["number"], stage, round_row["state"]),
        reply_broadcast=stage == "alert",
    )


def campaign_planned(campaign: Row, rounds: Sequence[Row]) -> SlackMessage:
    zone = campaign["timezone"]
    lines = [f":spiral_calendar_pad: *{campaign['name']}* planned by <@{campaign['created_by']}>: "
             f"{plural(campaign['eligible_contacts'], 'recipient')} in {plural(len(rounds), 'round')} "
             f"({campaign['dropped_contacts']:,} dropped: unsubscribed, excluded or suppressed)."]
    if campaign.get("revalidated_contacts"):
        back = campaign["revalidated_contacts"]
        lines.append(f":recycle: {plural(back, 'contact')} came back: {'its' if back == 1 else 'their'} soft-bounce "
                     "suppression passed its 180-day revalidation date.")
    for r in rounds:
        lines.append(f"• Round {r['number']}: {when(r['scheduled_at'], zone)} · {plural(r['recipient_count'], 'recipient')} · "
                     f"list {r['mailjet_list_id']} · draft {r['mailjet_draft_id']}")
    lines += holiday_lines(campaign.get("holiday_skips") or [], campaign.get("holidays"))
    lines.append(f"Approval: {campaign['approval_policy']}. Each round's messages arrive in its own thread.")
    text = "\n".join(lines)
    return SlackMessage(text=text, blocks=[section(text)])


def holiday_lines(skips: Sequence[Mapping[str, str]], calendar: str | None) -> list[str]:
    """`Skipped public holidays (GB-ENG): Tue 25 Dec 2029 Christmas Day, …` or nothing."""
    if not skips:
        return []
    shown = []
    for skip in skips:
        day = date.fromisoformat(skip["date"])
        shown.append(f"{day:%a} {day.day} {day:%b %Y} ({skip['name']})")
    return [f":palm_tree: Skipped public holidays ({calendar}): " + ", ".join(shown) + "."]


def explicit_holiday_lines(rounds: Sequence[Row], zone: str, calendar: str | None) -> list[str]:
    """An `at=` instant on a public holiday is kept; say so where the plan is shown."""
    lines = []
    for r in rounds:
        day = r["scheduled_at"].astimezone(ZoneInfo(zone)).date()
        name = holiday_name(day, calendar)
        if name:
            lines.append(f":warning: Round {r['number']} is on a public holiday ({name}, {calendar}): "
                         "it is kept as given and its pre-flight will warn.")
    return lines


def cancel_confirm(campaign: Row, round_row: Row) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": "Cancel this round?"},
        "text": {"type": "mrkdwn", "text": fit(f"Round {round_row['number']} of *{campaign['name']}* will never be sent. "
                                               "This cannot be undone.", CONFIRM_TEXT)},
        "confirm": {"type": "plain_text", "text": "Cancel the round"},
        "deny": {"type": "plain_text", "text": "Keep it"},
        "style": "danger",
    }


def round_buttons(campaign: Row, round_row: Row, block_id: str, *, approve: bool, override_bounce: bool = False) -> dict[str, Any]:
    value = str(round_row["id"])
    elements = []
    if approve:
        elements.append(button("approve_launch", "Approve launch", value, "primary"))
    if override_bounce:
        elements.append(button("override_bounce", "Override bounce check", value))
    elements.append(button("resume_round", "Resume", value) if round_row["held"] else button("hold_round", "Hold", value))
    elements.append(button("cancel_round", "Cancel round", value, "danger", cancel_confirm(campaign, round_row)))
    return {"type": "actions", "block_id": block_id, "elements": elements}


CANCEL_REASON_PREFIX = "cancel-reason:"  # buttons of earlier versions carried the reason itself


def cancel_button(campaign: Row, round_row: Row, request_id: int | None) -> dict[str, Any]:
    """The confirm button `/campaign cancel` answers with; its block_id names the stored reason
    (bot/reasons.py), whatever its length."""
    return {"type": "actions", "block_id": f"{CANCEL_REQUEST_PREFIX}{request_id or 0}",
            "elements": [button("cancel_round", f"Cancel round {round_row['number']}", str(round_row["id"]), "danger",
                                 cancel_confirm(campaign, round_row))]}


# --- pre-flight ---------------------------------------------------------------------------

CHECK_EMOJI = {"pass": ":white_check_mark:", "warn": ":warning:", "fail": ":x:"}


def preflight_block_id(run_id: int) -> str:
    return f"preflight:{run_id}"


def preflight_result(campaign: Row, round_row: Row, run: Row, approval: Row | None, *, requested_by: str,
                     late_by: str | None = None, lapsed_reason: str | None = None) -> SlackMessage:
    zone = campaign["timezone"]
    verdict = ":white_check_mark: *Pre-flight passed*" if run["passed"] else ":no_entry: *Pre-flight failed: round blocked*"
    who = "scheduled check" if requested_by == "system" else f"run by <@{requested_by}>"
    lines = [f"{verdict} — {round_title(campaign, round_row)} ({who}, checked {when(run['ran_at'], zone)})"]
    for check in run["checks"]:
        lines.append(f"{CHECK_EMOJI[check['status']]} *{check['label']}*: {check['reason']}")
    out: list[dict[str, Any]] = [section("\n".join(lines))]
    notes = []
    if late_by:
        notes.append(f":hourglass: This pre-flight ran late (due {late_by} ago).")
    if lapsed_reason:
        notes.append(f":warning: The earlier approval lapsed: {lapsed_reason}. Approve again to send.")
    if approval is not None:
        notes.append(f":large_green_circle: Approved by <@{approval['approved_by']}> at {when(approval['approved_at'], zone)}; still valid.")
    elif run["passed"] and campaign["approval_policy"] == "required":
        notes.append("It goes out only if an approver approves it before the launch window closes.")
    elif run["passed"]:
        notes.append("Approval is automatic for this campaign: it goes out at its instant unless held.")
    else:
        notes.append(f"Fix the failing checks, then run `/campaign preflight \"{campaign['name']}\" {round_row['number']}` again.")
    out.append(context(" ".join(notes)))
    can_approve = run["passed"] and approval is None and campaign["approval_policy"] == "required"
    bounce_failed = any(c["key"] == "bounce" and c["status"] == "fail" for c in run["checks"])
    out.append(round_buttons(campaign, round_row, preflight_block_id(run["id"]), approve=can_approve,
                             override_bounce=bounce_failed))
    text = f"Pre-flight {'passed' if run['passed'] else 'failed'} for {round_title(campaign, round_row)}"
    return SlackMessage(text=text, blocks=out,
                        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "preflight", round_row["state"]))


# --- list cleanup -------------------------------------------------------------------------

CLEANUP_SAMPLE = 15  # contacts shown in the plan message; beyond that the full list is attached as a CSV


def cleanup_block_id(plan_id: int) -> str:
    return f"cleanup:{plan_id}"


def cleanup_plan(campaign: Row, round_row: Row, plan: Row, round_labels: Mapping[str, str]) -> SlackMessage:
    summary = plan["summary"]
    head = (f":broom: *Cleanup plan* for {round_title(campaign, round_row)}: {plural(summary['suppressed'], 'contact')} to "
            f"suppress ({plan['share']:.1%} of {summary['round_recipients']:,} recipients), "
            f"{plural(summary['counted_only'], 'soft bounce')} counted only, "
            f"{plural(summary['recorded_only'], 'blocked message')} recorded (not bounces).")
    reasons = ", ".join(f"{kind} {n}" for kind, n in summary["by_reason"].items()) or "nothing bounced"
    domains = ", ".join(f"{d} {n}" for d, n in summary["by_domain"].items()) or "—"
    removals = ", ".join(f"{round_labels.get(k, 'round ' + k)}: −{n}" for k, n in summary["removals_by_round"].items()) or "no unsent round holds them"
    sample = [f"• {i['email']} — {i['reason']}" for i in plan["items"][:CLEANUP_SAMPLE]]
    more = len(plan["items"]) - len(sample)
    lines = [head, f"*By reason:* {reasons}", f"*By domain:* {domains}", f"*Later rounds lose:* {removals}"]
    body: list[dict[str, Any]] = [section("\n".join(lines))]
    if sample:
        body.append(section("\n".join(sample) + (f"\n…and {more} more: all {len(plan['items']):,} are in the attached "
                                                  "CSV file in this thread" if more > 0 else "")))
    note = "Applying suppresses them and removes them from the lists of rounds not yet sent; the master list is never touched."
    if plan["needs_override"]:
        note = ":warning: Over 10% of the round: only an approver can apply this plan. " + note
    if plan["state"] == "applied":
        note = f":white_check_mark: Applied by <@{plan['applied_by']}> at {when(plan['applied_at'], campaign['timezone'])}."
    elif plan["state"] == "superseded":
        note = "Replaced by a newer plan; use the newest plan's button."
    body.append(context(note))
    if plan["state"] == "proposed" and (summary["suppressed"] or plan["items"]):
        label = "Apply (approver)" if plan["needs_override"] else "Apply cleanup"
        body.append({"type": "actions", "block_id": cleanup_block_id(plan["id"]),
                     "elements": [button("apply_cleanup", label, str(round_row["id"]), "primary")]})
    return SlackMessage(text=head.replace("*", ""), blocks=body,
                        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "cleanup", round_row["state"]))
