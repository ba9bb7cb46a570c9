"""POST /mailjet/events over real HTTP on loopback, against a fresh migrated database.

The app is bot.http.build_http_app with bot.webhook.webhook_route, as the running product
builds it; Services carries real Settings, the test's pool and a clock; its Slack and Mailjet
doors are stubs that fail the test if anything touches them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from bot.clock import Clock
from bot.config import load_settings
from bot.http import build_http_app
from bot.roles import Roles
from bot.services import Services
from bot.webhook import MAX_BODY_BYTES, REALM, Accepted, Batch, BounceEvent, ingest, parse_batch, webhook_route
from storage.queries import Q

USER, PASSWORD = "mailjet-hook", "s3cret-webhook-pa55word"
URL_PATH = "/mailjet/events"


class _Untouchable:
    """Stands in for the Slack and Mailjet clients: the webhook must never call them."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"the webhook touched {self._name}.{attribute}")


def _services(pool: asyncpg.Pool, **settings: Any) -> Services:
    return Services(
        settings=load_settings(_env_file=None, **settings), pool=pool, clock=Clock(),
        mailjet=_untouchable("mailjet"), slack=_untouchable("slack"),  # type: ignore[arg-type]
        roles=Roles(frozenset(), frozenset(), frozenset()), instance_id="test-webhook",
    )


def _untouchable(name: str) -> Any:
    return _Untouchable(name)


Server = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve(pool: asyncpg.Pool) -> AsyncIterator[Server]:
    """Start the HTTP app on 127.0.0.1 (a free port); returns the endpoint's URL."""
    servers: list[TestServer] = []

    async def start(*, enabled: bool = True) -> str:
        credentials = {"MAILJET_WEBHOOK_USER": USER, "MAILJET_WEBHOOK_PASSWORD": PASSWORD} if enabled else {}
        services = _services(pool, **credentials)
        server = TestServer(build_http_app(services, [webhook_route(services)]), host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return str(server.make_url(URL_PATH))

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


AUTH = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}


# ---------------------------------------------------------------- events as Mailjet sends them

BASE_TIME = 1_795_000_000
BOUNCE_ERRORS = [("recipient", "user unknown"), ("domain", "no mail host"), ("content", "spam content")]


def _event(kind: str, message_id: int, at: int, rng: random.Random, *, url: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": kind, "time": at, "MessageID": message_id, "Message_GUID": f"guid-{message_id}",
        "email": f"user{message_id % 100_000}@example.{rng.choice(['com', 'org', 'net'])}",
        "mj_campaign_id": 7000 + message_id % 3, "mj_contact_id": message_id % 100_000,
        "customcampaign": "mj.nl=7257", "CustomID": "", "Payload": "",
    }
    if kind == "sent":
        event |= {"mj_message_id": str(message_id), "smtp_reply": "sent (250 2.0.0 OK)"}
    elif kind in ("open", "click"):
        event |= {"ip": "127.0.0.1", "geo": "GB", "agent": "Mozilla/5.0"}
        if kind == "click":
            event["url"] = url or f"https://example.com/offer/{rng.randrange(3)}?utm_source=mj"
    elif kind == "bounce":
        related, error = rng.choice(BOUNCE_ERRORS)
        event |= {"blocked": rng.random() < 0.2, "hard_bounce": rng.random() < 0.7,
                  "error_related_to": related, "error": error, "comment": "host said 550"}
    elif kind == "blocked":
        event |= {"error_related_to": "recipient", "error": rng.choice(["preblocked", "duplicate in campaign"])}
    elif kind == "spam":
        event["source"] = "JMRPP"
    elif kind == "unsub":
        event |= {"mj_list_id": 1, "ip": "127.0.0.1", "geo": "FR", "agent": "Mozilla/5.0"}
    return event


def mixed_batch(total: int, *, seed: int = 7, duplicate_share: float = 0.25) -> list[dict[str, Any]]:
    """`total` events of all seven types; about a quarter repeat an earlier event's dedupe key
    (some with other non-key fields, as a retried or re-sent event might have)."""
    rng = random.Random(seed)
    kinds = ["sent", "open", "click", "bounce", "blocked", "spam", "unsub"]
    events: list[dict[str, Any]] = []
    while len(events) < total:
        if events and rng.random() < duplicate_share:
            copy = dict(rng.choice(events))
            if rng.random() < 0.5:
                copy["agent"] = "Another/1.0"           # not part of the key: still a duplicate
                copy["x_mailjet_new_field"] = {"n": 1}
            events.append(copy)
            continue
        message_id = 19_421_777_835_146_490 + rng.randrange(4000)   # real-size MessageIDs, many shared
        at = BASE_TIME + rng.randrange(600)
        kind = rng.choice(kinds)
        event = _event(kind, message_id, at, rng)
        if rng.random() < 0.05:
            event["x_unknown"] = [1, "two", None]      # Mailjet adds fields: kept in raw
        events.append(event)
    rng.shuffle(events)
    return events


def dedupe_keys(events: list[dict[str, Any]]) -> set[tuple[str, int, int, str]]:
    return {(e["event"], e["MessageID"], e["time"], e.get("url", "") if e["event"] == "click" else "") for e in events}


async def _count(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM mailjet_events")


async def _post(http: aiohttp.ClientSession, url: str, body: Any, *, auth: dict[str, str] | None = AUTH,
                raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(auth or {}), **(headers or {})}
    async with http.post(url, data=data, headers=headers) as r:
        text = await r.text()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return r.status, payload, r.headers


# ---------------------------------------------------------------- the tests


async def test_a_big_mixed_batch_is_stored_once_per_dedupe_key_and_a_replay_adds_nothing(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    events = mixed_batch(10_000)
    keys = dedupe_keys(events)
    assert 5_000 < len(keys) < 10_000 and {e["event"] for e in events} == {
        "sent", "open", "click", "bounce", "blocked", "spam", "unsub"}

    status, body, _ = await _post(http, url, events)
    assert status == 200, body
    assert body == {"stored": len(keys), "duplicates": len(events) - len(keys)}
    assert await _count(pool) == len(keys)
    stored_keys = {(r["event"], r["message_id"], int(r["event_time"].timestamp()), r["url"])
                   for r in await pool.fetch("SELECT event, message_id, event_time, url FROM mailjet_events")}
    assert stored_keys == keys

    # Mailjet retries for 24 h: the same batch again stores nothing new.
    status, body, _ = await _post(http, url, events)
    assert status == 200 and body == {"stored": 0, "duplicates": len(events)}
    assert await _count(pool) == len(keys)

    # Columns come from Mailjet's fields; unknown fields are kept in raw.
    bounce = next(e for e in events if e["event"] == "bounce")
    row = await pool.fetchrow(
        "SELECT * FROM mailjet_events WHERE event = 'bounce' AND message_id = $1 AND event_time = $2",
        bounce["MessageID"], datetime.fromtimestamp(bounce["time"], UTC))
    assert (row["email"], row["campaign_id"], row["contact_id"]) == (
        bounce["email"], bounce["mj_campaign_id"], bounce["mj_contact_id"])
    assert (row["hard_bounce"], row["blocked"], row["error"], row["error_related_to"], row["url"]) == (
        bounce["hard_bounce"], bounce["blocked"], bounce["error"], bounce["error_related_to"], "")
    assert row["raw"]["comment"] == "host said 550" and row["received_at"] is not None
    assert await pool.fetchval("SELECT count(*) FROM mailjet_events WHERE raw ? 'x_unknown'") > 0
    assert await pool.fetchval(
        "SELECT count(*) FROM mailjet_events WHERE event = 'click' AND url LIKE 'https://example.com/offer/%'") > 0
    assert await pool.fetchval(
        "SELECT count(*) FROM mailjet_events WHERE event <> 'click' AND url <> ''") == 0


async def test_concurrent_deliveries_of_one_batch_store_it_once(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    events = mixed_batch(2_000, seed=11)
    results = await asyncio.gather(*(_post(http, url, events) for _ in range(3)))
    assert all(status == 200 for status, _, _ in results)
    assert sum(body["stored"] for _, body, _ in results) == len(dedupe_keys(events)) == await _count(pool)


async def test_clicks_on_different_links_and_different_event_types_are_different_events(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    rng = random.Random(1)
    long_link = "https://example.com/" + "x" * 5000      # past btree's row limit if it were indexed raw
    events = [_event("click", 1, BASE_TIME, rng, url="https://a.example/"),
              _event("click", 1, BASE_TIME, rng, url="https://b.example/"),
              _event("click", 1, BASE_TIME, rng, url=long_link),
              _event("click", 1, BASE_TIME, rng, url=long_link),
              _event("open", 1, BASE_TIME, rng),
              _event("open", 1, BASE_TIME + 1, rng)]
    status, body, _ = await _post(http, url, events)
    assert (status, body) == (200, {"stored": 5, "duplicates": 1})
    assert await _count(pool) == 5


async def test_empty_batch_is_fine(serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    assert (await _post(http, url, []))[:2] == (200, {"stored": 0, "duplicates": 0})
    assert await _count(pool) == 0


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


BAD_AUTHORIZATIONS = {
    "none": None,
    "wrong-user": _basic("someone-else", PASSWORD),
    "wrong-password": _basic(USER, "wrong-password"),
    "longer-password": _basic(USER, PASSWORD + "x"),
    "empty-password": _basic(USER, ""),
    "no-colon": "Basic " + base64.b64encode(f"{USER}{PASSWORD}".encode()).decode(),
    "garbage": "Basic not-base64!!",
    "bearer": f"Bearer {PASSWORD}",
}


async def test_missing_or_wrong_credentials_get_401_and_nothing_is_stored(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    batch = mixed_batch(50)
    for case, authorization in BAD_AUTHORIZATIONS.items():
        headers = {"Authorization": authorization} if authorization else {}
        status, body, response_headers = await _post(http, url, batch, auth=None, headers=headers)
        assert status == 401, case
        assert response_headers["WWW-Authenticate"] == f'Basic realm="{REALM}"', case
        assert PASSWORD not in json.dumps(body), case
    assert await _count(pool) == 0


async def test_right_credentials_pass(serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    status, _, _ = await _post(http, url, mixed_batch(10), auth=None, headers={"Authorization": _basic(USER, PASSWORD)})
    assert status == 200 and await _count(pool) > 0


async def test_invalid_json_is_400(serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    for raw in (b"[{\"event\": \"open\",", b"not json", b"\xff\xfe\x00garbage", b"",
                b'[{"event": "open", "time": NaN}]', b"[" * 100_000):
        status, body, _ = await _post(http, url, None, raw=raw)
        assert status == 400, raw[:40]
        assert "JSON" in body["error"]
    assert await _count(pool) == 0


async def test_a_single_object_is_400_naming_the_version_2_setting(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    status, body, _ = await _post(http, url, mixed_batch(1)[0])
    assert status == 400
    assert "Version 2" in body["error"] and "grouped" in body["error"]
    assert (await _post(http, url, "just a string"))[0] == 400
    assert await _count(pool) == 0


def _bad(change: dict[str, Any], drop: tuple[str, ...] = (), kind: str = "bounce") -> dict[str, Any]:
    event = _event(kind, 42, BASE_TIME, random.Random(3)) | change
    for name in drop:
        event.pop(name)
    return event


BAD_EVENTS = {
    "time-text": _bad({"time": "yesterday"}),
    "messageid-text": _bad({"MessageID": "abc"}),
    "unknown-type": _bad({"event": "delivered"}),
    "no-type": _bad({}, drop=("event",)),
    "no-messageid": _bad({}, drop=("MessageID",)),
    "no-time": _bad({}, drop=("time",)),
    "messageid-bool": _bad({"MessageID": True}),
    "messageid-too-big": _bad({"MessageID": 2**64}),
    "time-fraction": _bad({"time": 1.5}),
    "campaign-text": _bad({"mj_campaign_id": "seven"}),
    "hard-bounce-text": _bad({"hard_bounce": "perhaps"}),
    "email-number": _bad({"email": 12}),
    "click-no-url": _bad({}, drop=("url",), kind="click"),
    "list-id-array": _bad({"mj_list_id": [1]}, kind="unsub"),
    "string": "an event as a string",
    "null": None,
}


async def _rejects(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM mailjet_event_rejects ORDER BY received_at, position")


async def test_an_invalid_event_is_set_aside_and_the_rest_of_its_batch_is_stored(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    valid = mixed_batch(500, seed=5)
    keys = dedupe_keys(valid)
    for number, (case, bad_event) in enumerate(BAD_EVENTS.items(), start=1):
        status, body, _ = await _post(http, url, [*valid[:250], bad_event, *valid[250:]])
        assert status == 200, (case, body)
        # The first delivery stores the valid events; later ones find them all stored already.
        stored = len(keys) if number == 1 else 0
        assert body == {"stored": stored, "duplicates": len(valid) - stored, "set_aside": 1,
                        "invalid": [{"index": 250, "reason": body["invalid"][0]["reason"]}]}, case
        assert await _count(pool) == len(keys), case
        rejects = await _rejects(pool)
        assert len(rejects) == number, case
        assert (rejects[-1]["position"], rejects[-1]["raw"], rejects[-1]["times_received"]) == (250, bad_event, 1), case
        assert rejects[-1]["reason"] == body["invalid"][0]["reason"], case
    reason = {case: next(r["reason"] for r in await _rejects(pool) if r["raw"] == event)
              for case, event in BAD_EVENTS.items()}
    assert reason["messageid-text"].startswith("MessageID: Input should be a valid integer")
    assert reason["click-no-url"] == "url: Field required"
    assert "'delivered'" in reason["unknown-type"]
    assert reason["null"] == reason["string"] == "Input should be a valid dictionary or object to extract fields from"


async def test_a_batch_of_only_invalid_events_is_200_and_stores_no_event(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    bad = list(BAD_EVENTS.values())
    status, body, _ = await _post(http, url, bad)
    assert status == 200
    assert (body["stored"], body["duplicates"], body["set_aside"]) == (0, 0, len(bad))
    assert [item["index"] for item in body["invalid"]] == list(range(len(bad)))
    assert await _count(pool) == 0
    assert [row["raw"] for row in await _rejects(pool)] == bad


async def test_an_event_set_aside_again_is_counted_not_stored_twice(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    bad = BAD_EVENTS["time-text"]
    # Twice in one batch, the second copy with its keys in another order (the same JSON object).
    reordered = dict(reversed(list(bad.items())))
    assert (await _post(http, url, [bad, reordered, *mixed_batch(3)]))[0] == 200
    # Mailjet re-delivers the batch (our 200 was lost): still one row, now seen three times.
    status, body, _ = await _post(http, url, [bad, *mixed_batch(3)])
    assert status == 200 and body["set_aside"] == 1
    rejects = await _rejects(pool)
    assert len(rejects) == 1
    assert (rejects[0]["times_received"], rejects[0]["position"]) == (3, 0)
    assert rejects[0]["last_received_at"] >= rejects[0]["received_at"]


async def test_reports_never_read_a_set_aside_event(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    rng = random.Random(4)
    good = _event("bounce", 1, BASE_TIME, rng) | {"mj_campaign_id": 9001, "hard_bounce": True, "blocked": False}
    bad = _event("bounce", 2, BASE_TIME, rng) | {"mj_campaign_id": 9001, "hard_bounce": "perhaps", "blocked": False}
    status, body, _ = await _post(http, url, [good, bad])
    assert (status, body["stored"], body["set_aside"]) == (200, 1, 1)
    bounces = await pool.fetch(Q.bounce_events_of_campaign, 9001)
    assert [row["email"] for row in bounces] == [good["email"]]
    assert [row["contact_id"] for row in await pool.fetch(Q.contact_events_of_campaign, 9001)] == [good["mj_contact_id"]]


POISONS = {
    "nul-in-a-column": ({"email": "nul\u0000@example.com"}, {"email": "nul\\u0000@example.com"}),
    "nul-in-raw": ({"x_extra": "nul \u0000 in raw"}, {"x_extra": "nul \\u0000 in raw"}),
    "nul-in-a-key": ({"x\u0000key": 1}, {"x\\u0000key": 1}),
    "infinity": ({"x_extra": "HUGE"}, {"x_extra": "inf"}),
    "lone-surrogate": ({"agent": "lone \ud800 surrogate"}, {"agent": "lone \\ud800 surrogate"}),
    "lone-surrogate-in-a-column": ({"email": "lone\udc00@example.com"}, {"email": "lone\\udc00@example.com"}),
}


async def test_values_postgres_cannot_hold_are_set_aside_with_a_visible_copy(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    good = mixed_batch(300, seed=9)
    for number, (case, (poison, kept)) in enumerate(POISONS.items(), start=1):
        # 1e400 is valid JSON but becomes an infinite float, which jsonb cannot hold.
        raw = json.dumps([*good, _bad(poison)]).replace('"HUGE"', "1e400").encode()
        status, body, _ = await _post(http, url, None, raw=raw)
        assert status == 200, (case, body)
        assert body["set_aside"] == 1 and body["invalid"][0]["index"] == 300, (case, body)
        assert await _count(pool) == len(dedupe_keys(good)), case
        row = (await _rejects(pool))[-1]
        assert len(await _rejects(pool)) == number, case
        assert row["raw"] == _bad(kept), case                 # the offending value written out as text
        assert "cannot store" in row["reason"], case
    # Emoji and accents are not a problem: escaped the same way, stored as they are.
    fine = _bad({"email": "zoë😀@example.com", "x": "é\u00e9"})
    assert (await _post(http, url, [fine]))[1] == {"stored": 1, "duplicates": 0}
    assert await pool.fetchval("SELECT raw->>'email' FROM mailjet_events WHERE email LIKE 'zo%'") == "zoë😀@example.com"


async def test_an_event_the_database_still_refuses_is_found_and_set_aside_alone(pool: asyncpg.Pool) -> None:
    """parse_batch catches every value it knows Postgres refuses; this drives ingest with
    events it would have caught, as if one had slipped through, and the batch is halved until
    each refused event is alone: the others are stored in the same transaction."""
    good = parse_batch(json.dumps(mixed_batch(200, seed=2)).encode()).events
    slipped = []
    for position, poison in ((17, {"error": "a\u0000b"}), (150, {"email": "lone\ud800"})):
        raw = _bad({"MessageID": 10 + position})                # a bounce, MessageID 27 or 160
        event = BounceEvent.model_validate(raw).model_copy(update=poison)
        slipped.append(Accepted(event, json.dumps(raw | poison), position))
    events = [*good[:17], slipped[0], *good[17:150], slipped[1], *good[150:]]
    async with pool.acquire() as connection:
        outcome = await ingest(connection, Batch(events, [], len(events)))
        assert [item.position for item in outcome.set_aside] == [17, 150]
        assert all(item.reason.startswith("the database refused it (") for item in outcome.set_aside)
        assert outcome.stored == len(dedupe_keys(mixed_batch(200, seed=2)))
        assert outcome.stored + outcome.duplicates == len(good)
        assert await connection.fetchval("SELECT count(*) FROM mailjet_events") == outcome.stored
        assert await connection.fetchval("SELECT count(*) FROM mailjet_events WHERE message_id IN (27, 160)") == 0
        rejects = await connection.fetch("SELECT position, raw FROM mailjet_event_rejects ORDER BY position")
        assert [(r["position"], r["raw"]["MessageID"]) for r in rejects] == [(17, 27), (150, 160)]
        # The connection and its staging table still work; a replay stores nothing new.
        again = await ingest(connection, Batch(good, [], len(good)))
        assert (again.stored, again.duplicates, again.set_aside) == (0, len(good), [])


async def test_a_body_over_10_mb_is_413(serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    event = json.dumps(_event("open", 1, BASE_TIME, random.Random(0)))
    count = MAX_BODY_BYTES // len(event) + 10
    big = ("[" + ",".join([event] * count) + "]").encode()
    assert len(big) > MAX_BODY_BYTES
    status, _, _ = await _post(http, url, None, raw=big)                 # Content-Length says it
    assert status == 413

    async def chunked() -> AsyncIterator[bytes]:                          # no Content-Length: counted
        for start in range(0, len(big), 1 << 20):
            yield big[start:start + (1 << 20)]

    async with http.post(url, data=chunked(), headers=AUTH) as response:
        assert response.status == 413
    assert await _count(pool) == 0

    # Exactly at the limit is accepted (and stored once: every copy is the same event).
    padded = ("[" + ",".join([event] * ((MAX_BODY_BYTES - 2) // (len(event) + 1))) + "]").encode()
    padded = padded[:-1] + b" " * (MAX_BODY_BYTES - len(padded)) + b"]"
    assert len(padded) == MAX_BODY_BYTES
    status, body, _ = await _post(http, url, None, raw=padded)
    assert status == 200 and body["stored"] == 1


async def test_the_endpoint_is_404_while_the_credentials_are_unset(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve(enabled=False)
    assert (await _post(http, url, mixed_batch(5)))[0] == 404
    assert (await _post(http, url, mixed_batch(5), auth=None))[0] == 404
    assert await _count(pool) == 0


async def test_logs_carry_counts_not_credentials_or_addresses(
        serve: Server, http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    url = await serve()
    events = mixed_batch(20, seed=3)
    with capture_logs() as logs:
        await _post(http, url, events)
        await _post(http, url, [*events, {"event": "open", "email": "secret.person@example.org"}])
        await _post(http, url, events, auth={"Authorization": aiohttp.encode_basic_auth(USER, "guess")})
    text = json.dumps(logs, default=str)
    stored = next(line for line in logs if line["event"] == "mailjet events stored")
    assert stored["received"] == 20 and stored["stored"] + stored["duplicates"] == 20
    set_aside = [line for line in logs if line["event"] == "mailjet webhook: events set aside"]
    assert len(set_aside) == 1 and set_aside[0]["set_aside"] == 1 and set_aside[0]["log_level"] == "warning"
    assert set_aside[0]["problems"] == {"time:missing": 1, "MessageID:missing": 1}
    assert PASSWORD not in text and "guess" not in text and "@example." not in text and USER not in text
