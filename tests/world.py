"""A small, realistic Mailjet account on the stand-in, and helpers to read the channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.mailjet import MailjetStandin
from standins.slack import Message, SlackStandin

SENDER = "news@example.com"
TEMPLATE_HTML = '<p>Hello</p><p><a href="https://example.com/offer">Offer</a></p><p>[[UNSUB_LINK_EN]]</p>'
TEST_OFFSETS = "prelaunch:-1h,preflight:-30m,warning:-15m,wrapup:+2h,cleanup:+24h"


@dataclass
class Account:
    master_list: int
    template_draft: int
    contact_ids: list[int]
    unsubscribed: set[int] = field(default_factory=set)
    excluded: set[int] = field(default_factory=set)


def seed_account(mailjet: MailjetStandin, *, contacts: int = 30, unsubscribed: int = 2, excluded: int = 1,
                 first_id: int = 5001) -> Account:
    """A master list of `contacts` (IDs from `first_id`), a few unsubscribed or excluded, and a template."""
    mailjet.add_sender(SENDER, name="Ops Team")
    master = mailjet.create_list("users")
    unsub = set(range(first_id + 3, first_id + 3 + unsubscribed))
    excl = set(range(first_id + 10, first_id + 10 + excluded))
    ids = mailjet.add_contacts(master, contacts, start_id=first_id, unsubscribed=unsub, excluded=excl)
    template = mailjet.create_draft(title="Newsletter template", subject="Our autumn letter", sender_email=SENDER,
                                    sender_name="Ops Team", html=TEMPLATE_HTML, text="Hello [[UNSUB_LINK_EN]]")
    return Account(master, template, ids, unsub, excl)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instants(first_in: timedelta, count: int, spacing: timedelta = timedelta(minutes=10)) -> list[datetime]:
    start = datetime.now(UTC).replace(microsecond=0) + first_in
    return [start + spacing * i for i in range(count)]


def lifecycle(message: Message) -> dict[str, Any] | None:
    metadata = message.metadata or {}
    if metadata.get("event_type") != "campaign_lifecycle":
        return None
    return metadata["event_payload"]


def stage_messages(slack: SlackStandin, stage: str, round_number: int | None = None) -> list[Message]:
    found = []
    for message in slack.messages:
        payload = lifecycle(message)
        if payload and payload["stage"] == stage and (round_number is None or payload["round"] == round_number):
            found.append(message)
    return found
