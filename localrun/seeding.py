"""A Mailjet account on the stand-in: a sender, a master list of contacts (some unsubscribed or
excluded from campaigns) and a template draft, as a customer's account holds them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from standins.mailjet import MailjetStandin


@dataclass
class Account:
    master_list: int
    template_draft: int
    contact_ids: list[int]
    unsubscribed: set[int] = field(default_factory=set)
    excluded: set[int] = field(default_factory=set)
    lists: dict[str, int] = field(default_factory=dict)  # further lists, by name


@dataclass(frozen=True)
class Template:
    title: str
    subject: str
    html: str
    text: str


def seed_account(mailjet: MailjetStandin, *, sender: str, sender_name: str, list_name: str, contacts: int,
                 first_id: int, template: Template, unsubscribed: Iterable[int] = (), excluded: Iterable[int] = (),
                 domain: str = "example.com") -> Account:
    """`contacts` contacts user{ID}@`domain` (IDs from `first_id`) in the list `list_name`, those
    in `unsubscribed` and `excluded` marked so, an active `sender` and the `template` draft."""
    mailjet.add_sender(sender, name=sender_name)
    master = mailjet.create_list(list_name)
    unsub, excl = set(unsubscribed), set(excluded)
    ids = mailjet.add_contacts(master, contacts, start_id=first_id, domain=domain, unsubscribed=unsub, excluded=excl)
    draft = mailjet.create_draft(title=template.title, subject=template.subject, sender_email=sender,
                                 sender_name=sender_name, html=template.html, text=template.text)
    return Account(master, draft, ids, unsub, excl)


def add_list(mailjet: MailjetStandin, account: Account, name: str, contacts: int, *, first_id: int,
             domain: str) -> int:
    """Another list of `contacts` new contacts, kept in `account.lists[name]`; its id."""
    list_id = mailjet.create_list(name)
    mailjet.add_contacts(list_id, contacts, start_id=first_id, domain=domain)
    account.lists[name] = list_id
    return list_id
