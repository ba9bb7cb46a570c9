"""A rehearsal's messages (`/campaign rehearse`): its top-level post, what its launch would
do, its notes for stages that do nothing, and its closing summary. The stages' own messages
are a real round's (bot/messages/rounds.py), marked by storage/outbox.py `as_rehearsal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.messages.common import Row, context, humanize, lifecycle_metadata, plural, round_title, section, when
from bot.states import SENT
from storage.outbox import SlackMessage


def rehearsal_metadata(campaign: Row, state: str) -> dict[str, Any]:
    """The top post and the summary: a campaign's lifecycle event of no single round."""
    return {"event_type": "campaign_lifecycle",
            "event_payload": {"campaign": campaign["name"], "round": None, "stage": "rehearsal", "state": state,
                              "rehearsal": True}}


def _round_lines(campaign: Row, rounds: Sequence[Row]) -> list[str]:
    zone = campaign["timezone"]
    return [f"• Round {r['number']}: the real one sends {when(r['real_scheduled_at'], zone)}; "
            f"rehearsed with T at {when(r['scheduled_at'], zone)}" for r in rounds]


def top_post(campaign: Row, rounds: Sequence[Row], *, started_by: str, live: bool,
             finished: Mapping[str, Any] | None = None) -> SlackMessage:
    """`Rehearsal of <name>`: what is rehearsed and what a rehearsal never does."""
    head = f":performing_arts: *Rehearsal of {campaign['name']}* (started by <@{started_by}>)"
    body = (f"Every stage of {plural(len(rounds), 'unsent round')}, in dry run, on a compressed timeline "
            "(about two minutes), in this thread. The pre-flight checks are the real ones, read from Mailjet now. "
            "Nothing is sent or scheduled, nothing in Mailjet changes, and the real rounds, their messages, "
            "approvals and stages are untouched.")
    mode = ("The real rounds are sent live (SEND_MODE=live)." if live
            else "SEND_MODE is dry-run: the real rounds will not be sent either.")
    blocks = [section(head), section(body + "\n" + "\n".join(_round_lines(campaign, rounds))), context(mode)]
    state = "running"
    if finished is not None:
        state = "finished"
        blocks.append(section(f":checkered_flag: *Finished* at {when(finished['at'], campaign['timezone'])}: "
                               f"{finished['verdict']}"))
    return SlackMessage(text=f"Rehearsal of {campaign['name']}", blocks=blocks, metadata=rehearsal_metadata(campaign, state))


def approval_text(campaign: Row, approval: Row | None) -> str:
    if campaign["approval_policy"] == "auto":
        return "Approval is automatic for this campaign."
    if approval is not None:
        return (f"The real round is approved by <@{approval['approved_by']}>; that approval holds only while "
                "pre-flight keeps passing and nothing material changes.")
    return ("The real round needs an approver's approval after its own pre-flight, before its launch window "
            "closes; without it nothing is sent.")


def launch_would_send(campaign: Row, round_row: Row, real_round: Row, approval: Row | None, *, live: bool) -> SlackMessage:
    """The rehearsal's launch when the gate (apart from approval) would let the round go."""
    zone = campaign["timezone"]
    recipients = real_round["recipient_count"] if real_round["recipient_count"] is not None else round_row["recipient_count"]
    head = (f":rocket: *Rehearsal launch of {round_title(campaign, round_row)}: would send to "
            f"{plural(recipients or 0, 'recipient')}* at {when(real_round['scheduled_at'], zone)} "
            f"(draft {round_row['mailjet_draft_id']}, list {round_row['mailjet_list_id']}).")
    how = ("The real launch makes one send call to Mailjet at T, never earlier, inside its window."
           if live else "SEND_MODE is dry-run, so the real launch will not call Mailjet either.")
    text = f"{head}\n{approval_text(campaign, approval)} {how} Nothing was sent now."
    return SlackMessage(text=text.replace("*", ""), blocks=[section(text)],
                        metadata=lifecycle_metadata(campaign["name"], round_row["number"], "launch", round_row["state"]))


def launch_would_not_send(campaign: Row, round_row: Row, real_round: Row, reason: str) -> str:
    window = campaign["launch_window"]
    return (f":no_entry: *Rehearsal launch of {round_title(campaign, round_row)}: would NOT be sent* at "
            f"{when(real_round['scheduled_at'], campaign['timezone'])}: {reason}. The real launch would wait for that "
            f"to change until its window closes ({humanize(window)} after T); then the round is missed and never "
            "sent automatically.")


CLEANUP_RULES = ("The real list cleanup runs after the send and builds a plan from the round's bounces, spam complaints "
                 "and unsubscribes: hard bounces and spam complaints are suppressed for good, a soft bounce is counted "
                 "and suppresses at {threshold}, unsubscribes leave later rounds, blocked messages are only recorded, "
                 "and a plan that suppresses more than 10% of the round needs an approver.")


def stage_note(campaign: Row, round_row: Row, stage: str, reason: str, *, soft_bounce_threshold: int) -> str:
    """What a rehearsal's stage that did nothing says, and what the real one would do."""
    title = round_title(campaign, round_row)
    sent = round_row["state"] in SENT
    if stage == "cleanup":
        why = ("nothing was sent in the rehearsal, so nothing bounced" if sent
               else "the round would not have been sent, so there is nothing to clean")
        return (f":broom: *Rehearsal list cleanup of {title}*: no plan: {why}. "
                + CLEANUP_RULES.format(threshold=plural(soft_bounce_threshold, 'soft bounce')))
    if stage == "wrapup":
        why = ("nothing was sent in the rehearsal" if sent
               else "the round would not have been sent, and the real wrap-up skips an unsent round")
        return (f":bar_chart: *Rehearsal wrap-up of {title}*: no numbers: {why}. The real wrap-up reads them "
                "from Mailjet after the send; none are ever estimated.")
    labels = {"prelaunch": "pre-launch", "preflight": "pre-flight", "warning": "launch warning", "launch": "launch"}
    return (f":fast_forward: *Rehearsal {labels.get(stage, stage)} of {title}*: skipped ({reason}). "
            "The real stage follows the same rule.")


def summary(campaign: Row, items: Sequence[Mapping[str, Any]], at: datetime) -> SlackMessage:
    zone = campaign["timezone"]
    lines = [f":checkered_flag: *Rehearsal of {campaign['name']} finished* at {when(at, zone)}."]
    for item in items:
        if item["preflight_passed"] is None:
            check = "pre-flight did not run"
        elif item["preflight_passed"]:
            check = "pre-flight passed"
        else:
            check = "pre-flight FAILED: " + "; ".join(item["failing"])
        outcome = (f"would send to {plural(item['recipients'] or 0, 'recipient')}" if item["would_send"]
                   else f"would not be sent: {item['why_not']}")
        lines.append(f"• Round {item['round']} ({when(item['real_at'], zone)}): {check} · {outcome}")
    if any(not item["would_send"] for item in items):
        lines.append("Fix what is named above before the real pre-flight, then rehearse again to check.")
    lines.append("Nothing was sent, nothing in Mailjet changed, and the real rounds are as they were.")
    text = "\n".join(lines)
    return SlackMessage(text=text.replace("*", ""), blocks=[section(text)], metadata=rehearsal_metadata(campaign, "finished"))


def verdict(items: Sequence[Mapping[str, Any]]) -> str:
    blocked = [str(i["round"]) for i in items if not i["would_send"]]
    if not blocked:
        return f"every rehearsed round would go out ({plural(len(items), 'round')}); see the summary in the thread."
    return (f"{plural(len(blocked), 'round')} of {len(items)} would not go out as things stand "
            f"(round {', '.join(blocked)}); see the summary in the thread.")
