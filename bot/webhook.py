"""`POST /mailjet/events`: Mailjet's Event API webhook (Version 2 batches, basic auth, deduplicated).

Mailjet posts Version 2 ("grouped") batches: a JSON array holding every event of the last
second, of mixed types. It signs nothing and sends no event id; it retries any non-200
every 30 s for 24 h and then drops the whole batch. So this endpoint:

* answers 404 while MAILJET_WEBHOOK_USER / MAILJET_WEBHOOK_PASSWORD are both empty (off);
* checks basic auth in constant time (401 with a `WWW-Authenticate` challenge otherwise);
* refuses bodies over 10 MB (413), by Content-Length first and by counting what it reads;
* refuses a body that is not JSON, a single object (the Version 1 "ungrouped" setting) or
  any other JSON that is not an array (400): nothing of such a request is stored;
* takes an array whole otherwise (200): its valid events are stored, each invalid one (a
  missing or mistyped field, an unknown type, a value Postgres cannot hold) is set aside
  with its reason in `mailjet_event_rejects` (bot/set_aside.py), counted in the metric and
  named in one log line per batch, and never read by reports;
* stores a batch in one transaction (COPY into a staging table, then one INSERT … SELECT
  … ON CONFLICT DO NOTHING), deduplicated on (event, MessageID, time, url) within the
  request and against everything stored before, and answers 200 {"stored", "duplicates"},
  plus {"set_aside", "invalid"} when some events were set aside.

Events of campaigns the product did not send are stored too; reports ignore them.
Logs carry counts only: never the credentials, never the body (it holds addresses).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import hdrs, web
from prometheus_client import Counter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from bot.logs import get_logger
from bot.metrics import REGISTRY
from bot.services import Services
from bot.set_aside import NON_FINITE, SetAside, kind_counts, unstorable, validation_reason
from bot.set_aside import record as record_set_aside
from storage.queries import Q

log = get_logger(__name__)

PATH = "/mailjet/events"
MAX_BODY_BYTES = 10 * 1024 * 1024          # "a body over 10 MB → 413"
REALM = "mailjet-events"
_READ_CHUNK = 256 * 1024
_MAX_REPORTED_ERRORS = 20                  # set-aside events named in an answer
_MAX_DB_MESSAGE = 300
_BIGINT_MAX = 2**63 - 1
_UNIX_MAX = 253_402_300_799                # 9999-12-31T23:59:59Z, the last instant datetime can hold

VERSION_2_HINT = (
    "expected a JSON array of events: set the Mailjet event callback URL to Version 2 "
    '("grouped" events, `Version: 2` on /v3/REST/eventcallbackurl)'
)

WEBHOOK_REQUESTS = Counter(
    "campaign_bot_mailjet_webhook_requests_total", "POST /mailjet/events requests, by HTTP status",
    ["status"], registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "campaign_bot_mailjet_webhook_events_total",
    "Mailjet events received, by outcome (stored, duplicate, set_aside)",
    ["outcome"], registry=REGISTRY,
)


# ---------------------------------------------------------------- the events (Mailjet's field names)


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode would read true as 1; a boolean where Mailjet sends a number is wrong.
    if isinstance(value, bool):
        raise ValueError("a number is expected, not a boolean")
    return value


BigInt = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=_BIGINT_MAX)]
UnixTime = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=_UNIX_MAX)]


class _Event(BaseModel):
    """Fields on every event. Unknown fields are allowed (Mailjet adds some) and kept in `raw`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    time: UnixTime
    MessageID: BigInt
    email: str
    mj_campaign_id: BigInt | None = None
    mj_contact_id: BigInt | None = None
    customcampaign: str | None = None
    Message_GUID: str | None = None
    CustomID: str | None = None
    Payload: str | None = None


class SentEvent(_Event):
    event: Literal["sent"]
    smtp_reply: str | None = None
    mj_message_id: str | BigInt | None = None      # deprecated; Mailjet's own example sends a string


class OpenEvent(_Event):
    event: Literal["open"]
    ip: str | None = None
    geo: str | None = None
    agent: str | None = None


class ClickEvent(OpenEvent):
    event: Literal["click"]  # type: ignore[assignment]
    url: str


class BounceEvent(_Event):
    event: Literal["bounce"]
    blocked: bool | None = None
    hard_bounce: bool | None = None
    error_related_to: str | None = None
    error: str | None = None
    comment: str | None = None


class BlockedEvent(_Event):
    event: Literal["blocked"]
    error_related_to: str | None = None
    error: str | None = None                        # "duplicate in campaign", "preblocked", …


class SpamEvent(_Event):
    event: Literal["spam"]
    source: str | None = None


class UnsubEvent(_Event):
    event: Literal["unsub"]
    mj_list_id: BigInt | None = None
    ip: str | None = None
    geo: str | None = None
    agent: str | None = None


MailjetEvent = Annotated[
    SentEvent | OpenEvent | ClickEvent | BounceEvent | BlockedEvent | SpamEvent | UnsubEvent,
    Field(discriminator="event"),
]
_BATCH = TypeAdapter(list[MailjetEvent])

DedupeKey = tuple[str, int, int, str]


def dedupe_key(event: _Event) -> DedupeKey:
    """(event, MessageID, time, url): the spec's dedupe key; url is '' except on clicks."""
    return (event.event, event.MessageID, event.time, event.url if isinstance(event, ClickEvent) else "")  # type: ignore[attr-defined]


@dataclass(slots=True)                # one per event: a frozen dataclass costs twice as much to build
class Accepted:
    """A valid event: the model, its raw JSON text (for the `raw` jsonb column), where it was."""

    event: _Event
    raw: str
    position: int


@dataclass(frozen=True)
class Batch:
    """A request body read as a Version 2 batch: what can be stored and what is set aside."""

    events: list[Accepted]
    set_aside: list[SetAside]
    received: int


def parse_batch(body: bytes) -> Batch:
    """Read a request body. Raises BatchRejected (a 400) only when the body is not a JSON
    array; each array element that is not a valid, storable event is set aside."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BatchRejected("the body is not valid JSON; nothing of this request was stored") from None
    if isinstance(data, dict):
        raise BatchRejected(f"a single event object was posted; {VERSION_2_HINT}")
    if not isinstance(data, list):
        raise BatchRejected(VERSION_2_HINT)
    set_aside: list[SetAside] = []
    try:
        events = _BATCH.validate_python(data)          # the whole array at once: the fast path
        positions: Sequence[int] = range(len(data))
    except ValidationError as exc:
        problems: dict[int, list[dict[str, Any]]] = {}
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            described = _describe(error)
            problems.setdefault(described.pop("index") or 0, []).append(described)
        for position, errors in sorted(problems.items()):
            reason, kinds = validation_reason(errors)
            set_aside.append(SetAside(position, reason, kinds, data[position]))
        positions = [i for i in range(len(data)) if i not in problems]
        events = _BATCH.validate_python([data[i] for i in positions])   # items validate independently
    # The raw text of each event for the `raw` jsonb column. The encoder escapes every
    # non-ASCII character, so the text is safe for Postgres as is, unless it holds a NUL or a
    # lone surrogate (both `\\u` escapes) or a number too large for a float (1e400 became
    # infinity, which the encoder refuses).
    encode = _RAW_ENCODER.encode
    try:
        texts: list[str | None] = [encode(data[i]) for i in positions]
    except ValueError:
        texts = [_encode_finite(data[i]) for i in positions]
    scan = _may_hold_unstorable(body)
    if not scan and not set_aside and None not in texts:
        return Batch(list(map(Accepted, events, texts, positions)), [], len(data))   # the common batch
    accepted = []
    for position, event, text in zip(positions, events, texts, strict=True):
        if text is None:
            set_aside.append(SetAside(position, NON_FINITE, ("value:non_finite",), data[position]))
            continue
        if scan and "\\u" in text:
            problem = unstorable(data[position])
            if problem is not None:
                set_aside.append(SetAside(position, problem[0], (problem[1],), data[position]))
                continue
        accepted.append(Accepted(event, text, position))
    set_aside.sort(key=lambda item: item.position)
    return Batch(accepted, set_aside, len(data))


_RAW_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)   # built once: json.dumps builds one per call


def _encode_finite(value: Any) -> str | None:
    try:
        return _RAW_ENCODER.encode(value)
    except ValueError:
        return None


_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")   # UTF-8 bytes json.loads reads as a surrogate


def _may_hold_unstorable(body: bytes) -> bool:
    """False when no string of the body can hold a NUL or a lone surrogate, so the events need
    no scan: a UTF-8 body without a `\\u` escape and without surrogate bytes (json.loads
    decodes with surrogatepass; a raw control character is not valid JSON)."""
    return b"\\u" in body or _RAW_SURROGATE.search(body) is not None or json.detect_encoding(body) != "utf-8"


class BatchRejected(Exception):
    """A 400: the body is not a JSON array of events; says why without echoing it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _describe(error: Any) -> dict[str, Any]:
    loc = list(error["loc"])
    index = loc.pop(0) if loc and isinstance(loc[0], int) else None
    if loc and loc[0] in ("sent", "open", "click", "bounce", "blocked", "spam", "unsub"):
        loc.pop(0)  # the discriminator's branch, not a field
    return {"index": index, "field": ".".join(str(p) for p in loc) or None, "error": error["msg"],
            "type": error["type"]}


# ---------------------------------------------------------------- storage

_STAGING_COLUMNS = ("event", "message_id", "unix_time", "url", "email", "campaign_id", "contact_id",
                    "hard_bounce", "blocked", "error", "error_related_to", "raw")


def _row(event: _Event, raw: str) -> tuple[Any, ...]:
    bounce = isinstance(event, BounceEvent)
    has_error = bounce or isinstance(event, BlockedEvent)
    return (
        event.event, event.MessageID, event.time, event.url if isinstance(event, ClickEvent) else "",  # type: ignore[attr-defined]
        event.email, event.mj_campaign_id, event.mj_contact_id,
        event.hard_bounce if bounce else None, event.blocked if bounce else None,  # type: ignore[attr-defined]
        event.error if has_error else None, event.error_related_to if has_error else None,  # type: ignore[attr-defined]
        raw,
    )


@dataclass(frozen=True)
class Outcome:
    stored: int
    duplicates: int
    set_aside: list[SetAside]


# What Postgres (or asyncpg encoding a value for it) raises for a value it cannot hold.
_UNSTORABLE = (asyncpg.DataError, asyncpg.ProgramLimitExceededError, UnicodeError)


async def ingest(pool_or_connection: asyncpg.Pool | asyncpg.Connection, batch: Batch, *,
                 received_at: datetime | None = None) -> Outcome:
    """Store a batch's valid events and keep its set-aside ones, in one transaction.

    Duplicates within the batch keep the first; events stored before are skipped by the
    unique index. parse_batch sets aside every value it knows Postgres refuses; should the
    database still refuse an event, that transaction is rolled back and a second one halves
    the batch (savepoints) until the refused event is alone, and sets it aside with the
    database's reason.
    """
    received_at = received_at or datetime.now(UTC)
    if isinstance(pool_or_connection, asyncpg.Pool):
        async with pool_or_connection.acquire() as connection:
            return await _ingest(connection, batch, received_at)
    return await _ingest(pool_or_connection, batch, received_at)


async def _ingest(connection: asyncpg.Connection, batch: Batch, received_at: datetime) -> Outcome:
    unique: dict[DedupeKey, tuple[Accepted, tuple[Any, ...]]] = {}
    for item in batch.events:
        key = dedupe_key(item.event)
        if key not in unique:
            unique[key] = (item, _row(item.event, item.raw))
    rows = list(unique.values())
    try:
        # The common case: the whole batch in one COPY + INSERT, no savepoint.
        async with connection.transaction():
            stored = await _copy_insert(connection, rows, received_at) if rows else 0
            await record_set_aside(connection, batch.set_aside, received_at)
        return Outcome(stored, len(batch.events) - stored, batch.set_aside)
    except _UNSTORABLE:
        pass        # rolled back whole; find which events the database refuses
    async with connection.transaction():
        await connection.execute(Q.mailjet_events_staging)    # created in the rolled-back transaction
        stored, refused = await _insert_halves(connection, rows, received_at)
        set_aside = sorted([*batch.set_aside, *refused], key=lambda item: item.position)
        await record_set_aside(connection, set_aside, received_at)
    return Outcome(stored, len(batch.events) - stored - len(refused), set_aside)


async def _copy_insert(connection: asyncpg.Connection, rows: list[tuple[Accepted, tuple[Any, ...]]],
                       received_at: datetime) -> int:
    await connection.execute(Q.mailjet_events_staging)
    await connection.copy_records_to_table("mailjet_events_incoming", records=[row for _, row in rows],
                                           columns=_STAGING_COLUMNS)
    status = await connection.execute(Q.mailjet_events_insert_staged, received_at)
    return int(status.rsplit(" ", 1)[-1])          # "INSERT 0 <n>"


async def _insert_halves(connection: asyncpg.Connection, rows: list[tuple[Accepted, tuple[Any, ...]]],
                         received_at: datetime) -> tuple[int, list[SetAside]]:
    """(stored, refused): each half in a savepoint, halved again where the database refuses a
    value, down to the refused event alone. The staging table is emptied after each success
    (it empties itself only at commit, and more attempts follow in this transaction)."""
    try:
        async with connection.transaction():
            stored = await _copy_insert(connection, rows, received_at)
            await connection.execute(Q.mailjet_events_staging_clear)
        return stored, []
    except _UNSTORABLE as exc:
        if len(rows) == 1:
            item = rows[0][0]
            reason = f"the database refused it ({type(exc).__name__}: {str(exc)[:_MAX_DB_MESSAGE]})"
            return 0, [SetAside(item.position, reason, (f"database:{type(exc).__name__}",), json.loads(item.raw))]
        middle = len(rows) // 2
        first = await _insert_halves(connection, rows[:middle], received_at)
        second = await _insert_halves(connection, rows[middle:], received_at)
        return first[0] + second[0], first[1] + second[1]


# ---------------------------------------------------------------- HTTP


def authorized(header: str | None, user: str, password: str) -> bool:
    """Basic auth, compared in constant time (both parts always compared)."""
    if not header:
        return False
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, sep, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, user.encode("utf-8"))
    password_ok = hmac.compare_digest(given_password, password.encode("utf-8"))
    return bool(sep) and user_ok and password_ok


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` (chunked bodies have no Content-Length)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    WEBHOOK_REQUESTS.labels(status=str(status)).inc()
    return web.json_response(body, status=status, headers=headers)


def events_handler(services: Services, *, max_body_bytes: int = MAX_BODY_BYTES) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        settings = services.settings
        if not settings.webhook_enabled:
            return _answer(404, {"error": "the Mailjet event webhook is off (MAILJET_WEBHOOK_USER/PASSWORD unset)"})
        assert settings.MAILJET_WEBHOOK_USER is not None and settings.MAILJET_WEBHOOK_PASSWORD is not None
        if not authorized(request.headers.get(hdrs.AUTHORIZATION), settings.MAILJET_WEBHOOK_USER.get_secret_value(),
                          settings.MAILJET_WEBHOOK_PASSWORD.get_secret_value()):
            log.warning("mailjet webhook: missing or wrong credentials")
            return _answer(401, {"error": "missing or wrong credentials"},
                           headers={hdrs.WWW_AUTHENTICATE: f'Basic realm="{REALM}"'})
        too_large = {"error": f"the body is over {max_body_bytes // (1024 * 1024)} MB"}
        if request.content_length is not None and request.content_length > max_body_bytes:
            log.warning("mailjet webhook: body too large", content_length=request.content_length)
            return _answer(413, too_large)
        started = time.perf_counter()
        body = await _read_capped(request, max_body_bytes)
        if body is None:
            log.warning("mailjet webhook: body too large", content_length=None)
            return _answer(413, too_large)
        try:
            batch = parse_batch(body)
        except BatchRejected as exc:
            log.warning("mailjet webhook: batch rejected", reason=exc.message.split(";")[0], body_bytes=len(body))
            return _answer(400, {"error": exc.message})
        if not batch.received:
            return _answer(200, {"stored": 0, "duplicates": 0})
        outcome = await ingest(services.pool, batch, received_at=services.clock.now())
        WEBHOOK_EVENTS.labels(outcome="stored").inc(outcome.stored)
        WEBHOOK_EVENTS.labels(outcome="duplicate").inc(outcome.duplicates)
        counts = {"received": batch.received, "stored": outcome.stored, "duplicates": outcome.duplicates}
        answer: dict[str, Any] = {"stored": outcome.stored, "duplicates": outcome.duplicates}
        ms = round(1000 * (time.perf_counter() - started), 1)
        if outcome.set_aside:
            WEBHOOK_EVENTS.labels(outcome="set_aside").inc(len(outcome.set_aside))
            # One line per batch; kinds name fields and error types, never a value of an event.
            log.warning("mailjet webhook: events set aside", **counts, set_aside=len(outcome.set_aside),
                        problems=kind_counts(outcome.set_aside), body_bytes=len(body), ms=ms)
            answer |= {"set_aside": len(outcome.set_aside),
                       "invalid": [{"index": item.position, "reason": item.reason}
                                   for item in outcome.set_aside[:_MAX_REPORTED_ERRORS]]}
        else:
            log.info("mailjet events stored", **counts, body_bytes=len(body), ms=ms)
        return _answer(200, answer)

    return handler


def webhook_route(services: Services) -> Callable[[web.Application], None]:
    """An extra route for bot.http.build_http_app: POST /mailjet/events."""

    def add(app: web.Application) -> None:
        app.router.add_post(PATH, events_handler(services))

    return add
