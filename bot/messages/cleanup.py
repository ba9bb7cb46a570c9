"""A cleanup plan in the round's thread: what it suppresses, by reason and domain, what later
rounds lose, a sample of the contacts (all of them go in an attached CSV), and the Apply
button, whose block_id names the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.messages.common import Row, button, context, lifecycle_metadata, plural, round_title, section, when
from storage.outbox import SlackMessage


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
