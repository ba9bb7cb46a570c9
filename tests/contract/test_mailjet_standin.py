"""The Mailjet stand-in, driven through the real mailjet_rest client over loopback."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from mailjet_rest import Client
from mailjet_rest.errors import ApiError, DoesNotExistError, MailjetAuthError, ValidationError
from mailjet_rest.errors import TimeoutError as MailjetTimeoutError

from standins.mailjet import MailjetStandin

SENDER = "news@example.com"


@pytest.fixture
async def standin():
    server = MailjetStandin()
    await server.start()
    yield server
    await server.stop()


def client_for(
    standin: MailjetStandin, *, key: str = "mj-key", secret: str = "mj-secret", timeout: float = 5
) -> Client:
    return Client(auth=(key, secret), api_url=standin.api_url, version="v3", timeout=timeout)


@pytest.fixture
def mj(standin):
    client = client_for(standin)
    yield client
    client.close()


async def call(method, **kwargs) -> dict:
    """Run one blocking mailjet_rest call off the loop and return the decoded body."""
    response = await asyncio.to_thread(method, **kwargs)
    return response.json() if response.content else {}


def seeded_list(standin: MailjetStandin, count: int = 5, **kwargs) -> int:
    list_id = standin.create_list("weekly")
    standin.add_contacts(list_id, count, **kwargs)
    return list_id


async def create_draft(mj: Client, list_id: int, **overrides) -> int:
    data = {
        "Locale": "en_US",
        "Sender": "News",
        "SenderEmail": SENDER,
        "Subject": "Round 1",
        "ContactsListID": list_id,
        "Title": "weekly round 1",
    } | overrides
    body = await call(mj.campaigndraft.create, data=data)
    return body["Data"][0]["ID"]


async def ready_draft(standin: MailjetStandin, mj: Client, recipients: int = 5) -> int:
    standin.add_sender(SENDER)
    draft_id = await create_draft(mj, seeded_list(standin, recipients))
    await call(
        mj.campaigndraft_detailcontent.create,
        id=draft_id,
        data={"Html-part": "<p>Hi</p>", "Text-part": "Hi"},
    )
    return draft_id


async def test_contactslist_create_and_duplicate_name(standin, mj):
    created = await call(mj.contactslist.create, data={"Name": "weekly-digest"})
    assert created["Count"] == 1
    row = created["Data"][0]
    assert (
        row["Name"] == "weekly-digest" and row["SubscriberCount"] == 0 and row["IsDeleted"] is False
    )

    with pytest.raises(ValidationError, match="already exists"):
        await call(mj.contactslist.create, data={"Name": "weekly-digest"})

    found = await call(mj.contactslist.get, filters={"Name": "weekly-digest"})
    assert [r["ID"] for r in found["Data"]] == [row["ID"]]
    await call(mj.contactslist.delete, id=row["ID"])
    assert (await call(mj.contactslist.get, id=row["ID"]))["Data"][0]["IsDeleted"] is True


async def test_managemanycontacts_job_applies_when_it_completes(standin):
    standin = MailjetStandin(job_polls_before_complete=2)
    await standin.start()
    mj = client_for(standin)
    try:
        list_id = standin.create_list("weekly")
        contacts = [{"Email": f"p{i}@example.org", "Name": f"P{i}"} for i in range(3)]
        job = await call(
            mj.contactslist_managemanycontacts.create,
            id=list_id,
            data={"Action": "addnoforce", "Contacts": contacts},
        )
        job_id = job["Data"][0]["JobID"]

        statuses = []
        for _ in range(3):
            body = await call(mj.contactslist_managemanycontacts.get, id=list_id, action_id=job_id)
            statuses.append(body["Data"][0]["Status"])
            if statuses[-1] == "In Progress":
                assert standin.list_member_emails(list_id) == []
        assert statuses == ["In Progress", "In Progress", "Completed"]
        done = body["Data"][0]
        assert done["Count"] == 3 and done["ContactsLists"] == [
            {"ListID": list_id, "Action": "addnoforce"}
        ]
        assert done["JobEnd"] and done["Error"] == ""
        assert standin.list_member_emails(list_id) == [
            "p0@example.org",
            "p1@example.org",
            "p2@example.org",
        ]
    finally:
        mj.close()
        await standin.stop()


async def test_managemanycontacts_actions_follow_mailjet_rules(standin, mj):
    list_id = standin.create_list("weekly")

    async def manage(action: str, *emails: str) -> None:
        data = {"Action": action, "Contacts": [{"Email": e} for e in emails]}
        await call(mj.contactslist_managemanycontacts.create, id=list_id, data=data)

    await manage("addforce", "a@example.org", "b@example.org", "c@example.org")
    await manage("unsub", "b@example.org")
    await manage("addnoforce", "b@example.org")  # does not resubscribe
    assert standin.list_member_emails(list_id) == ["a@example.org", "c@example.org"]
    await manage("addforce", "b@example.org")  # does
    await manage("remove", "c@example.org")
    assert standin.list_member_emails(list_id) == ["a@example.org", "b@example.org"]
    assert (await call(mj.contactslist.get, id=list_id))["Data"][0]["SubscriberCount"] == 2

    with pytest.raises(ValidationError, match="Action"):
        await manage("subscribe", "d@example.org")


async def test_listrecipient_and_contact_paging(standin, mj):
    list_id = seeded_list(standin, 2500, unsubscribed={3, 2000})

    page = await call(
        mj.listrecipient.get, filters={"ContactsList": list_id, "Limit": 1000, "Offset": 2000}
    )
    # Count and Total describe the page, as Mailjet documents; countOnly gives the full size.
    assert page["Count"] == page["Total"] == 500
    first = page["Data"][0]
    assert (
        first["ContactID"] == 2001 and first["ListID"] == list_id and first["ListName"] == "weekly"
    )
    assert set(first) == {
        "ContactID",
        "ID",
        "IsActive",
        "IsUnsubscribed",
        "ListID",
        "ListName",
        "SubscribedAt",
        "UnsubscribedAt",
    }
    counted = await call(mj.listrecipient.get, filters={"ContactsList": list_id, "countOnly": 1})
    assert counted == {"Count": 2500, "Data": [], "Total": 2500}

    subscribed = await call(
        mj.listrecipient.get, filters={"ContactsList": list_id, "Unsub": "false", "countOnly": 1}
    )
    assert subscribed["Total"] == 2498
    unsubscribed = await call(
        mj.listrecipient.get, filters={"ContactsList": list_id, "Unsub": "true"}
    )
    assert [r["ContactID"] for r in unsubscribed["Data"]] == [3, 2000]

    streamed = await asyncio.to_thread(
        lambda: list(mj.contact.stream(filters={"ContactsList": list_id}))
    )
    assert len(streamed) == 2500 and streamed[-1]["Email"] == "user2500@example.com"
    newest = await call(
        mj.contact.get, filters={"ContactsList": list_id, "Sort": "ID DESC", "Limit": 2}
    )
    assert [c["ID"] for c in newest["Data"]] == [2500, 2499]
    default = await call(mj.contact.get, filters={"ContactsList": list_id})
    assert len(default["Data"]) == 10

    by_email = await call(mj.contact.get, id="user7@example.com")
    assert by_email["Data"][0]["ID"] == 7
    with pytest.raises(DoesNotExistError):
        await call(mj.contact.get, id=999_999)
    with pytest.raises(DoesNotExistError):
        await call(mj.listrecipient.get, id=12345)


async def test_draft_validation(standin, mj):
    list_id = seeded_list(standin)
    with pytest.raises(ValidationError, match="not a sender"):
        await create_draft(mj, list_id)
    standin.add_sender(SENDER)
    with pytest.raises(ValidationError, match="Missing required properties: Locale"):
        await call(
            mj.campaigndraft.create,
            data={"Sender": "N", "SenderEmail": SENDER, "Subject": "s", "ContactsListID": list_id},
        )

    draft_id = await create_draft(mj, list_id)
    with pytest.raises(ValidationError, match="no content"):
        await call(mj.campaigndraft_send.create, id=draft_id)
    with pytest.raises(ValidationError, match="no content"):
        await call(
            mj.campaigndraft_test.create,
            id=draft_id,
            data={"Recipients": [{"Email": "me@example.org"}]},
        )
    assert standin.sends == []


async def test_detailcontent_post_blanks_and_put_keeps(standin, mj):
    standin.add_sender(SENDER)
    draft_id = await create_draft(mj, seeded_list(standin))
    await call(
        mj.campaigndraft_detailcontent.create,
        id=draft_id,
        data={"Html-part": "<p>A</p>", "Text-part": "A"},
    )
    await call(mj.campaigndraft_detailcontent.update, id=draft_id, data={"Text-part": "B"})
    content = (await call(mj.campaigndraft_detailcontent.get, id=draft_id))["Data"][0]
    assert (content["Html-part"], content["Text-part"]) == ("<p>A</p>", "B")
    await call(mj.campaigndraft_detailcontent.create, id=draft_id, data={"Text-part": "C"})
    content = (await call(mj.campaigndraft_detailcontent.get, id=draft_id))["Data"][0]
    assert content == {"Headers": {}, "Html-part": "", "MJMLContent": "", "Text-part": "C"}


async def test_send_creates_campaign_once(standin, mj):
    draft_id = await ready_draft(standin, mj, recipients=5)
    sent = await call(mj.campaigndraft_send.create, id=draft_id)
    assert sent["Data"] == [{"Status": "Programmed"}]
    # Mailjet sends in the background: programmed, no campaign yet, and no second send.
    draft = (await call(mj.campaigndraft.get, id=draft_id))["Data"][0]
    assert draft["Status"] == 1 and draft["CampaignID"] == 0
    with pytest.raises(DoesNotExistError):
        await call(mj.campaign.get, id=f"mj.nl={draft_id}")
    with pytest.raises(ValidationError, match="must be Draft"):
        await call(mj.campaigndraft_send.create, id=draft_id)
    standin.finish_sends()

    draft = (await call(mj.campaigndraft.get, id=draft_id))["Data"][0]
    assert draft["Status"] == 2 and draft["CampaignID"] >= 7_758_000_001
    assert (await call(mj.campaigndraft_status.get, id=draft_id))["Data"] == [{"Status": "Sent"}]
    campaign = (await call(mj.campaign.get, id=f"mj.nl={draft_id}"))["Data"][0]
    assert campaign["ID"] == draft["CampaignID"] and campaign["NewsLetterID"] == draft_id
    assert campaign == standin.campaign_for_draft(draft_id)

    with pytest.raises(ValidationError, match="must be Draft"):
        await call(mj.campaigndraft_send.create, id=draft_id)
    assert len(standin.sends) == 1
    send = standin.sends[0]
    assert (send["draft_id"], send["campaign_id"], send["recipients"]) == (
        draft_id,
        campaign["ID"],
        5,
    )
    assert send["at"].tzinfo is not None
    assert [(a["status"], a["accepted"]) for a in standin.send_attempts] == [
        (201, True),
        (400, False),
        (400, False),
    ]
    assert standin.schedule_calls == []


async def test_send_accepted_but_answer_lost_as_500(standin, mj):
    draft_id = await ready_draft(standin, mj)
    standin.fail_next("POST", r"/campaigndraft/\d+/send$", status=500, apply_first=True)
    with pytest.raises(ApiError) as raised:
        await call(mj.campaigndraft_send.create, id=draft_id)
    assert not isinstance(raised.value, ValidationError)
    assert len(standin.sends) == 1
    assert (await call(mj.campaigndraft.get, id=draft_id))["Data"][0]["Status"] == 1  # being sent


async def test_send_accepted_but_client_times_out(standin):
    mj = client_for(standin, timeout=1)
    try:
        draft_id = await ready_draft(standin, mj)
        standin.fail_next("POST", r"/campaigndraft/\d+/send$", apply_first=True, delay=2)
        with pytest.raises(MailjetTimeoutError):
            await call(mj.campaigndraft_send.create, id=draft_id)
        assert len(standin.sends) == 1
        assert standin.draft(draft_id)["Status"] == 1  # accepted, being sent in the background
    finally:
        mj.close()


async def test_fail_next_without_apply_changes_nothing(standin, mj):
    standin.fail_next("POST", r"/contactslist$", status=503, times=2)
    for _ in range(2):
        with pytest.raises(ApiError):
            await call(mj.contactslist.create, data={"Name": "weekly"})
    assert (await call(mj.contactslist.create, data={"Name": "weekly"}))["Data"][0][
        "Name"
    ] == "weekly"


async def test_statcounters_messages_and_bounces(standin, mj):
    draft_id = await ready_draft(standin, mj, recipients=10)
    await call(mj.campaigndraft_send.create, id=draft_id)
    standin.finish_sends()
    campaign_id = standin.sends[0]["campaign_id"]
    filters = {
        "CounterSource": "Campaign",
        "CounterTiming": "Message",
        "CounterResolution": "Lifetime",
        "SourceId": campaign_id,
    }

    queued = (await call(mj.statcounters.get, filters=filters))["Data"][0]
    assert queued["Total"] == queued["MessageQueuedCount"] == 10 and queued["MessageSentCount"] == 0

    marked = {
        "user3@example.com": "hard",
        "user4@example.com": "soft",
        "user5@example.com": "blocked",
    }
    standin.set_outcome(
        campaign_id, delivered=7, hard=1, soft=1, opened=4, clicked=2, bounce_emails=marked
    )
    stats = (await call(mj.statcounters.get, filters=filters))["Data"][0]
    assert stats["SourceID"] == campaign_id
    assert (
        stats["MessageSentCount"],
        stats["MessageHardBouncedCount"],
        stats["MessageSoftBouncedCount"],
    ) == (7, 1, 1)
    assert (
        stats["MessageBlockedCount"],
        stats["MessageOpenedCount"],
        stats["EventClickedCount"],
    ) == (1, 4, 2)
    assert stats["MessageQueuedCount"] == 0

    hard = await call(
        mj.message.get,
        filters={"Campaign": campaign_id, "MessageStatus": 10, "ShowContactAlt": "true"},
    )
    assert [(m["ContactAlt"], m["Status"], m["StatePermanent"]) for m in hard["Data"]] == [
        ("user3@example.com", "hardbounced", True)
    ]
    any_bounce = await call(mj.message.get, filters={"Campaign": campaign_id, "MessageStatus": 5})
    assert [m["ContactID"] for m in any_bounce["Data"]] == [3, 4]
    all_messages = await call(mj.message.get, filters={"Campaign": campaign_id, "Limit": 0})
    assert len(all_messages["Data"]) == 10
    assert {m["Status"] for m in all_messages["Data"]} == {
        "sent",
        "hardbounced",
        "softbounced",
        "blocked",
    }

    bounces = await call(mj.bouncestatistics.get, filters={"CampaignID": campaign_id})
    assert [(b["ContactID"], b["IsStatePermanent"]) for b in bounces["Data"]] == [
        (3, True),
        (4, False),
    ]

    with pytest.raises(ValidationError, match="SourceId"):
        await call(
            mj.statcounters.get, filters={k: v for k, v in filters.items() if k != "SourceId"}
        )


async def test_auth_failure_and_unknown_filter(standin, mj):
    bad = client_for(standin, secret="wrong")
    try:
        with pytest.raises(MailjetAuthError):
            await call(bad.contactslist.get)
    finally:
        bad.close()
    # campaign has no NewsLetterID filter in Mailjet; real Mailjet would not filter by it.
    with pytest.raises(ValidationError, match="Invalid filter"):
        await call(mj.campaign.get, filters={"NewsLetterID": 1})
    assert standin.requests[0]["path"] == "/v3/REST/contactslist"


async def test_schedule_is_modelled_and_recorded(standin, mj):
    draft_id = await ready_draft(standin, mj)
    scheduled = await call(
        mj.campaigndraft_schedule.create, id=draft_id, data={"Date": "2099-12-01T09:00:00+00:00"}
    )
    assert scheduled["Data"] == [{"Date": "2099-12-01T09:00:00Z", "Status": "Programmed"}]
    assert standin.draft(draft_id)["Status"] == 1
    await call(mj.campaigndraft_schedule.delete, id=draft_id)
    assert standin.draft(draft_id)["Status"] == 0
    assert [c["method"] for c in standin.schedule_calls] == ["POST", "DELETE"]
    assert standin.sends == []


async def test_test_send_is_recorded_not_sent(standin, mj):
    draft_id = await ready_draft(standin, mj)
    body = await call(
        mj.campaigndraft_test.create,
        id=draft_id,
        data={"Recipients": [{"Email": "me@example.org", "Name": "Me"}]},
    )
    assert body["Data"] == [{"Status": "Draft"}]
    assert standin.test_sends[0]["recipients"] == ["me@example.org"]
    assert standin.sends == [] and standin.draft(draft_id)["Status"] == 0


async def test_add_200k_contacts_is_fast_and_pages_stay_cheap(standin, mj):
    list_id = standin.create_list("everyone")
    started = time.perf_counter()
    ids = standin.add_contacts(list_id, 200_000)
    assert time.perf_counter() - started < 3
    assert ids[0] == 1 and ids[-1] == 200_000

    started = time.perf_counter()
    last = await call(
        mj.listrecipient.get, filters={"ContactsList": list_id, "Limit": 1000, "Offset": 199_000}
    )
    contacts = await call(
        mj.contact.get, filters={"ContactsList": list_id, "Limit": 1000, "Offset": 199_000}
    )
    assert time.perf_counter() - started < 1
    assert len(last["Data"]) == 1000 and last["Data"][-1]["ContactID"] == 200_000
    assert contacts["Data"][0]["Email"] == "user199001@example.com"
    assert (await call(mj.contactslist.get, id=list_id))["Data"][0]["SubscriberCount"] == 200_000


async def test_control_surface_and_events(standin, mj):
    events = []
    standin.on_event = lambda kind, payload: events.append(kind)
    draft_id = await ready_draft(standin, mj, recipients=3)
    async with aiohttp.ClientSession(standin.api_url) as http:
        armed = await http.post(
            "/_standin/fail", json={"method": "POST", "path_regex": "/send$", "status": 502}
        )
        assert (await armed.json()) == {"ok": True}
        with pytest.raises(ApiError):
            await call(mj.campaigndraft_send.create, id=draft_id)
        await call(mj.campaigndraft_send.create, id=draft_id)
        standin.finish_sends()
        campaign_id = standin.sends[0]["campaign_id"]
        outcome = await http.post(
            "/_standin/outcome", json={"campaign_id": campaign_id, "delivered": 3}
        )
        assert outcome.status == 200
        sends = await (await http.get("/_standin/sends")).json()
        state = await (await http.get("/_standin/state")).json()
    assert sends["sends"][0]["draft_id"] == draft_id
    assert state["sends"] == 1 and state["send_attempts"] == 2 and state["pending_faults"] == []
    assert events == ["list_created", "contacts_changed", "draft_created", "send", "sent"]


class MovableClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def now(self):
        from datetime import UTC, datetime, timedelta

        return datetime.now(UTC) + timedelta(seconds=self.offset)


async def test_a_send_is_processed_in_the_background_for_a_while_by_the_clock():
    clock = MovableClock()
    standin = MailjetStandin(clock=clock, send_processing_seconds=60)
    await standin.start()
    mj = client_for(standin)
    try:
        draft_id = await ready_draft(standin, mj)
        await call(mj.campaigndraft_send.create, id=draft_id)
        clock.offset = 30
        draft = (await call(mj.campaigndraft.get, id=draft_id))["Data"][0]
        assert (draft["Status"], draft["CampaignID"]) == (1, 0)
        assert standin.sends[0]["campaign_id"] is None
        clock.offset = 61
        draft = (await call(mj.campaigndraft.get, id=draft_id))["Data"][0]
        assert draft["Status"] == 2 and draft["CampaignID"] == standin.sends[0]["campaign_id"]
    finally:
        mj.close()
        await standin.stop()


async def test_rate_limit_answers_429_with_retry_after(standin, mj):
    standin.limit_rate(0)  # every request is over the limit: deterministic on any machine
    with pytest.raises(ApiError) as raised:
        await call(mj.contactslist.get)
    assert raised.value.status_code == 429
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": aiohttp.encode_basic_auth("mj-key", "mj-secret")}
        async with http.get(standin.api_url + "v3/REST/contactslist", headers=auth) as response:
            assert response.status == 429 and response.headers["Retry-After"] == "1"
    assert standin.rate_limited == 2
    standin.limit_rate(None)
    await call(mj.contactslist.get)


async def test_latency_delays_every_answer_and_load_is_counted(standin, mj):
    standin.add_sender(SENDER)
    list_id = seeded_list(standin, 2)
    draft_ids = []
    for _ in range(3):
        draft_ids.append(await create_draft(mj, list_id))
        await call(mj.campaigndraft_detailcontent.create, id=draft_ids[-1], data={"Text-part": "Hi"})
    assert standin.max_in_flight == 1 and standin.max_sends_in_flight == 0  # one call after another
    standin.latency = 0.4
    started = time.monotonic()
    await call(mj.contactslist.get, filters={"countOnly": 1})
    assert time.monotonic() - started >= 0.4
    standin.reset_load_counters()
    # Three sends and two reads at once: all five are in flight together inside the delay.
    await asyncio.gather(*(call(mj.campaigndraft_send.create, id=d) for d in draft_ids),
                         *(call(mj.campaigndraft.get, id=d) for d in draft_ids[:2]))
    assert standin.max_in_flight == 5 and standin.max_sends_in_flight == 3
    assert standin.max_started_per_second == 5
    assert standin.in_flight == 0 and standin.sends_in_flight == 0
    assert len(standin.sends) == 3
    async with aiohttp.ClientSession(standin.api_url) as http:
        state = await (await http.get("/_standin/state")).json()
    assert state["max_in_flight"] == 5 and state["max_sends_in_flight"] == 3 and state["latency"] == 0.4
