"""A pre-flight result in the round's thread: each check with its reason, what happens next,
and the buttons. The buttons' block_id names the run, so a click on an older run's button
changes nothing.
"""

from __future__ import annotations

from typing import Any

from bot.messages.common import Row, context, lifecycle_metadata, round_title, section, when
from bot.messages.rounds import round_buttons
from storage.outbox import SlackMessage


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
