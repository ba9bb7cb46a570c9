"""Rules of the week-after-week operations (PRODUCT.md section 8), as pure functions: which
rounds stop a campaign from being archived, which rounds `/campaign resolve` may settle,
when a round resolved as sent went out, and how a suppression reads.

handlers/operations.py reads the rows, calls these and writes the changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.schedule import format_instant

Row = Mapping[str, Any]

# Rounds that may still go out (or, `sending`, may have): a campaign holding one is not archived.
UNSENT = ("planned", "ready", "blocked", "approved", "sending")
KIND_LABEL = {"hard": "hard bounce", "soft": "soft bounce", "spam": "spam complaint", "unsub": "unsubscribe",
              "blocked": "blocked by Mailjet"}
REASON_LABEL = {"hard_bounce": "hard bounce", "soft_bounce": "soft bounces", "spam": "spam complaint",
                "unsub": "unsubscribed", "manual": "suppressed by hand"}


def archive_blockers(campaign: Row, rounds: Sequence[Row]) -> list[str]:
    """Why the campaign cannot be archived yet: one phrase per round still open, or none.

    A round not sent yet may still go out; a failed round nobody resolved still needs a look.
    A campaign whose planning failed never sends, so its never-planned rounds do not count.
    """
    if campaign["planning_state"] == "pending":
        return ["planning is still running"]
    blockers = []
    for r in rounds:
        if r["state"] in UNSENT and campaign["planning_state"] != "failed":
            blockers.append(f"round {r['number']} is {r['state']}")
        elif r["state"] == "failed" and not r.get("resolution"):
            blockers.append(f"round {r['number']} failed and is not resolved (`/campaign resolve`)")
    return blockers


def resolve_refusal(round_row: Row, zone: str) -> str | None:
    """Why `/campaign resolve` does not apply to this round, or None when it does."""
    number = round_row["number"]
    if round_row["state"] != "failed" and not round_row.get("resolution"):
        return (f"round {number} is {round_row['state']}; only a failed round (Mailjet could not say whether it "
                "went out) can be resolved")
    if round_row.get("resolution"):
        return (f"round {number} was already resolved as {round_row['resolution']} by <@{round_row['resolved_by']}> "
                f"at {format_instant(round_row['resolved_at'], zone)}")
    return None


def mailjet_sent_at(draft: Mapping[str, Any], fallback: datetime) -> datetime:
    """When Mailjet says the draft went out (`DeliveredAt`), else `fallback`."""
    text = str(draft.get("DeliveredAt") or "").strip()
    if text:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        if value.tzinfo is not None and value.year > 2000:
            return value
    return fallback


def suppression_text(email: str, rows: Sequence[Row], zone: str) -> str:
    """`/campaign suppression <email>`: every record of that address, as a person reads it."""
    if not rows:
        return (f"*{email}* has no suppression record: planning includes it, unless Mailjet marks it "
                "unsubscribed or excluded from campaigns.")
    out = []
    for s in rows:
        if s["in_force"]:
            state = ":no_entry: *suppressed*" + (" · permanent" if s["permanent"] else "")
        elif s["active"]:
            state = ":recycle: *revalidated*: its revalidation date has passed, so planning includes it again"
        elif s.get("lifted_at"):
            state = ":white_check_mark: *not suppressed* (lifted)"
        else:
            state = ":white_check_mark: *not suppressed*"
        lines = [f"*{s['email']}* (Mailjet contact {s['contact_id']}) — {state}",
                 f"Reason: {REASON_LABEL.get(s['reason'], s['reason'])} · soft bounces counted: {s['bounce_count']}"]
        counts = s.get("event_counts") or {}
        if counts:
            lines.append("Events counted: " + ", ".join(f"{KIND_LABEL.get(k, k)} {n}" for k, n in sorted(counts.items())))
        lines.append(f"First seen {format_instant(s['first_seen'], zone)} · last seen {format_instant(s['last_seen'], zone)}")
        if s.get("source_campaign"):
            lines.append(f"Source: *{s['source_campaign']}* round {s['source_round']}")
        if s["revalidate_after"] is not None and not s["permanent"] and s["reason"] == "soft_bounce":
            lines.append(f"Revalidation date: {format_instant(s['revalidate_after'], zone)}")
        if s.get("lifted_at"):
            lines.append(f"Lifted by <@{s['lifted_by']}> at {format_instant(s['lifted_at'], zone)}"
                         + (f": {s['lift_reason']}" if s.get("lift_reason") else ""))
        else:
            lines.append("Never lifted by hand.")
        out.append("\n".join(lines))
    return "\n\n".join(out)
