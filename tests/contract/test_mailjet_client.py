"""Mailjet's documented behaviours, driven with the real mailjet-rest client (through our
`bot.mailjet.Mailjet`) against the stand-in over HTTPS, where mailjet-rest mounts its own
retrying adapter, as in production.

Sources: mailjet-rest 1.9.1 `client.py` (JitterRetry with POST allowed, https only) and
`utils/guardrails.py` (allowed hosts); Mailjet api-documentation `guides/_newsletter.md`
(send answers "programmed", Status 1 then 2) and the rate-limit reference (429 per key)."""

from __future__ import annotations

import asyncio
import time

import pytest
from mailjet_rest import Client
from mailjet_rest.errors import ApiError, ValidationError

from bot.mailjet import Mailjet, MailjetError
from tests.support.harness import MAILJET_KEY, MAILJET_SECRET
from tests.support.world import SENDER, seed_account


@pytest.fixture
def client(mailjet) -> Mailjet:
    assert mailjet.api_url.startswith("https://")
    mj = Mailjet(MAILJET_KEY, MAILJET_SECRET, mailjet.api_url, timeout=5, settle_pause=0.05)
    yield mj
    mj.close()


def sendable_draft(mailjet) -> int:
    account = seed_account(mailjet, contacts=3, unsubscribed=0, excluded=0)
    mailjet.edit_draft(account.template_draft, ContactsListID=account.master_list)
    return account.template_draft


def requests_to(mailjet, method: str, path_end: str) -> list[dict]:
    return [r for r in mailjet.requests if r["method"] == method and r["path"].endswith(path_end)]


async def test_the_library_alone_repeats_a_post_whose_answer_was_lost(mailjet):
    """Why bot/mailjet.py mounts its own policy: over https mailjet-rest's default adapter
    sends a create again after a 502, and Mailjet then refuses the name it already took."""
    raw = Client(auth=(MAILJET_KEY, MAILJET_SECRET), api_url=mailjet.api_url, version="v3", timeout=5)
    mailjet.fail_next("POST", r"/contactslist$", status=502, apply_first=True)
    try:
        with pytest.raises(ApiError):
            await asyncio.to_thread(raw.contactslist.create, data={"Name": "doubled"})
    finally:
        raw.close()
    assert len(requests_to(mailjet, "POST", "/contactslist")) >= 2


async def test_a_create_whose_answer_was_lost_is_adopted_not_repeated(mailjet, client):
    mailjet.fail_next("POST", r"/contactslist$", status=502, apply_first=True)
    list_id, found = await client.ensure_list("once")
    assert found and [l["ID"] for l in mailjet.lists() if l["Name"] == "once"] == [list_id]
    assert len(requests_to(mailjet, "POST", "/contactslist")) == 1


async def test_a_draft_create_lost_twice_leaves_one_draft(mailjet, client):
    account = seed_account(mailjet, contacts=3, unsubscribed=0, excluded=0)
    settings = {"Title": "t", "Locale": "en_GB", "Sender": "Ops", "SenderName": "Ops", "SenderEmail": SENDER,
                "Subject": "s", "ContactsListID": account.master_list}
    mailjet.fail_next("POST", r"/campaigndraft$", status=504, apply_first=True)
    draft_id, _ = await client.ensure_draft(account.master_list, settings)
    on_list = [d for d in mailjet.drafts() if d["ContactsListID"] == account.master_list and d["Status"] >= 0]
    assert [d["ID"] for d in on_list] == [draft_id]


async def test_reads_are_retried_on_5xx_and_429_honouring_retry_after(mailjet, client):
    mailjet.fail_next("GET", r"/contactslist$", status=503, times=2)
    assert await client.check_credentials() >= 0
    assert len(requests_to(mailjet, "GET", "/contactslist")) == 3
    mailjet.fail_next("GET", r"/contactslist$", status=429, retry_after=1)
    started = time.monotonic()
    await client.check_credentials()
    assert time.monotonic() - started >= 0.9  # waited as Mailjet asked


async def test_a_send_is_never_repeated_after_a_5xx_but_is_after_a_429(mailjet, client):
    draft = sendable_draft(mailjet)
    mailjet.fail_next("POST", r"/send$", status=500)
    with pytest.raises(MailjetError) as raised:
        await client.send_draft(draft)
    assert raised.value.ambiguous and not raised.value.rate_limited
    assert len(mailjet.send_attempts) == 1  # a 5xx may come after the send: never repeated blindly

    mailjet.fail_next("POST", r"/send$", status=429, times=2, retry_after=1)
    await client.send_draft(draft)  # 429 changed nothing: the transport tries again
    assert [a["status"] for a in mailjet.send_attempts] == [500, 429, 429, 201]


async def test_a_send_refused_for_too_long_reads_as_rate_limited(mailjet, client):
    draft = sendable_draft(mailjet)
    mailjet.fail_next("POST", r"/send$", status=429, times=10)
    with pytest.raises(MailjetError) as raised:
        await client.send_draft(draft)
    assert raised.value.rate_limited and not raised.value.ambiguous
    assert mailjet.sends == []


async def test_a_send_is_carried_out_in_the_background(mailjet, client):
    draft = sendable_draft(mailjet)
    answer = await client.send_draft(draft)
    assert answer["Data"] == [{"Status": "Programmed"}]
    assert await client.sent_campaign(draft) == (1, None)  # being sent: no campaign id yet
    with pytest.raises(MailjetError) as raised:
        await client.send_draft(draft)  # a draft being sent is not sent again
    assert raised.value.status == 400
    mailjet.finish_sends()
    status, campaign_id = await client.sent_campaign(draft)
    assert status == 2 and campaign_id == mailjet.sends[0]["campaign_id"]


def test_the_client_refuses_hosts_other_than_mailjet_and_loopback():
    with pytest.raises(ValueError):
        Mailjet("k", "s", "https://mailjet.example.org/")
