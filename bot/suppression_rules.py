"""The list-cleanup rules, as pure functions.

hard bounce → suppress, permanent; spam complaint → suppress, permanent; soft bounce →
counted, suppressed when a contact reaches the threshold (3), revalidation after 180 days;
unsubscribe → excluded from later rounds; blocked by Mailjet → recorded, not a bounce.
Nothing is ever deleted from a master list. One cleanup may suppress at most 10% of a
round without an approver's override.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

SOFT_BOUNCE_THRESHOLD = 3
REVALIDATE_AFTER = timedelta(days=180)
MAX_SHARE_WITHOUT_OVERRIDE = 0.10
KINDS = ("hard", "spam", "unsub", "soft", "blocked")  # strongest first
REASON = {"hard": "hard bounce", "spam": "spam complaint", "unsub": "unsubscribed", "soft": "soft bounce",
          "blocked": "blocked by Mailjet (not a bounce)"}


@dataclass(frozen=True)
class Event:
    contact_id: int
    email: str
    kind: str


@dataclass(frozen=True)
class Item:
    contact_id: int
    email: str
    kind: str
    action: str          # suppress | count | record
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def action_for(kind: str, soft_count_after: int, threshold: int = SOFT_BOUNCE_THRESHOLD) -> tuple[str, str]:
    """What a cleanup does with one event, given the contact's soft-bounce count after it."""
    if kind in ("hard", "spam"):
        return "suppress", f"{REASON[kind]}: suppressed permanently"
    if kind == "unsub":
        return "suppress", "unsubscribed: excluded from later rounds"
    if kind == "soft":
        if soft_count_after >= threshold:
            return "suppress", f"soft bounce {soft_count_after} of {threshold}: suppressed, revalidation in 180 days"
        return "count", f"soft bounce {soft_count_after} of {threshold}: counted, not suppressed"
    if kind == "blocked":
        return "record", REASON["blocked"] + ": recorded only"
    raise ValueError(f"unknown event kind {kind!r}")


def build_items(events: list[Event], soft_counts: dict[int, int], already_counted: set[tuple[int, str]],
                threshold: int = SOFT_BOUNCE_THRESHOLD) -> list[Item]:
    """One item per contact and kind, deterministic order (contact id, then kind strength).

    `soft_counts` is each contact's soft-bounce count before this round; `already_counted`
    holds (contact, kind) pairs of this round that an earlier apply counted already.
    """
    unique = {(e.contact_id, e.kind): e for e in events if e.kind in KINDS}
    items = []
    for (contact_id, kind), event in sorted(unique.items(), key=lambda kv: (kv[0][0], KINDS.index(kv[0][1]))):
        count = soft_counts.get(contact_id, 0) + (1 if kind == "soft" and (contact_id, kind) not in already_counted else 0)
        action, reason = action_for(kind, count, threshold)
        items.append(Item(contact_id, event.email, kind, action, reason))
    return items


def summarize(items: list[Item], round_recipients: int, removals: dict[int, int]) -> dict[str, Any]:
    suppressed = {i.contact_id for i in items if i.action == "suppress"}
    by_reason = Counter(i.kind for i in items)
    by_domain = Counter(i.email.rsplit("@", 1)[-1].lower() for i in items if i.action == "suppress")
    return {
        "suppressed": len(suppressed),
        "counted_only": sum(1 for i in items if i.action == "count"),
        "recorded_only": sum(1 for i in items if i.action == "record"),
        "by_reason": dict(sorted(by_reason.items())),
        "by_domain": dict(by_domain.most_common(5)),
        "removals_by_round": {str(k): v for k, v in sorted(removals.items())},
        "round_recipients": round_recipients,
    }


def share_of(items: list[Item], round_recipients: int) -> float:
    suppressed = len({i.contact_id for i in items if i.action == "suppress"})
    return suppressed / round_recipients if round_recipients else 0.0


def needs_override(share: float) -> bool:
    return share > MAX_SHARE_WITHOUT_OVERRIDE


CSV_COLUMNS = ("contact_id", "email", "kind", "action", "reason")


def plan_csv(items: Iterable[Mapping[str, Any]]) -> bytes:
    """Every item of a plan as CSV (UTF-8, a header line, one line per item): what the plan
    message cannot show (it shows a sample). A cell that a spreadsheet would read as a formula
    (=, +, -, @) is quoted with a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow([_cell(item[column]) for column in CSV_COLUMNS])
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
