"""The pre-flight checklist's rules, as pure functions.

Each check gives pass / warn / fail with a one-line reason. Any fail blocks the round.
bot/preflight.py gathers the facts from Mailjet and the database and calls these.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any
from urllib.parse import urlparse

from bot.states import NOT_SENT, SENT

PASS, WARN, FAIL = "pass", "warn", "fail"
BOUNCE_CRITICAL = 0.05          # previous round's bounce rate that blocks the next one
LIST_COUNT_TOLERANCE = 0.01     # list size may differ from the ledger by 1% with a warning

_PLACEHOLDER = re.compile(r"\[\[[^\]]*\]\]")
_HREF = re.compile(r"""href\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_BARE_URL = re.compile(r"""(?<![\w"'=])((?:https?|ftp)://[^\s<>"']+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    status: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_count(subscribers: int | None, ledger: int) -> Check:
    label = "Round list matches the ledger"
    if subscribers is None:
        return Check("list", label, FAIL, "the round's Mailjet list does not exist")
    if subscribers == ledger:
        return Check("list", label, PASS, f"{subscribers:,} subscribers, as planned")
    off = abs(subscribers - ledger)
    share = off / ledger if ledger else 1.0
    text = f"{subscribers:,} subscribers in Mailjet, {ledger:,} in the ledger ({off:,} off, {share:.1%})"
    return Check("list", label, WARN if share <= LIST_COUNT_TOLERANCE else FAIL, text)


def no_suppressed(found: list[str], checked: int) -> Check:
    label = "No suppressed contact in the list"
    if not found:
        return Check("suppressed", label, PASS, f"none among {checked:,} contacts")
    sample = ", ".join(found[:3]) + (" …" if len(found) > 3 else "")
    return Check("suppressed", label, FAIL, f"{len(found):,} suppressed contacts are in the list ({sample}); run the cleanup")


def draft_ready(draft: dict[str, Any] | None, content: dict[str, Any] | None, list_id: int | None) -> Check:
    label = "Draft is complete"
    if draft is None:
        return Check("draft", label, FAIL, "the round's Mailjet draft does not exist")
    problems = []
    status = int(draft.get("Status", 0))
    if status != 0:
        problems.append(f"it is no longer a draft (Mailjet status {status})")
    if int(draft.get("ContactsListID") or 0) != (list_id or -1):
        problems.append(f"it targets list {draft.get('ContactsListID')}, not the round's list {list_id}")
    if not (draft.get("Subject") or "").strip():
        problems.append("no subject")
    if not (draft.get("SenderName") or draft.get("Sender") or "").strip():
        problems.append("no sender name")
    if not (draft.get("SenderEmail") or "").strip():
        problems.append("no sender email")
    if not content or not ((content.get("Html-part") or "").strip() or (content.get("Text-part") or "").strip()):
        problems.append("no HTML or text content")
    if problems:
        return Check("draft", label, FAIL, "; ".join(problems))
    return Check("draft", label, PASS, f"“{draft.get('Subject')}” from {draft.get('SenderName') or draft.get('Sender')} ({draft.get('SenderEmail')})")


def sender_active(email: str | None, sender: dict[str, Any] | None) -> Check:
    label = "Sender is active in Mailjet"
    if not email:
        return Check("sender", label, FAIL, "the draft has no sender email")
    if sender is None:
        return Check("sender", label, FAIL, f"{email} is not a Mailjet sender of this account")
    status = str(sender.get("Status", ""))
    if status.lower() != "active":
        return Check("sender", label, FAIL, f"{email} is {status or 'not active'} in Mailjet")
    return Check("sender", label, PASS, f"{email} is active")


def extract_links(html: str, text: str) -> list[str]:
    links = [m.group(2).strip() for m in _HREF.finditer(html or "")]
    without_hrefs = _HREF.sub(" ", html or "")
    links += [m.group(1) for m in _BARE_URL.finditer(without_hrefs + "\n" + (text or ""))]
    return links


def content_links(html: str, text: str) -> Check:
    label = "Unsubscribe link and valid links"
    body = (html or "") + "\n" + (text or "")
    if "[[UNSUB_LINK_" not in body and "[[UNSUB_LINK]]" not in body:
        return Check("content", label, FAIL, "no unsubscribe link ([[UNSUB_LINK_xx]] or [[UNSUB_LINK]])")
    bad, manual = [], []
    for link in extract_links(html, text):
        if not link or _PLACEHOLDER.fullmatch(link) or link.startswith("#"):
            continue
        if _PLACEHOLDER.search(link) and link.lower().startswith(("http://", "https://")):
            continue  # a real URL with a personalisation placeholder in it
        scheme = urlparse(link).scheme.lower()
        if scheme in ("mailto", "tel"):
            manual.append(link)
            continue
        parsed = urlparse(link)
        if scheme not in ("http", "https") or not parsed.netloc or " " in link:
            bad.append(link)
    if bad:
        shown = ", ".join(bad[:3]) + (" …" if len(bad) > 3 else "")
        return Check("content", label, FAIL, f"{len(bad)} link(s) are not valid http(s) URLs: {shown}")
    if manual:
        return Check("content", label, WARN, f"unsubscribe link present; {len(manual)} mailto/tel link(s) to check by hand")
    return Check("content", label, PASS, "unsubscribe link present; every link is a valid http(s) URL")


def previous_round_bounce(previous: dict[str, Any] | None, *, bounce_rate: float | None, overridden_by: str | None) -> Check:
    label = "Previous round's bounce rate"
    if previous is None:
        return Check("bounce", label, PASS, "this is the first round")
    state = previous["state"]
    if state in NOT_SENT:
        return Check("bounce", label, PASS, f"round {previous['number']} was not sent ({state})")
    if state not in SENT:
        return Check("bounce", label, WARN, f"round {previous['number']} has not been sent yet ({state})")
    if bounce_rate is None:
        return Check("bounce", label, WARN, f"round {previous['number']} was sent but has no numbers yet")
    if bounce_rate >= BOUNCE_CRITICAL:
        if overridden_by:
            return Check("bounce", label, WARN, f"{bounce_rate:.1%} (critical ≥ {BOUNCE_CRITICAL:.0%}), overridden by <@{overridden_by}>")
        return Check("bounce", label, FAIL, f"round {previous['number']} bounced {bounce_rate:.1%} (critical ≥ {BOUNCE_CRITICAL:.0%})")
    return Check("bounce", label, PASS, f"round {previous['number']} bounced {bounce_rate:.1%}")


def timing(*, in_future: bool, planner_chose: bool, on_allowed_slot: bool, shown: str) -> Check:
    label = "Send instant"
    if not in_future:
        return Check("timing", label, FAIL, f"{shown} is not in the future")
    if planner_chose and not on_allowed_slot:
        return Check("timing", label, FAIL, f"{shown} is not on an allowed day and time of this campaign")
    return Check("timing", label, PASS, shown + ("" if planner_chose else " (given explicitly)"))


def holiday(name: str | None, calendar: str, day: date) -> Check:
    """A send instant on a public holiday of the campaign's calendar warns; it never blocks
    (planning never picks one, so only an explicit instant lands here)."""
    label = "Public holiday"
    if name:
        return Check("holiday", label, WARN, f"{day:%a} {day.day} {day:%b %Y} is {name} ({calendar}): "
                                             "the round still goes out then unless it is rescheduled")
    return Check("holiday", label, PASS, f"{day:%a} {day.day} {day:%b %Y} is not a public holiday ({calendar})")


def content_hash(draft: dict[str, Any] | None, content: dict[str, Any] | None) -> str:
    """What an approval is an approval of: subject, sender, list and content."""
    draft = draft or {}
    content = content or {}
    parts = [
        str(draft.get("Subject") or ""), str(draft.get("SenderName") or draft.get("Sender") or ""),
        str(draft.get("SenderEmail") or ""), str(draft.get("ContactsListID") or ""),
        str(content.get("Html-part") or ""), str(content.get("Text-part") or ""),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def passed(checks: list[Check]) -> bool:
    return all(c.status != FAIL for c in checks)
