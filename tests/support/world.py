"""A small, realistic Mailjet account on the stand-in (seeded by localrun/, as the demo's is),
and helpers to read the channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from localrun.seeding import Account, Template
from localrun.seeding import seed_account as seed_on_standin
from standins.mailjet import MailjetStandin
from standins.slack import Message, SlackStandin

SENDER = "news@example.com"
TEMPLATE_HTML = '<p>Hello</p><p><a href="https://example.com/offer">Offer</a></p><p>[[UNSUB_LINK_EN]]</p>'
TEST_OFFSETS = "prelaunch:-1h,preflight:-30m,warning:-15m,wrapup:+2h,cleanup:+24h"


TEMPLATE = Template(title="Newsletter template", subject="Our autumn letter", html=TEMPLATE_HTML,
                    text="Hello [[UNSUB_LINK_EN]]")


def seed_account(mailjet: MailjetStandin, *, contacts: int = 30, unsubscribed: int = 2, excluded: int = 1,
                 first_id: int = 5001) -> Account:
    """A master list of `contacts` (IDs from `first_id`), a few unsubscribed or excluded, and a template."""
    return seed_on_standin(mailjet, sender=SENDER, sender_name="Ops Team", list_name="users", contacts=contacts,
                           first_id=first_id, template=TEMPLATE,
                           unsubscribed=range(first_id + 3, first_id + 3 + unsubscribed),
                           excluded=range(first_id + 10, first_id + 10 + excluded))


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
