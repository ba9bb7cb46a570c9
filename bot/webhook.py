"""`POST /mailjet/events`: Mailjet's Event API webhook (PRODUCT.md section 10).

Mailjet posts Version 2 ("grouped") batches: a JSON array holding every event of the last
second, of mixed types. It signs nothing and sends no event id; it retries any non-200
every 30 s for 24 h. So this endpoint:

* answers 404 while MAILJET_WEBHOOK_USER / MAILJET_WEBHOOK_PASSWORD are both empty (off);
* checks basic auth in constant time (401 with a `WWW-Authenticate` challenge otherwise);
* refuses bodies over 10 MB (413), by Content-Length first and by counting what it reads;
* rejects invalid JSON, a single object (Version 1 "ungrouped" setting) and any batch with
  an invalid event (400): nothing of such a request is stored, so Mailjet's retry of a batch
  we could not take in whole never leaves a half-stored copy behind;
* stores the batch in one transaction (COPY into a staging table, then one INSERT … SELECT
  … ON CONFLICT DO NOTHING), deduplicated on (event, MessageID, time, url) within the
  request and against everything stored before, and answers 200 {"stored", "duplicates"}.

Events of campaigns the product did not send are stored too; reports ignore them.
Logs carry counts only: never the credentials, never the body (it holds addresses).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import hdrs, web
from prometheus_client import Counter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from bot.logs import get_logger
from bot.metrics import REGISTRY
from bot.services import Services
from storage.queries import Q

log = get_logger(__name__)

PATH = "/mailjet/events"
MAX_BODY_BYTES = 10 * 1024 * 1024          # "a body over 10 MB → 413"
REALM = "mailjet-events"
_READ_CHUNK = 256 * 1024
_MAX_REPORTED_ERRORS = 20
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
    "campaign_bot_mailjet_webhook_events_total", "Mailjet events received, by outcome (stored, duplicate)",
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


def parse_batch(body: bytes) -> list[tuple[_Event, str]]:
    """Validate a request body; each event with its raw JSON text. Raises BatchRejected."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BatchRejected("the body is not valid JSON") from None
    if isinstance(data, dict):
        raise BatchRejected(f"a single event object was posted; {VERSION_2_HINT}")
    if not isinstance(data, list):
        raise BatchRejected(VERSION_2_HINT)
    try:
        events = _BATCH.validate_python(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise BatchRejected(
            f"{len({e['loc'][0] for e in errors if e['loc']})} of {len(data)} events are invalid; "
            "nothing of this request was stored",
            invalid=[_describe(e) for e in errors[:_MAX_REPORTED_ERRORS]],
            received=len(data),
        ) from None
    # json.dumps re-escapes non-ASCII, so the text is safe for Postgres' jsonb input as is.
    return [(event, json.dumps(raw, separators=(",", ":"))) for event, raw in zip(events, data, strict=True)]


class BatchRejected(Exception):
    """A 400: why, and (for invalid events) which ones, without echoing their values."""

    def __init__(self, message: str, *, invalid: list[dict[str, Any]] | None = None, received: int | None = None):
        super().__init__(message)
        self.message = message
        self.invalid = invalid or []
        self.received = received


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _describe(error: Any) -> dict[str, Any]:
    loc = list(error["loc"])
    index = loc.pop(0) if loc and isinstance(loc[0], int) else None
    if loc and loc[0] in ("sent", "open", "click", "bounce", "blocked", "spam", "unsub"):
        loc.pop(0)  # the discriminator's branch, not a field
    return {"index": index, "field": ".".join(str(p) for p in loc) or None, "error": error["msg"]}


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


async def store_events(
    pool_or_connection: asyncpg.Pool | asyncpg.Connection,
    events: Iterable[_Event | tuple[_Event, str]],
    *,
    received_at: datetime | None = None,
) -> int:
    """Store a batch in one transaction; return how many rows were new.

    `events` are validated events, each optionally with its raw JSON text (else the model's
    dump, unknown fields included, stands for it). Duplicates within the batch keep the first;
    events stored before are skipped by the unique index. A value Postgres cannot hold (a NUL
    character, a lone surrogate) raises asyncpg.DataError and nothing is stored.
    """
    rows: dict[DedupeKey, tuple[Any, ...]] = {}
    for item in events:
        event, raw = item if isinstance(item, tuple) else (item, item.model_dump_json())
        key = dedupe_key(event)
        if key not in rows:
            rows[key] = _row(event, raw)
    if not rows:
        return 0
    received_at = received_at or datetime.now(UTC)
    if isinstance(pool_or_connection, asyncpg.Pool):
        async with pool_or_connection.acquire() as connection:
            return await _store(connection, list(rows.values()), received_at)
    return await _store(pool_or_connection, list(rows.values()), received_at)


async def _store(connection: asyncpg.Connection, rows: Sequence[tuple[Any, ...]], received_at: datetime) -> int:
    async with connection.transaction():
        await connection.execute(Q.mailjet_events_staging)
        await connection.copy_records_to_table("mailjet_events_incoming", records=rows, columns=_STAGING_COLUMNS)
        status = await connection.execute(Q.mailjet_events_insert_staged, received_at)
    return int(status.rsplit(" ", 1)[-1])      # "INSERT 0 <n>"


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
            log.warning("mailjet webhook: batch rejected", reason=exc.message.split(";")[0], body_bytes=len(body),
                        received=exc.received, invalid=len(exc.invalid))
            return _answer(400, {"error": exc.message, **({"invalid": exc.invalid} if exc.invalid else {})})
        if not batch:
            return _answer(200, {"stored": 0, "duplicates": 0})
        try:
            stored = await store_events(services.pool, batch, received_at=services.clock.now())
        except (asyncpg.DataError, asyncpg.ProgramLimitExceededError, UnicodeError) as exc:
            # Valid JSON and valid fields, but a value Postgres cannot hold: the batch is refused
            # whole (its transaction rolled back), like any other invalid event.
            log.warning("mailjet webhook: batch rejected by the database", received=len(batch),
                        error_class=type(exc).__name__)
            return _answer(400, {"error": "an event holds a value the database cannot store (a NUL character, "
                                          "a lone surrogate or a non-finite number); nothing of this request "
                                          "was stored"})
        duplicates = len(batch) - stored
        WEBHOOK_EVENTS.labels(outcome="stored").inc(stored)
        WEBHOOK_EVENTS.labels(outcome="duplicate").inc(duplicates)
        log.info("mailjet events stored", received=len(batch), stored=stored, duplicates=duplicates,
                 body_bytes=len(body), ms=round(1000 * (time.perf_counter() - started), 1))
        return _answer(200, {"stored": stored, "duplicates": duplicates})

    return handler


def webhook_route(services: Services) -> Callable[[web.Application], None]:
    """An extra route for bot.http.build_http_app: POST /mailjet/events."""

    def add(app: web.Application) -> None:
        app.router.add_post(PATH, events_handler(services))

    return add
