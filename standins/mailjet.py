"""Stateful local stand-in for Mailjet's v3 REST API, for tests and the terminal demo.

The product talks to it with the real ``mailjet_rest.Client(auth=(key, secret),
api_url=standin.api_url, version="v3")`` over loopback, so URL building, Basic auth, JSON bodies
and the client's status-to-exception mapping are all exercised for real.

What follows Mailjet (its guides in mailjet/api-documentation and the field and filter lists of
Mailjet's own SDKs, mailjet-apiv3-nodejs ``lib/types/api`` and mailjet-gem resources):

- paths under ``/v3/REST/``, field names and casing, draft ``Status`` codes, 201 for a POST,
  204 for a DELETE, errors as JSON with ``ErrorMessage`` and ``StatusCode``;
- ``Count`` and ``Total`` are the size of the returned page, as Mailjet documents; only
  ``countOnly=1`` gives the size of the whole result (``Count == Total == n``, ``Data == []``);
  ``Limit`` defaults to 10 and is capped at 1000, ``Limit=0`` means 1000;
- filter names are case-insensitive and the first occurrence of a filter wins;
- the campaign created by sending draft D has ``NewsLetterID = D`` and ``CustomValue =
  "mj.nl=D"``; Mailjet documents ``GET /campaign/mj.nl=D`` (or reading the draft's
  ``CampaignID``) as the way from a draft to its campaign. ``campaign`` has no NewsLetterID
  filter in Mailjet, so the stand-in has none either.

Deliberately stricter than Mailjet: a filter Mailjet does not have, or that is not modelled here,
is answered with 400 rather than ignored, and so is an unknown property in a POST/PUT body.
Real Mailjet may silently ignore such input and return unfiltered data; failing loudly here keeps
product code from depending on it.

Simplified:
- no mail is delivered. A send snapshots the list's subscribed, non-excluded contacts as the
  campaign's recipients; what then happened to the messages is whatever ``set_outcome`` says
  (until then everything is queued);
- programmed schedules never fire; ``/schedule`` exists so tests can assert nobody called it;
- contact properties, segmentation, A/X testing, templates and time windows are not modelled;
  ``statcounters`` answers only ``CounterSource=Campaign`` with ``CounterResolution=Lifetime``;
- a managemanycontacts job takes effect when it reports ``Completed`` (at once by default).

Injected, not Mailjet's: ``latency`` delays every API answer (half before the request is handled,
half after, as a network round trip would), and the stand-in counts the requests in flight
(``in_flight``, ``max_in_flight``, the same for send calls, and the most requests started in any
one second), so tests and benchmarks can see how the product loads Mailjet.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import re
import ssl
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NamedTuple, Protocol

from aiohttp import web

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
PAGING_PARAMS = frozenset({"limit", "offset", "sort", "countonly"})

# Each resource gets its own ID range, so an ID passed to the wrong resource (a draft ID where a
# campaign ID belongs) is a 404 instead of silently hitting another object.
FIRST_IDS = {
    "contact": 1,
    "sender": 501,
    "list": 10_001,
    "draft": 200_001,
    "job": 900_001,
}
FIRST_CAMPAIGN_ID = 7_758_000_001
# Each contacts list owns a block of listrecipient IDs, so the ID alone finds the list.
RECIPIENT_ID_BASE = 3_000_000_000
RECIPIENT_ID_STRIDE = 10_000_000
# Mailjet message IDs are huge. Each campaign owns a block, so a message ID tells which campaign
# and which recipient it belongs to without storing one object per message.
MESSAGE_ID_BASE = 288_230_376_000_000_000
MESSAGE_ID_STRIDE = 10_000_000

DRAFT, PROGRAMMED, SENT = 0, 1, 2
DRAFT_STATUS_NAMES = {
    -3: "AXCancelled",
    -2: "Deleted",
    -1: "Archived",
    0: "Draft",
    1: "Programmed",
    2: "Sent",
    3: "AXTested",
    4: "AXSelected",
}
DRAFT_REQUIRED = ("Locale", "Sender", "SenderEmail", "Subject", "ContactsListID")
DRAFT_WRITABLE = frozenset(
    {
        "Locale",
        "Sender",
        "SenderEmail",
        "SenderName",
        "Subject",
        "ContactsListID",
        "Title",
        "ReplyEmail",
        "EditMode",
        "TemplateID",
        "IsStarred",
        "IsTextPartIncluded",
    }
)
CONTENT_FIELDS = ("Html-part", "Text-part", "Headers", "MJMLContent")
SENDER_STATUSES = ("Active", "Inactive", "Deleted")
MANAGE_ACTIONS = ("addforce", "addnoforce", "remove", "unsub")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SEND_PATH_RE = re.compile(r"^/v3/REST/campaigndraft/(\d+)/send$")
JSON_BODY = web.RequestKey("json_body", object)  # the decoded body, read once by the middleware


class Fate(NamedTuple):
    """How one recipient's message ended, as the message and bounce resources show it."""

    status: str  # message Status
    state_id: int  # message StateID (Mailjet's MessageState enum)
    permanent: bool
    counter: str  # the statcounters field it counts towards


FATES = {
    "hard": Fate("hardbounced", 1, True, "MessageHardBouncedCount"),  # 1 = user unknown
    "soft": Fate("softbounced", 3, False, "MessageSoftBouncedCount"),  # 3 = quota exceeded
    "blocked": Fate("blocked", 14, False, "MessageBlockedCount"),  # 14 = preblocked
    "spam": Fate("spam", 0, False, "MessageSpamCount"),
    "unsub": Fate("unsub", 0, False, "MessageUnsubscribedCount"),
}
BOUNCE_FATES = ("hard", "soft")
# The numeric MessageStatus filter of /message (Mailjet's MessageStatus enum) -> Status strings.
MESSAGE_STATUS_FILTER = {
    1: {"queued"},
    2: {"sent"},
    3: {"opened"},
    4: {"clicked"},
    5: {"hardbounced", "softbounced"},
    6: {"spam"},
    7: {"unsub"},
    8: {"blocked"},
    9: {"softbounced"},
    10: {"hardbounced"},
    11: {"deferred"},
}
OUTCOME_COUNTERS = {
    "delivered": "MessageSentCount",
    "hard": "MessageHardBouncedCount",
    "soft": "MessageSoftBouncedCount",
    "blocked": "MessageBlockedCount",
    "opened": "MessageOpenedCount",
    "clicked": "MessageClickedCount",
    "spam": "MessageSpamCount",
    "unsub": "MessageUnsubscribedCount",
    "queued": "MessageQueuedCount",
    "deferred": "MessageDeferredCount",
}
EVENT_COUNTERS = {
    "EventOpenedCount": "MessageOpenedCount",
    "EventClickedCount": "MessageClickedCount",
    "EventSpamCount": "MessageSpamCount",
    "EventUnsubscribedCount": "MessageUnsubscribedCount",
}


class Clock(Protocol):
    def now(self) -> datetime: ...


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(ValueError):
    """A Mailjet error answer. Seeding methods raise it too, as a ValueError with the same text."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        if self.status == 401:
            # Authentication failures keep Mailjet's older, shorter error shape.
            body: dict[str, Any] = {
                "ErrorInfo": "",
                "ErrorMessage": self.message,
                "StatusCode": 401,
            }
        else:
            body = _error_body(self.status, self.message)
        return web.json_response(body, status=self.status)


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "ErrorIdentifier": str(uuid.uuid4()),
        "ErrorCode": "mj-0002",
        "StatusCode": status,
        "ErrorMessage": message,
    }


def _status_name(draft: dict[str, Any]) -> str:
    return DRAFT_STATUS_NAMES[draft["Status"]]


def _not_found() -> ApiError:
    return ApiError(404, "Object not found")


# --------------------------------------------------------------------------- stored objects


class _Contact(NamedTuple):
    # A tuple, not a dict: 200 000 contacts must stay small. Rows are built per served page.
    id: int
    email: str
    name: str
    created_at: str
    excluded: bool


class _Member(NamedTuple):
    recipient_id: int
    subscribed_at: str
    unsubscribed_at: str  # "" while subscribed

    @property
    def unsubscribed(self) -> bool:
        return bool(self.unsubscribed_at)


@dataclass(eq=False)
class _ContactsList:
    id: int
    name: str
    address: str
    created_at: str
    is_deleted: bool = False
    members: dict[int, _Member] = field(default_factory=dict)  # contact ID -> membership
    # Kept sorted, so a page is a slice: O(page), never O(list).
    contact_ids: list[int] = field(default_factory=list)
    recipient_ids: list[int] = field(default_factory=list)
    recipient_contacts: list[int] = field(default_factory=list)  # parallel to recipient_ids
    unsubscribed: int = 0
    next_recipient: int = 0

    @property
    def first_recipient_id(self) -> int:
        return RECIPIENT_ID_BASE + (self.id - FIRST_IDS["list"]) * RECIPIENT_ID_STRIDE

    def contact_for_recipient(self, recipient_id: int) -> int | None:
        index = bisect.bisect_left(self.recipient_ids, recipient_id)
        if index < len(self.recipient_ids) and self.recipient_ids[index] == recipient_id:
            return self.recipient_contacts[index]
        return None

    @property
    def subscriber_count(self) -> int:
        return len(self.members) - self.unsubscribed


@dataclass(eq=False)
class _Run:
    """One sent campaign: the Mailjet campaign object plus what happened to its messages."""

    row: dict[str, Any]
    recipients: list[int]  # sorted contact IDs, snapshot at send time
    sent_at: datetime
    sender_id: int
    has_html: bool
    has_text: bool
    counts: dict[str, int] | None = None  # statcounters fields set by set_outcome
    fates: dict[int, str] = field(default_factory=dict)  # contact ID -> FATES key

    @property
    def campaign_id(self) -> int:
        return self.row["ID"]

    @property
    def first_message_id(self) -> int:
        return self.row["FirstMessageID"]

    @property
    def default_status(self) -> str:
        return "queued" if self.counts is None else "sent"

    def position(self, contact_id: int) -> int | None:
        index = bisect.bisect_left(self.recipients, contact_id)
        if index < len(self.recipients) and self.recipients[index] == contact_id:
            return index
        return None

    def status_of(self, contact_id: int) -> str:
        fate = self.fates.get(contact_id)
        return FATES[fate].status if fate else self.default_status


@dataclass(eq=False)
class _Job:
    id: int
    list_id: int
    action: str
    contacts: list[dict[str, Any]]
    polls_left: int
    started_at: str
    ended_at: str = ""
    count: int = 0
    error: str = ""

    @property
    def done(self) -> bool:
        return bool(self.ended_at)

    def row(self) -> dict[str, Any]:
        return {
            "ContactsLists": [{"ListID": self.list_id, "Action": self.action}],
            "Count": self.count,
            "Error": self.error,
            "ErrorFile": "",
            "JobEnd": self.ended_at,
            "JobStart": self.started_at,
            "Status": "Completed" if self.done else "In Progress",
        }


@dataclass(eq=False)
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    apply_first: bool
    delay: float
    body: dict[str, Any] | None
    retry_after: int | None = None

    def response(self) -> web.Response:
        body = self.body or _error_body(self.status, HTTPStatus(self.status).phrase)
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return web.json_response(body, status=self.status, headers=headers)


# --------------------------------------------------------------------------- request helpers


class _Query:
    """A query string read the way Mailjet reads it: names case-insensitive, first one wins."""

    def __init__(self, raw: Mapping[str, str], allowed: Iterable[str]):
        permitted = {name.lower() for name in allowed} | PAGING_PARAMS
        self._values: dict[str, str] = {}
        for name, value in raw.items():
            if name.lower() not in permitted:
                raise ApiError(
                    400,
                    f'Invalid filter "{name}" for this resource (not a Mailjet filter, or not '
                    "modelled by the stand-in)",
                )
            self._values.setdefault(name.lower(), value)

    def text(self, name: str) -> str | None:
        return self._values.get(name.lower())

    def number(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise ApiError(
                400, f'Invalid value "{value}" for filter {name}: expected a number'
            ) from None

    def flag(self, name: str) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise ApiError(400, f'Invalid value "{value}" for filter {name}: expected true or false')

    @property
    def count_only(self) -> bool:
        return bool(self.flag("countOnly"))

    @property
    def limit(self) -> int:
        limit = self.number("Limit")
        if limit is None:
            return DEFAULT_LIMIT
        if limit < 0:
            raise ApiError(400, "Limit must not be negative")
        return MAX_LIMIT if limit == 0 else min(limit, MAX_LIMIT)

    @property
    def offset(self) -> int:
        offset = self.number("Offset") or 0
        if offset < 0:
            raise ApiError(400, "Offset must not be negative")
        return offset

    @property
    def sort(self) -> tuple[str | None, bool]:
        """(lower-cased property name or None, descending). Mailjet's syntax is "Name DESC"."""
        value = self.text("Sort") or ""
        parts = value.replace("+", " ").split()
        if not parts:
            return None, False
        direction = parts[1].upper() if len(parts) > 1 else "ASC"
        if len(parts) > 2 or direction not in ("ASC", "DESC"):
            raise ApiError(400, f'Invalid Sort "{value}": expected "Property" or "Property DESC"')
        return parts[0].lower(), direction == "DESC"


def _envelope(data: list[Any], status: int = 200) -> web.Response:
    return web.json_response({"Count": len(data), "Data": data, "Total": len(data)}, status=status)


def _page(
    q: _Query, seq: Sequence[Any], render: Callable[[Any], dict], descending: bool = False
) -> web.Response:
    """Serve one page of `seq`, rendering only the items on it."""
    size = len(seq)
    if q.count_only:
        return web.json_response({"Count": size, "Data": [], "Total": size})
    start, stop = q.offset, q.offset + q.limit
    if descending:
        window = seq[max(size - stop, 0) : max(size - start, 0)][::-1]
    else:
        window = seq[start:stop]
    return _envelope([render(item) for item in window])


def _page_rows(q: _Query, rows: list[dict[str, Any]]) -> web.Response:
    """Page a small collection of ready rows, sorted by ID or by any property named in Sort."""
    name, descending = q.sort
    key = "ID"
    if name is not None and rows:
        matches = [k for k in rows[0] if k.lower() == name]
        if not matches:
            raise ApiError(400, f'Invalid Sort property "{name}"')
        key = matches[0]
    return _page(q, sorted(rows, key=lambda row: row[key]), lambda row: row, descending)


def _body(request: web.Request, allowed: Iterable[str]) -> dict[str, Any]:
    body = request[JSON_BODY]
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"Invalid or read-only properties: {', '.join(unknown)}")
    return dict(body)  # a copy: the request log keeps the original


def _int_field(value: Any, name: str) -> int:
    # Mailjet accepts numbers and numeric strings for ID properties.
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be a number, got {value!r}") from None


def _path_int(request: web.Request, name: str = "id") -> int:
    value = request.match_info[name]
    if not value.isdigit():
        raise _not_found()
    return int(value)


async def _read_json(request: web.Request) -> tuple[Any, ApiError | None]:
    raw = await request.read()
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except ValueError:
        return None, ApiError(400, "Invalid json input: the request body is not valid JSON")


def _email_key(email: str) -> str:
    """The lookup key for an address (Mailjet matches addresses case-insensitively)."""
    key = email.lower()
    return email if key == email else key  # reuse the stored string when already lower-case


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


# --------------------------------------------------------------------------- the stand-in


class MailjetStandin:
    """A Mailjet v3 REST API on 127.0.0.1 with seeding, observation and fault-injection hooks."""

    def __init__(
        self,
        *,
        api_key: str = "mj-key",
        api_secret: str = "mj-secret",
        job_polls_before_complete: int = 0,
        clock: Clock | None = None,
        send_processing_seconds: float = 3.0,
        latency: float = 0.0,
    ):
        token = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
        self._authorization = f"Basic {token}"
        self._job_polls = job_polls_before_complete
        self._clock = clock or _SystemClock()
        # How long Mailjet takes to carry out a send in the background (Status 1, no CampaignID).
        self.send_processing_seconds = send_processing_seconds
        self._rate_limit: int | None = None
        self._rate_window = (0, 0)  # (second, requests seen in it), by the real clock
        self.rate_limited = 0  # how many requests the rate limit refused
        self._processing: dict[int, tuple[float, list[int], dict[str, Any]]] = {}
        self.on_event: Callable[[str, dict], None] | None = None

        self.sends: list[dict[str, Any]] = []
        self.send_attempts: list[dict[str, Any]] = []
        self.schedule_calls: list[dict[str, Any]] = []
        self.test_sends: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

        # Seconds each API answer takes, as seen by the client: a round trip to api.mailjet.com
        # from a real network is ~0.3 s (the measurement of issue #9), loopback is ~0. May be
        # changed at any time; a request uses the value current when it arrives.
        self.latency = latency
        # Load observed, for tests and benchmarks (not Mailjet behaviour): API requests being
        # answered right now and the most at once, the same for send calls, and the most
        # requests that started within any one second (monotonic time).
        self.in_flight = 0
        self.max_in_flight = 0
        self.sends_in_flight = 0
        self.max_sends_in_flight = 0
        self.max_started_per_second = 0
        self._recent_starts: deque[float] = deque()

        self._next_ids = dict(FIRST_IDS)
        self._senders: dict[int, dict[str, Any]] = {}
        self._contacts: dict[int, _Contact] = {}
        self._contact_by_email: dict[str, int] = {}  # lower-cased email -> contact ID
        self._lists: dict[int, _ContactsList] = {}
        self._drafts: dict[int, dict[str, Any]] = {}
        self._contents: dict[int, dict[str, Any]] = {}
        self._schedules: dict[int, str] = {}
        self._runs: dict[int, _Run] = {}  # campaign ID -> run
        self._jobs: dict[int, _Job] = {}
        self._faults: list[_Fault] = []
        # Filtered ID lists built once and reused by every page of the same query; any change to
        # contacts, memberships or campaigns drops them all.
        self._views: dict[tuple, list[int]] = {}
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None) -> None:
        """Serve on host:port; with `ssl_context` over HTTPS like Mailjet, so that mailjet-rest's
        https-only retry adapter is as live as in production (see standins/tls.py)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        self._add_routes(app)
        # A short shutdown timeout: a handler sleeping in an injected delay must not hold stop().
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, ssl_context=ssl_context).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"{'https' if ssl_context else 'http'}://{bound_host}:{bound_port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("MailjetStandin is not started")
        return self._base_url

    # ------------------------------------------------------------------ seeding

    def add_sender(self, email: str, name: str = "Ops", status: str = "Active") -> dict[str, Any]:
        if status not in SENDER_STATUSES:
            raise ValueError(f"sender status must be one of {SENDER_STATUSES}")
        sender_id = self._new_id("sender")
        self._senders[sender_id] = {
            "CreatedAt": self._stamp(),
            "DNSID": 0,
            "Email": email,
            "EmailType": "bulk",
            "Filename": "",
            "ID": sender_id,
            "IsDefaultSender": not self._senders,
            "Name": name,
            "Status": status,
        }
        return dict(self._senders[sender_id])

    def set_sender_status(self, email: str, status: str) -> None:
        """What happens when Mailjet deactivates a sender (for example after a DNS change)."""
        if status not in SENDER_STATUSES:
            raise ValueError(f"sender status must be one of {SENDER_STATUSES}")
        for sender in self._senders.values():
            if sender["Email"].lower() == email.lower():
                sender["Status"] = status
                return
        raise ValueError(f"no sender {email}")

    def edit_draft(self, draft_id: int, **fields: Any) -> None:
        """Someone edits the draft in Mailjet's UI: change settings (Subject, ContactsListID, …)."""
        self._drafts[draft_id].update(fields)

    def edit_draft_content(self, draft_id: int, *, html: str | None = None, text: str | None = None) -> None:
        content = self._contents.setdefault(draft_id, {"Html-part": "", "Text-part": "", "Headers": {}, "MJMLContent": ""})
        if html is not None:
            content["Html-part"] = html
        if text is not None:
            content["Text-part"] = text

    def remove_from_list(self, list_id: int, contact_ids: list[int]) -> None:
        contacts_list = self._list(list_id)
        for contact_id in contact_ids:
            self._remove_member(contacts_list, contact_id)
        self._contacts_changed(contacts_list, removed=len(contact_ids))

    def create_list(self, name: str) -> int:
        return self._new_list(name).id

    def add_contacts(
        self,
        list_id: int,
        count: int,
        *,
        start_id: int | None = None,
        domain: str = "example.com",
        unsubscribed: set[int] | None = None,
        excluded: set[int] | None = None,
    ) -> list[int]:
        """Create `count` contacts user{ID}@{domain} with ascending IDs, all members of the list.

        `unsubscribed` and `excluded` hold contact IDs.
        """
        contacts_list = self._list(list_id)
        first = self._next_ids["contact"] if start_id is None else start_id
        ids = range(first, first + count)
        excluded = excluded or set()
        unsubscribed = unsubscribed or set()
        created_at = self._stamp()
        new_contacts = [
            _Contact(cid, f"user{cid}@{domain}", "", created_at, cid in excluded) for cid in ids
        ]
        clash = next(
            (
                c
                for c in new_contacts
                if c.id in self._contacts or _email_key(c.email) in self._contact_by_email
            ),
            None,
        )
        if clash is not None:
            raise ValueError(f"contact {clash.id} / {clash.email} already exists")
        for contact in new_contacts:
            # The same int and str objects everywhere: at 200 000 contacts copies add up.
            self._contacts[contact.id] = contact
            self._contact_by_email[_email_key(contact.email)] = contact.id
            self._add_member(
                contacts_list, contact.id, created_at, unsubscribed=contact.id in unsubscribed
            )
        self._next_ids["contact"] = max(self._next_ids["contact"], first + count)
        self._contacts_changed(contacts_list, added=count)
        return [contact.id for contact in new_contacts]

    def add_contact(
        self, list_id: int, email: str, *, unsubscribed: bool = False, excluded: bool = False
    ) -> int:
        contacts_list = self._list(list_id)
        now = self._stamp()
        contact = self._upsert_contact(email, None, excluded, now)
        member = contacts_list.members.get(contact.id)
        if member is None:
            self._add_member(contacts_list, contact.id, now, unsubscribed=unsubscribed)
        elif member.unsubscribed != unsubscribed:
            self._set_unsubscribed(contacts_list, contact.id, unsubscribed, now)
        self._contacts_changed(contacts_list, added=1)
        return contact.id

    def create_draft(
        self,
        *,
        title: str,
        subject: str,
        sender_email: str,
        sender_name: str = "Ops",
        list_id: int | None = None,
        html: str = "<p>Hi [[UNSUB_LINK_EN]]</p>",
        text: str = "Hi",
    ) -> int:
        fields = {
            "Title": title,
            "Subject": subject,
            "Locale": "en_US",
            "Sender": sender_name,
            "SenderName": sender_name,
            "SenderEmail": sender_email,
        }
        if list_id is not None:
            fields["ContactsListID"] = list_id
        draft = self._new_draft(fields, required=("Subject", "SenderEmail"))
        self._contents[draft["ID"]].update({"Html-part": html, "Text-part": text})
        return draft["ID"]

    def set_outcome(
        self,
        campaign_id: int,
        *,
        delivered: int = 0,
        hard: int = 0,
        soft: int = 0,
        blocked: int = 0,
        opened: int = 0,
        clicked: int = 0,
        spam: int = 0,
        unsub: int = 0,
        queued: int = 0,
        deferred: int = 0,
        bounce_emails: dict[str, str] | None = None,
    ) -> None:
        """Say what happened to a campaign's messages; replaces any earlier outcome.

        The numbers feed statcounters directly. `bounce_emails` (email -> "hard", "soft",
        "blocked", "spam" or "unsub") marks individual recipients for /message and
        /bouncestatistics; each counter is at least the number of addresses marked that way.
        Recipients not marked show Status "sent".
        """
        run = self._runs.get(campaign_id)
        if run is None:
            raise ValueError(f"no campaign {campaign_id}")
        given = {
            "delivered": delivered,
            "hard": hard,
            "soft": soft,
            "blocked": blocked,
            "opened": opened,
            "clicked": clicked,
            "spam": spam,
            "unsub": unsub,
            "queued": queued,
            "deferred": deferred,
        }
        if any(value < 0 for value in given.values()):
            raise ValueError("outcome counts must not be negative")
        fates = {}
        for email, fate in (bounce_emails or {}).items():
            if fate not in FATES:
                raise ValueError(
                    f"unknown fate {fate!r} for {email}; expected one of {sorted(FATES)}"
                )
            contact_id = self._contact_by_email.get(_email_key(email))
            if contact_id is None or run.position(contact_id) is None:
                raise ValueError(f"{email} is not a recipient of campaign {campaign_id}")
            fates[contact_id] = fate
        counts = {OUTCOME_COUNTERS[name]: value for name, value in given.items()}
        for fate in fates.values():
            counter = FATES[fate].counter
            counts[counter] = max(counts[counter], sum(1 for f in fates.values() if f == fate))
        run.counts, run.fates = counts, fates

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 500,
        times: int = 1,
        apply_first: bool = False,
        delay: float = 0.0,
        body: dict | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status`, after sleeping `delay`.

        With apply_first the request is carried out first and its answer is replaced: Mailjet
        did the work but the caller sees a failure (or, with a delay past its timeout, nothing).
        `retry_after` adds a Retry-After header (seconds), as a 429 may carry.
        """
        HTTPStatus(status)  # rejects a status code that does not exist
        if status == 429 and apply_first:
            raise ValueError("a 429 means Mailjet did nothing: it cannot apply the request first")
        pattern = re.compile(path_regex)
        self._faults.append(
            _Fault(method.upper(), pattern, status, times, apply_first, delay, body, retry_after)
        )

    def clear_faults(self) -> None:
        """Mailjet is healthy again: drop every fault still armed by fail_next."""
        self._faults.clear()

    def limit_rate(self, requests_per_second: int | None) -> None:
        """Answer 429 (with Retry-After: 1) to requests beyond this many in one second, as
        Mailjet does per API key (dev.mailjet.com reference/overview/rate-limits). None: off."""
        self._rate_limit = requests_per_second
        self._rate_window = (0, 0)

    # ------------------------------------------------------------------ observation

    def list_member_emails(self, list_id: int, *, subscribed_only: bool = True) -> list[str]:
        contacts_list = self._list(list_id)
        return [
            self._contacts[cid].email
            for cid in contacts_list.contact_ids
            if not (subscribed_only and contacts_list.members[cid].unsubscribed)
        ]

    def draft(self, draft_id: int) -> dict[str, Any]:
        self._settle()
        return dict(self._drafts[draft_id])

    def lists(self) -> list[dict[str, Any]]:
        """Every contacts list (deleted ones included), for tests that count what was created."""
        return [
            {"ID": l.id, "Name": l.name, "IsDeleted": l.is_deleted, "SubscriberCount": l.subscriber_count}
            for l in self._lists.values()
        ]

    def drafts(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self._drafts.values()]

    def draft_content(self, draft_id: int) -> dict[str, Any]:
        return dict(self._contents.get(draft_id, {}))

    def campaign_for_draft(self, draft_id: int) -> dict[str, Any] | None:
        self._settle()
        run = self._run_for_draft(draft_id)
        return None if run is None else dict(run.row)

    # ------------------------------------------------------------------ HTTP plumbing

    def _add_routes(self, app: web.Application) -> None:
        rest = [
            ("GET", "/contact", self._contact_index),
            ("GET", "/contact/{id}", self._contact_get),
            ("GET", "/contactslist", self._list_index),
            ("POST", "/contactslist", self._list_create),
            ("GET", "/contactslist/{id}", self._list_get),
            ("PUT", "/contactslist/{id}", self._list_update),
            ("DELETE", "/contactslist/{id}", self._list_delete),
            ("POST", "/contactslist/{id}/managemanycontacts", self._job_create),
            ("GET", "/contactslist/{id}/managemanycontacts/{job}", self._job_get),
            ("GET", "/listrecipient", self._recipient_index),
            ("GET", "/listrecipient/{id}", self._recipient_get),
            ("GET", "/campaigndraft", self._draft_index),
            ("POST", "/campaigndraft", self._draft_create),
            ("GET", "/campaigndraft/{id}", self._draft_get),
            ("PUT", "/campaigndraft/{id}", self._draft_update),
            ("GET", "/campaigndraft/{id}/detailcontent", self._content_get),
            ("POST", "/campaigndraft/{id}/detailcontent", self._content_replace),
            ("PUT", "/campaigndraft/{id}/detailcontent", self._content_update),
            ("POST", "/campaigndraft/{id}/send", self._draft_send),
            ("GET", "/campaigndraft/{id}/status", self._draft_status),
            ("POST", "/campaigndraft/{id}/test", self._draft_test),
            ("GET", "/campaign", self._campaign_index),
            ("GET", "/campaign/{id}", self._campaign_get),
            ("GET", "/sender", self._sender_index),
            ("GET", "/sender/{id}", self._sender_get),
            ("GET", "/statcounters", self._statcounters),
            ("GET", "/message", self._message_index),
            ("GET", "/message/{id}", self._message_get),
            ("GET", "/bouncestatistics", self._bounce_index),
        ]
        rest += [
            (method, "/campaigndraft/{id}/schedule", self._schedule)
            for method in ("GET", "POST", "PUT", "DELETE")
        ]
        for method, path, handler in rest:
            app.router.add_route(method, "/v3/REST" + path, _as_coroutine(handler))
        control = [
            ("GET", "/_standin/sends", self._control_sends),
            ("GET", "/_standin/state", self._control_state),
            ("POST", "/_standin/fail", self._control_fail),
            ("POST", "/_standin/outcome", self._control_outcome),
        ]
        for method, path, handler in control:
            app.router.add_route(method, path, handler)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path.startswith("/_standin/"):
            return await handler(request)
        send_path = SEND_PATH_RE.match(request.path) if request.method == "POST" else None
        self._started(is_send=send_path is not None)
        try:
            latency = self.latency
            if latency > 0:
                await asyncio.sleep(latency / 2)  # the way in
            self._settle()
            body, body_error = await _read_json(request)
            request[JSON_BODY] = body
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "json": body,
                    "at": self._now(),
                }
            )
            sends_before = len(self.sends)
            try:
                response = await self._answer(request, handler, body_error)
            except ApiError as exc:
                response = exc.response()
            if send_path:
                self.send_attempts.append(
                    {
                        "draft_id": int(send_path[1]),
                        "at": self._now(),
                        "status": response.status,
                        "accepted": len(self.sends) > sends_before,
                    }
                )
            if latency > 0:
                await asyncio.sleep(latency / 2)  # the way back
            return response
        finally:
            self.in_flight -= 1
            if send_path:
                self.sends_in_flight -= 1

    def _started(self, *, is_send: bool) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if is_send:
            self.sends_in_flight += 1
            self.max_sends_in_flight = max(self.max_sends_in_flight, self.sends_in_flight)
        now = time.monotonic()
        self._recent_starts.append(now)
        while self._recent_starts[0] <= now - 1.0:
            self._recent_starts.popleft()
        self.max_started_per_second = max(self.max_started_per_second, len(self._recent_starts))

    def reset_load_counters(self) -> None:
        """Forget the high-water marks (requests in flight are still counted)."""
        self.max_in_flight = self.in_flight
        self.max_sends_in_flight = self.sends_in_flight
        self._recent_starts.clear()
        self.max_started_per_second = 0

    async def _answer(
        self, request: web.Request, handler: Callable, body_error: ApiError | None
    ) -> web.StreamResponse:
        if request.headers.get("Authorization") != self._authorization:
            raise ApiError(401, "API key authentication/authorization failure")
        if self._over_rate_limit():
            self.rate_limited += 1
            return _Fault(request.method, re.compile(""), 429, 1, False, 0.0, None, retry_after=1).response()
        fault = self._take_fault(request)
        if fault is None:
            if body_error:
                raise body_error
            return await _call(handler, request)
        if fault.apply_first and not body_error:
            with suppress(ApiError):
                await _call(handler, request)
        await asyncio.sleep(fault.delay)
        return fault.response()

    def _over_rate_limit(self) -> bool:
        if self._rate_limit is None:
            return False
        second = int(time.monotonic())
        seen = self._rate_window[1] + 1 if self._rate_window[0] == second else 1
        self._rate_window = (second, seen)
        return seen > self._rate_limit

    def _take_fault(self, request: web.Request) -> _Fault | None:
        for fault in self._faults:
            if fault.method == request.method and fault.pattern.search(request.path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------ contact

    def _contact_index(self, request: web.Request) -> web.Response:
        q = _Query(request.query, ("ContactsList", "Campaign", "IsExcludedFromCampaigns"))
        name, descending = q.sort
        if name not in (None, "id"):
            raise ApiError(
                400, f'Sort "{name}" is not modelled by the stand-in for contact (use ID)'
            )
        ids = self._contact_ids(
            q.number("ContactsList"), q.number("Campaign"), q.flag("IsExcludedFromCampaigns")
        )
        return _page(q, ids, lambda cid: self._contact_row(self._contacts[cid]), descending)

    def _contact_ids(
        self, list_id: int | None, campaign_id: int | None, excluded: bool | None
    ) -> Sequence[int]:
        sources: list[Sequence[int]] = []
        if list_id is not None:
            contacts_list = self._lists.get(list_id)
            sources.append(contacts_list.contact_ids if contacts_list else [])
        if campaign_id is not None:
            run = self._runs.get(campaign_id)
            sources.append(run.recipients if run else [])
        if not sources:
            sources.append(self._view(("contacts",), lambda: sorted(self._contacts)))
        if len(sources) == 1 and excluded is None:
            return sources[0]

        def build() -> list[int]:
            others = [set(source) for source in sources[1:]]
            return [
                cid
                for cid in sources[0]
                if all(cid in other for other in others)
                and (excluded is None or self._contacts[cid].excluded == excluded)
            ]

        return self._view(("contact", list_id, campaign_id, excluded), build)

    def _contact_get(self, request: web.Request) -> web.Response:
        ref = request.match_info["id"]
        contact_id = int(ref) if ref.isdigit() else self._contact_by_email.get(_email_key(ref))
        contact = self._contacts.get(contact_id) if contact_id is not None else None
        if contact is None:
            raise _not_found()
        return _envelope([self._contact_row(contact)])

    @staticmethod
    def _contact_row(contact: _Contact) -> dict[str, Any]:
        return {
            "CreatedAt": contact.created_at,
            "DeliveredCount": 0,
            "Email": contact.email,
            "ExclusionFromCampaignsUpdatedAt": "",
            "ID": contact.id,
            "IsExcludedFromCampaigns": contact.excluded,
            "IsOptInPending": False,
            "IsSpamComplaining": False,
            "LastActivityAt": contact.created_at,
            "LastUpdateAt": contact.created_at,
            "Name": contact.name,
        }

    def _upsert_contact(
        self, email: str, name: str | None, excluded: bool | None, now: str
    ) -> _Contact:
        contact_id = self._contact_by_email.get(_email_key(email))
        if contact_id is None:
            contact = _Contact(self._new_id("contact"), email, name or "", now, bool(excluded))
            self._contact_by_email[_email_key(email)] = contact.id
        else:
            contact = self._contacts[contact_id]
            if name is not None:
                contact = contact._replace(name=name)
            if excluded is not None:
                contact = contact._replace(excluded=excluded)
        self._contacts[contact.id] = contact
        return contact

    # ------------------------------------------------------------------ contactslist

    def _list_index(self, request: web.Request) -> web.Response:
        q = _Query(request.query, ("Name", "IsDeleted", "Address", "ExcludeID"))
        name, deleted, address, exclude = (
            q.text("Name"),
            q.flag("IsDeleted"),
            q.text("Address"),
            q.number("ExcludeID"),
        )
        rows = [
            self._list_row(contacts_list)
            for contacts_list in self._lists.values()
            if (name is None or contacts_list.name == name)
            and (deleted is None or contacts_list.is_deleted == deleted)
            and (address is None or contacts_list.address == address)
            and contacts_list.id != exclude
        ]
        return _page_rows(q, rows)

    def _list_create(self, request: web.Request) -> web.Response:
        body = _body(request, ("Name", "IsDeleted"))
        contacts_list = self._new_list(body.get("Name"))
        contacts_list.is_deleted = bool(body.get("IsDeleted", False))
        return _envelope([self._list_row(contacts_list)], status=201)

    def _list_get(self, request: web.Request) -> web.Response:
        return _envelope([self._list_row(self._list(_path_int(request)))])

    def _list_update(self, request: web.Request) -> web.Response:
        contacts_list = self._list(_path_int(request))
        body = _body(request, ("Name", "IsDeleted"))
        if "Name" in body:
            self._check_list_name(body["Name"], ignore=contacts_list)
            contacts_list.name = body["Name"]
        if "IsDeleted" in body:
            contacts_list.is_deleted = bool(body["IsDeleted"])
        return _envelope([self._list_row(contacts_list)])

    def _list_delete(self, request: web.Request) -> web.Response:
        # Mailjet keeps deleted lists, flagged IsDeleted.
        self._list(_path_int(request)).is_deleted = True
        return web.Response(status=204)

    def _new_list(self, name: Any) -> _ContactsList:
        self._check_list_name(name)
        list_id = self._new_id("list")
        contacts_list = _ContactsList(
            list_id, name, uuid.uuid5(uuid.NAMESPACE_URL, f"list{list_id}").hex[:10], self._stamp()
        )
        self._lists[list_id] = contacts_list
        self._emit("list_created", {"ID": list_id, "Name": name})
        return contacts_list

    def _check_list_name(self, name: Any, ignore: _ContactsList | None = None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "Name is required and must be a non-empty string")
        for other in self._lists.values():
            if other is not ignore and not other.is_deleted and other.name == name:
                raise ApiError(400, f"MJ18 A Contacts list with name {name} already exists")

    def _list(self, list_id: int) -> _ContactsList:
        contacts_list = self._lists.get(list_id)
        if contacts_list is None:
            raise _not_found()
        return contacts_list

    @staticmethod
    def _list_row(contacts_list: _ContactsList) -> dict[str, Any]:
        return {
            "Address": contacts_list.address,
            "CreatedAt": contacts_list.created_at,
            "ID": contacts_list.id,
            "IsDeleted": contacts_list.is_deleted,
            "Name": contacts_list.name,
            "SubscriberCount": contacts_list.subscriber_count,
        }

    # ------------------------------------------------------------------ memberships

    def _add_member(
        self, contacts_list: _ContactsList, contact_id: int, now: str, *, unsubscribed: bool
    ) -> None:
        if contacts_list.next_recipient >= RECIPIENT_ID_STRIDE:
            raise ApiError(400, f"Contacts list {contacts_list.id} is full for the stand-in")
        recipient_id = contacts_list.first_recipient_id + contacts_list.next_recipient
        contacts_list.next_recipient += 1
        contacts_list.members[contact_id] = _Member(recipient_id, now, now if unsubscribed else "")
        ids = contacts_list.contact_ids
        if not ids or contact_id > ids[-1]:
            ids.append(contact_id)  # the bulk case: new contacts have the highest IDs
        else:
            bisect.insort(ids, contact_id)
        contacts_list.recipient_ids.append(recipient_id)  # recipient IDs only grow
        contacts_list.recipient_contacts.append(contact_id)
        contacts_list.unsubscribed += unsubscribed

    def _remove_member(self, contacts_list: _ContactsList, contact_id: int) -> None:
        member = contacts_list.members.pop(contact_id)
        del contacts_list.contact_ids[bisect.bisect_left(contacts_list.contact_ids, contact_id)]
        index = bisect.bisect_left(contacts_list.recipient_ids, member.recipient_id)
        del contacts_list.recipient_ids[index]
        del contacts_list.recipient_contacts[index]
        contacts_list.unsubscribed -= member.unsubscribed

    def _set_unsubscribed(
        self, contacts_list: _ContactsList, contact_id: int, unsubscribed: bool, now: str
    ) -> None:
        member = contacts_list.members[contact_id]
        contacts_list.members[contact_id] = member._replace(
            subscribed_at=member.subscribed_at if unsubscribed else now,
            unsubscribed_at=now if unsubscribed else "",
        )
        contacts_list.unsubscribed += int(unsubscribed) - int(member.unsubscribed)

    def _apply_action(
        self, contacts_list: _ContactsList, action: str, entries: list[dict[str, Any]]
    ) -> tuple[int, int]:
        """Carry out one managemanycontacts action; returns (contacts processed, invalid emails)."""
        now = self._stamp()
        processed = invalid = 0
        for entry in entries:
            email = entry["Email"].strip()
            if not EMAIL_RE.match(email):
                invalid += 1
                continue
            processed += 1
            if action == "remove":
                contact_id = self._contact_by_email.get(_email_key(email))
                if contact_id in contacts_list.members:
                    self._remove_member(contacts_list, contact_id)
                continue
            contact = self._upsert_contact(
                email, entry.get("Name"), entry.get("IsExcludedFromCampaigns"), now
            )
            member = contacts_list.members.get(contact.id)
            if member is None:
                self._add_member(contacts_list, contact.id, now, unsubscribed=action == "unsub")
            elif action == "unsub" or (action == "addforce" and member.unsubscribed):
                # addnoforce leaves an unsubscribed member unsubscribed; addforce resubscribes.
                self._set_unsubscribed(contacts_list, contact.id, action == "unsub", now)
        self._contacts_changed(contacts_list, **{action: processed})
        return processed, invalid

    def _contacts_changed(self, contacts_list: _ContactsList, **counts: int) -> None:
        self._views.clear()
        self._emit(
            "contacts_changed",
            {
                "list_id": contacts_list.id,
                **counts,
                "SubscriberCount": contacts_list.subscriber_count,
            },
        )

    # ------------------------------------------------------------------ managemanycontacts jobs

    def _job_create(self, request: web.Request) -> web.Response:
        contacts_list = self._list(_path_int(request))
        if contacts_list.is_deleted:
            raise ApiError(400, f"Contacts list {contacts_list.id} is deleted")
        body = _body(request, ("Action", "Contacts"))
        action, contacts = body.get("Action"), body.get("Contacts")
        if action not in MANAGE_ACTIONS:
            raise ApiError(400, f"Action must be one of {', '.join(MANAGE_ACTIONS)}")
        if (
            not isinstance(contacts, list)
            or not contacts
            or not all(isinstance(c, dict) and isinstance(c.get("Email"), str) for c in contacts)
        ):
            raise ApiError(400, 'Contacts must be a non-empty array of objects with an "Email"')
        job = _Job(
            self._new_id("job"), contacts_list.id, action, contacts, self._job_polls, self._stamp()
        )
        self._jobs[job.id] = job
        if job.polls_left == 0:
            self._finish_job(job)
        return _envelope([{"JobID": job.id}], status=201)

    def _job_get(self, request: web.Request) -> web.Response:
        contacts_list = self._list(_path_int(request))
        job = self._jobs.get(_path_int(request, "job"))
        if job is None or job.list_id != contacts_list.id:
            raise _not_found()
        if not job.done:
            if job.polls_left > 0:
                job.polls_left -= 1
            else:
                self._finish_job(job)
        return _envelope([job.row()])

    def _finish_job(self, job: _Job) -> None:
        job.count, invalid = self._apply_action(self._lists[job.list_id], job.action, job.contacts)
        if invalid:
            job.error = f"{invalid} contact(s) skipped: invalid email address"
        job.ended_at = self._stamp()

    # ------------------------------------------------------------------ listrecipient

    def _recipient_index(self, request: web.Request) -> web.Response:
        q = _Query(request.query, ("ContactsList", "ListName", "Contact", "ContactEmail", "Unsub"))
        name, descending = q.sort
        if name not in (None, "id", "contactid"):
            raise ApiError(
                400,
                f'Sort "{name}" is not modelled for listrecipient (use ID or ContactID)',
            )
        lists = self._lists_matching(q.number("ContactsList"), q.text("ListName"))
        contact_id = self._contact_filter(q.number("Contact"), q.text("ContactEmail"))
        unsub = q.flag("Unsub")
        by_contact = name == "contactid"
        if len(lists) == 1 and contact_id is None and unsub is None and not by_contact:
            rids: Sequence[int] = lists[0].recipient_ids
        else:
            key = ("recipients", tuple(lst.id for lst in lists), contact_id, unsub, by_contact)
            rids = self._view(
                key, lambda: self._recipient_ids(lists, contact_id, unsub, by_contact)
            )
        return _page(q, rids, self._recipient_row, descending)

    def _lists_matching(self, list_id: int | None, list_name: str | None) -> list[_ContactsList]:
        return [
            lst
            for lst in self._lists.values()
            if (list_id is None or lst.id == list_id)
            and (list_name is None or lst.name == list_name)
        ]

    def _contact_filter(self, contact_id: int | None, email: str | None) -> int | None:
        if email is not None:
            # An unknown address matches nobody: -1 is no contact's ID.
            by_email = self._contact_by_email.get(_email_key(email), -1)
            return by_email if contact_id in (None, by_email) else -1
        return contact_id

    def _recipient_ids(
        self,
        lists: list[_ContactsList],
        contact_id: int | None,
        unsub: bool | None,
        by_contact: bool,
    ) -> list[int]:
        found: list[tuple[int, int]] = []  # (contact ID, recipient ID)
        for lst in lists:
            candidates = lst.contact_ids if contact_id is None else [contact_id]
            for cid in candidates:
                member = lst.members.get(cid)
                if member is not None and (unsub is None or member.unsubscribed == unsub):
                    found.append((cid, member.recipient_id))
        found.sort(key=lambda pair: pair if by_contact else pair[1])
        return [rid for _, rid in found]

    def _recipient_get(self, request: web.Request) -> web.Response:
        recipient_id = _path_int(request)
        if self._locate_recipient(recipient_id) is None:
            raise _not_found()
        return _envelope([self._recipient_row(recipient_id)])

    def _locate_recipient(self, recipient_id: int) -> tuple[_ContactsList, int] | None:
        ordinal = (recipient_id - RECIPIENT_ID_BASE) // RECIPIENT_ID_STRIDE
        contacts_list = (
            self._lists.get(FIRST_IDS["list"] + ordinal)
            if recipient_id >= RECIPIENT_ID_BASE
            else None
        )
        contact_id = contacts_list.contact_for_recipient(recipient_id) if contacts_list else None
        return None if contact_id is None else (contacts_list, contact_id)

    def _recipient_row(self, recipient_id: int) -> dict[str, Any]:
        contacts_list, contact_id = self._locate_recipient(recipient_id)
        list_id = contacts_list.id
        member = contacts_list.members[contact_id]
        return {
            "ContactID": contact_id,
            "ID": recipient_id,
            "IsActive": True,
            "IsUnsubscribed": member.unsubscribed,
            "ListID": list_id,
            "ListName": contacts_list.name,
            "SubscribedAt": member.subscribed_at,
            "UnsubscribedAt": member.unsubscribed_at,
        }

    # ------------------------------------------------------------------ campaigndraft

    def _draft_index(self, request: web.Request) -> web.Response:
        q = _Query(request.query, ("ContactsList", "Status", "Subject", "Campaign"))
        wanted = {
            "ContactsListID": q.number("ContactsList"),
            "Status": q.number("Status"),
            "Subject": q.text("Subject"),
            "CampaignID": q.number("Campaign"),
        }
        rows = [
            dict(draft)
            for draft in self._drafts.values()
            if all(value is None or draft[name] == value for name, value in wanted.items())
        ]
        return _page_rows(q, rows)

    def _draft_create(self, request: web.Request) -> web.Response:
        draft = self._new_draft(_body(request, DRAFT_WRITABLE), required=DRAFT_REQUIRED)
        return _envelope([dict(draft)], status=201)

    def _draft_get(self, request: web.Request) -> web.Response:
        return _envelope([dict(self._draft(_path_int(request)))])

    def _draft_update(self, request: web.Request) -> web.Response:
        draft = self._draft(_path_int(request))
        body = _body(request, DRAFT_WRITABLE | {"Status"})
        status = body.pop("Status", None)
        if body:
            self._require_editable(draft)
            draft.update(self._checked_draft_fields(body))
        if status is not None:
            self._change_draft_status(draft, _int_field(status, "Status"))
        draft["ModifiedAt"] = self._stamp()
        return _envelope([dict(draft)])

    def _new_draft(self, fields: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
        missing = [name for name in required if fields.get(name) in (None, "")]
        if missing:
            raise ApiError(400, f"Missing required properties: {', '.join(missing)}")
        checked = self._checked_draft_fields(fields)
        draft_id, now = self._new_id("draft"), self._stamp()
        draft = {
            "AXFraction": 0,
            "AXFractionName": "",
            "AXTesting": None,
            "CampaignID": 0,
            "ContactsListID": 0,
            "CreatedAt": now,
            "Current": 0,
            "DeliveredAt": "",
            "EditMode": "html2",
            "ID": draft_id,
            "IsStarred": False,
            "IsTextPartIncluded": False,
            "Locale": "",
            "ModifiedAt": now,
            "Preset": "",
            "ReplyEmail": "",
            "SegmentationID": 0,
            "Sender": "",
            "SenderEmail": "",
            "SenderName": "",
            "Status": DRAFT,
            "Subject": "",
            "TemplateID": 0,
            "Title": "",
            "Url": "",
            "Used": False,
        }
        draft.update(checked)
        draft["SenderName"] = draft["SenderName"] or draft["Sender"]
        self._drafts[draft_id] = draft
        self._contents[draft_id] = {
            "Headers": {},
            "Html-part": "",
            "MJMLContent": "",
            "Text-part": "",
        }
        self._emit(
            "draft_created",
            {"ID": draft_id, "Title": draft["Title"], "ContactsListID": draft["ContactsListID"]},
        )
        return draft

    def _checked_draft_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        checked = dict(fields)
        if "ContactsListID" in fields:
            checked["ContactsListID"] = _int_field(fields["ContactsListID"], "ContactsListID")
            if checked["ContactsListID"] not in self._lists:
                raise ApiError(
                    400, f"ContactsListID {checked['ContactsListID']}: no such contacts list"
                )
        if "SenderEmail" in fields:
            sender = self._sender_by_email(fields["SenderEmail"])
            if sender is None or sender["Status"] == "Deleted":
                raise ApiError(
                    400, f"SenderEmail {fields['SenderEmail']} is not a sender of this account"
                )
        if "TemplateID" in fields:
            checked["TemplateID"] = _int_field(fields["TemplateID"], "TemplateID")
        return checked

    def _require_editable(self, draft: dict[str, Any]) -> None:
        if draft["Status"] not in (DRAFT, PROGRAMMED):
            raise ApiError(
                400,
                f"Campaign draft {draft['ID']} can not be modified: it is {_status_name(draft)}",
            )

    def _change_draft_status(self, draft: dict[str, Any], status: int) -> None:
        # Through PUT a draft can only be archived, deleted or brought back to Draft; it is
        # programmed through /schedule and sent through /send.
        if status not in (-2, -1, DRAFT) or (status == DRAFT and draft["CampaignID"]):
            raise ApiError(
                400, f"Status can not be set to {status} for campaign draft {draft['ID']}"
            )
        draft["Status"] = status
        self._schedules.pop(draft["ID"], None)

    def _draft(self, draft_id: int) -> dict[str, Any]:
        draft = self._drafts.get(draft_id)
        if draft is None:
            raise _not_found()
        return draft

    def _draft_status(self, request: web.Request) -> web.Response:
        draft = self._draft(_path_int(request))
        return _envelope([{"Status": _status_name(draft)}])

    # ------------------------------------------------------------------ detailcontent

    def _content_get(self, request: web.Request) -> web.Response:
        draft = self._draft(_path_int(request))
        return _envelope([dict(self._contents[draft["ID"]])])

    def _content_replace(self, request: web.Request) -> web.Response:
        return self._store_content(request, replace=True, status=201)

    def _content_update(self, request: web.Request) -> web.Response:
        return self._store_content(request, replace=False, status=200)

    def _store_content(self, request: web.Request, *, replace: bool, status: int) -> web.Response:
        # POST blanks the parts it does not name; PUT keeps them (Mailjet's documented rule).
        draft = self._draft(_path_int(request))
        body = _body(request, CONTENT_FIELDS)
        self._require_editable(draft)
        content = self._contents[draft["ID"]]
        if replace:
            content.update({"Headers": {}, "Html-part": "", "MJMLContent": "", "Text-part": ""})
        content.update(body)
        draft["ModifiedAt"] = self._stamp()
        return _envelope([dict(content)], status=status)

    # ------------------------------------------------------------------ send, test, schedule

    def _draft_send(self, request: web.Request) -> web.Response:
        draft = self._draft(_path_int(request))
        # A draft that is programmed (being sent, or scheduled) or sent cannot be sent again
        # (api-documentation guides/_newsletter.md: a campaign is sent once; the draft's Status
        # then reads 1 "programmed" and later 2 "sent").
        if draft["Status"] != DRAFT:
            raise ApiError(
                400,
                "Campaign draft status must be Draft to be sent "
                f"(it is {_status_name(draft)})",
            )
        self._validate_for_sending(draft)
        recipients = self._campaign_recipients(draft)
        self._accept_send(draft, recipients)
        # Mailjet answers {"Status": "Programmed"} and sends in the background (guides/_newsletter.md).
        return _envelope([{"Status": "Programmed"}], status=201)

    def _draft_test(self, request: web.Request) -> web.Response:
        draft = self._draft(_path_int(request))
        recipients = _body(request, ("Recipients",)).get("Recipients")
        if (
            not isinstance(recipients, list)
            or not recipients
            or not all(
                isinstance(r, dict) and EMAIL_RE.match(str(r.get("Email", ""))) for r in recipients
            )
        ):
            raise ApiError(
                400, 'Recipients must be a non-empty array of objects with a valid "Email"'
            )
        self._validate_for_sending(draft)
        self.test_sends.append(
            {
                "draft_id": draft["ID"],
                "recipients": [r["Email"] for r in recipients],
                "at": self._now(),
            }
        )
        return _envelope([{"Status": _status_name(draft)}], status=201)

    def _schedule(self, request: web.Request) -> web.Response:
        draft_id = _path_int(request)
        self.schedule_calls.append(
            {
                "method": request.method,
                "draft_id": draft_id,
                "json": request[JSON_BODY],
                "at": self._now(),
            }
        )
        draft = self._draft(draft_id)
        if request.method == "GET":
            if draft_id not in self._schedules:
                raise _not_found()
            return _envelope([{"Date": self._schedules[draft_id], "Status": "Programmed"}])
        if request.method == "DELETE":
            if self._schedules.pop(draft_id, None) is None:
                raise _not_found()
            draft["Status"] = DRAFT
            return web.Response(status=204)
        if request.method == "PUT" and draft_id not in self._schedules:
            raise _not_found()
        if draft["Status"] not in (DRAFT, PROGRAMMED):
            raise ApiError(
                400,
                f"Campaign draft status must be Draft to schedule it (it is {_status_name(draft)})",
            )
        date = self._schedule_date(_body(request, ("Date", "date")))
        self._validate_for_sending(draft)
        self._campaign_recipients(draft)
        draft["Status"] = PROGRAMMED
        self._schedules[draft_id] = date
        return _envelope(
            [{"Date": date, "Status": "Programmed"}],
            status=201 if request.method == "POST" else 200,
        )

    def _schedule_date(self, body: dict[str, Any]) -> str:
        value = body.get("Date", body.get("date"))
        if not isinstance(value, str) or not value:
            raise ApiError(400, 'Date is required: an ISO 8601 date-time with an offset, or "NOW"')
        if value.upper() == "NOW":
            return _iso(self._now())
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ApiError(400, f'Invalid Date "{value}": expected ISO 8601') from None
        if when.tzinfo is None:
            raise ApiError(400, f'Invalid Date "{value}": a time zone offset is required')
        if when < self._now():
            raise ApiError(400, "Date of scheduling must not be in the past")
        return _iso(when)

    def _validate_for_sending(self, draft: dict[str, Any]) -> None:
        """The checks Mailjet documents for /send, /schedule and /test."""
        sender = self._sender_by_email(draft["SenderEmail"])
        if sender is None or sender["Status"] != "Active":
            raise ApiError(400, f"SenderEmail {draft['SenderEmail']} is not an active sender")
        if not draft["Sender"]:
            raise ApiError(400, "Sender must not be empty")
        if not draft["Subject"]:
            raise ApiError(400, "Subject must not be empty")
        content = self._contents[draft["ID"]]
        if not (content["Html-part"] or content["Text-part"]):
            raise ApiError(
                400,
                "The campaign draft has no content: set Html-part and/or Text-part (detailcontent)",
            )

    def _campaign_recipients(self, draft: dict[str, Any]) -> list[int]:
        contacts_list = self._lists.get(draft["ContactsListID"])
        if contacts_list is None or contacts_list.is_deleted:
            raise ApiError(400, "The campaign draft has no valid contacts list (ContactsListID)")
        recipients = [
            cid
            for cid in contacts_list.contact_ids
            if not contacts_list.members[cid].unsubscribed and not self._contacts[cid].excluded
        ]
        if not recipients:
            raise ApiError(
                400, f"Contacts list {contacts_list.id} has no active subscribed recipient"
            )
        return recipients

    def _accept_send(self, draft: dict[str, Any], recipients: list[int]) -> None:
        """The send call: Mailjet takes it and delivers in the background. Until processing is
        over the draft reads Status 1 ("programmed") with CampaignID 0, as Mailjet's does; the
        campaign (its ID, statistics and messages) exists only from then on."""
        now = self._now()
        self._schedules.pop(draft["ID"], None)
        draft.update({"Status": PROGRAMMED, "ModifiedAt": _iso(now)})
        send = {
            "draft_id": draft["ID"],
            "campaign_id": None,  # filled in when Mailjet has processed the send
            "at": now,
            "list_id": draft["ContactsListID"],
            "recipients": len(recipients),
        }
        self.sends.append(send)
        self._processing[draft["ID"]] = (now.timestamp() + self.send_processing_seconds, recipients, send)
        self._emit("send", dict(send))
        self._settle()

    def _settle(self) -> None:
        """Finish the background sends whose processing time is over (by the stand-in's clock)."""
        if not self._processing:
            return
        now = self._now().timestamp()
        for draft_id, (ready_at, recipients, send) in list(self._processing.items()):
            if ready_at <= now:
                del self._processing[draft_id]
                send["campaign_id"] = self._send(self._drafts[draft_id], recipients)

    def finish_sends(self) -> None:
        """Tests: let every send under way finish now, whatever the processing time."""
        for draft_id, (_, recipients, send) in list(self._processing.items()):
            del self._processing[draft_id]
            send["campaign_id"] = self._send(self._drafts[draft_id], recipients)

    def _send(self, draft: dict[str, Any], recipients: list[int]) -> int:
        now = self._now()
        stamp = _iso(now)
        ordinal = len(self._runs)
        sender = self._sender_by_email(draft["SenderEmail"])
        content = self._contents[draft["ID"]]
        has_html, has_text = bool(content["Html-part"]), bool(content["Text-part"])
        campaign_id = FIRST_CAMPAIGN_ID + ordinal
        row = {
            "CampaignType": 2,  # marketing
            "CreatedAt": stamp,
            "CustomValue": f"mj.nl={draft['ID']}",
            "FirstMessageID": MESSAGE_ID_BASE + ordinal * MESSAGE_ID_STRIDE,
            "FromEmail": draft["SenderEmail"],
            "FromID": sender["ID"],
            "FromName": draft["SenderName"],
            "HasHtmlCount": len(recipients) if has_html else 0,
            "HasTxtCount": len(recipients) if has_text else 0,
            "ID": campaign_id,
            "IsDeleted": False,
            "IsStarred": False,
            "ListID": draft["ContactsListID"],
            "NewsLetterID": draft["ID"],
            "SegmentationID": 0,
            "SendEndAt": stamp,
            "SendStartAt": stamp,
            "SpamassScore": 0,
            "Subject": draft["Subject"],
            "WorkflowID": 0,
        }
        self._runs[campaign_id] = _Run(row, recipients, now, sender["ID"], has_html, has_text)
        draft.update(
            {"Status": SENT, "CampaignID": campaign_id, "DeliveredAt": stamp, "ModifiedAt": stamp}
        )
        self._schedules.pop(draft["ID"], None)
        self._views.clear()
        self._emit("sent", {"draft_id": draft["ID"], "campaign_id": campaign_id, "recipients": len(recipients)})
        return campaign_id

    # ------------------------------------------------------------------ campaign, sender

    def _campaign_index(self, request: web.Request) -> web.Response:
        q = _Query(
            request.query,
            ("ContactsList", "ContactsListID", "CustomCampaign", "IsDeleted", "IsStarred"),
        )
        list_id = (
            q.number("ContactsList")
            if q.text("ContactsList") is not None
            else q.number("ContactsListID")
        )
        wanted = {
            "ListID": list_id,
            "CustomValue": q.text("CustomCampaign"),
            "IsDeleted": q.flag("IsDeleted"),
            "IsStarred": q.flag("IsStarred"),
        }
        rows = [
            dict(run.row)
            for run in self._runs.values()
            if all(value is None or run.row[name] == value for name, value in wanted.items())
        ]
        return _page_rows(q, rows)

    def _campaign_get(self, request: web.Request) -> web.Response:
        # Unique keys: the campaign ID, or "mj.nl=<draft ID>" (Mailjet's documented key).
        ref = request.match_info["id"]
        if ref.startswith("mj.nl=") and ref[6:].isdigit():
            run = self._run_for_draft(int(ref[6:]))
        else:
            run = self._runs.get(_path_int(request))
        if run is None:
            raise _not_found()
        return _envelope([dict(run.row)])

    def _run_for_draft(self, draft_id: int) -> _Run | None:
        return next(
            (run for run in self._runs.values() if run.row["NewsLetterID"] == draft_id), None
        )

    def _sender_index(self, request: web.Request) -> web.Response:
        q = _Query(request.query, ("Email", "Status"))
        email, status = q.text("Email"), q.text("Status")
        rows = [
            dict(sender)
            for sender in self._senders.values()
            if (email is None or sender["Email"].lower() == email.lower())
            and (status is None or sender["Status"] == status)
        ]
        return _page_rows(q, rows)

    def _sender_get(self, request: web.Request) -> web.Response:
        ref = request.match_info["id"]
        sender = self._senders.get(int(ref)) if ref.isdigit() else self._sender_by_email(ref)
        if sender is None:
            raise _not_found()
        return _envelope([dict(sender)])

    def _sender_by_email(self, email: Any) -> dict[str, Any] | None:
        wanted = str(email).lower()
        return next((s for s in self._senders.values() if s["Email"].lower() == wanted), None)

    # ------------------------------------------------------------------ statistics

    def _statcounters(self, request: web.Request) -> web.Response:
        q = _Query(
            request.query,
            ("CounterSource", "CounterTiming", "CounterResolution", "SourceId", "FromTS", "ToTS"),
        )
        for name in ("CounterSource", "CounterTiming", "CounterResolution"):
            if not q.text(name):
                raise ApiError(400, f"Missing mandatory filter: {name}")
        if q.text("CounterTiming").lower() not in ("message", "event"):
            raise ApiError(400, "CounterTiming must be Message or Event")
        if (
            q.text("CounterSource").lower() != "campaign"
            or q.text("CounterResolution").lower() != "lifetime"
        ):
            raise ApiError(
                400,
                "Only CounterSource=Campaign with CounterResolution=Lifetime is modelled",
            )
        source_id = q.number("SourceId")
        if source_id is None:
            raise ApiError(
                400,
                "Missing mandatory filter: SourceId (the campaign ID) for CounterSource=Campaign",
            )
        run = self._runs.get(source_id)
        rows = [] if run is None else [self._stat_row(run)]
        return _page(q, rows, lambda row: row)

    @staticmethod
    def _stat_row(run: _Run) -> dict[str, Any]:
        counts = dict.fromkeys(OUTCOME_COUNTERS.values(), 0)
        if run.counts is None:
            counts["MessageQueuedCount"] = len(run.recipients)  # right after a send
        else:
            counts.update(run.counts)
        return {
            "APIKeyID": 0,
            "EventClickDelay": 0,
            "EventOpenDelay": 0,
            "EventWorkflowExitedCount": 0,
            "MessageWorkFlowExitedCount": 0,
            **counts,
            **{event: counts[message] for event, message in EVENT_COUNTERS.items()},
            "SourceID": run.campaign_id,
            "Timeslice": _iso(run.sent_at),
            "Total": len(run.recipients),
        }

    def _message_index(self, request: web.Request) -> web.Response:
        q = _Query(
            request.query, ("Campaign", "Contact", "MessageStatus", "ShowContactAlt", "ShowSubject")
        )
        campaign_id, contact_id, code = (
            q.number("Campaign"),
            q.number("Contact"),
            q.number("MessageStatus"),
        )
        if code is not None and code != 0 and code not in MESSAGE_STATUS_FILTER:
            raise ApiError(400, f"Invalid MessageStatus {code}")
        statuses = MESSAGE_STATUS_FILTER.get(code) if code else None  # 0 = processed = all
        if campaign_id is not None:
            runs = [self._runs[campaign_id]] if campaign_id in self._runs else []
        else:
            runs = list(self._runs.values())
        ids = self._message_ids(runs, statuses, contact_id)
        show_alt, show_subject = bool(q.flag("ShowContactAlt")), bool(q.flag("ShowSubject"))
        return _page(q, ids, lambda mid: self._message_row(mid, show_alt, show_subject))

    def _message_ids(
        self, runs: list[_Run], statuses: set[str] | None, contact_id: int | None
    ) -> Sequence[int]:
        if len(runs) == 1 and statuses is None and contact_id is None:
            run = runs[0]
            return range(run.first_message_id, run.first_message_id + len(run.recipients))
        ids: list[int] = []
        for run in runs:
            positions: Iterable[int]
            if contact_id is not None:
                position = run.position(contact_id)
                positions = [] if position is None else [position]
            elif statuses is not None and run.default_status not in statuses:
                # Only marked recipients can match: look at those, not at every recipient.
                positions = sorted(
                    run.position(cid)
                    for cid, fate in run.fates.items()
                    if FATES[fate].status in statuses
                )
            else:
                positions = range(len(run.recipients))
            if statuses is not None:
                positions = [p for p in positions if run.status_of(run.recipients[p]) in statuses]
            ids.extend(run.first_message_id + p for p in positions)
        return ids

    def _message_get(self, request: web.Request) -> web.Response:
        message_id = _path_int(request)
        if self._locate_message(message_id) is None:
            raise _not_found()
        return _envelope([self._message_row(message_id, False, False)])

    def _locate_message(self, message_id: int) -> tuple[_Run, int] | None:
        ordinal, position = divmod(message_id - MESSAGE_ID_BASE, MESSAGE_ID_STRIDE)
        run = self._runs.get(FIRST_CAMPAIGN_ID + ordinal) if message_id >= MESSAGE_ID_BASE else None
        if run is None or position >= len(run.recipients):
            return None
        return run, position

    def _message_row(self, message_id: int, show_alt: bool, show_subject: bool) -> dict[str, Any]:
        run, position = self._locate_message(message_id)
        contact_id = run.recipients[position]
        fate = FATES.get(run.fates.get(contact_id, ""))
        return {
            "ArrivedAt": _iso(run.sent_at),
            "AttachmentCount": 0,
            "AttemptCount": 1,
            "CampaignID": run.campaign_id,
            "ContactAlt": self._contacts[contact_id].email if show_alt else "",
            "ContactID": contact_id,
            "Delay": 0,
            "DestinationID": 0,
            "FilterTime": 0,
            "ID": message_id,
            "IsClickTracked": True,
            "IsHTMLPartIncluded": run.has_html,
            "IsOpenTracked": True,
            "IsTextPartIncluded": run.has_text,
            "IsUnsubTracked": True,
            "MessageSize": 0,
            "SenderID": run.sender_id,
            "SpamassassinScore": 0,
            "SpamassRules": "",
            "StateID": fate.state_id if fate else 0,
            "StatePermanent": fate.permanent if fate else False,
            "Status": run.status_of(contact_id),
            "Subject": run.row["Subject"] if show_subject else "",
            "UUID": str(uuid.uuid5(uuid.NAMESPACE_OID, str(message_id))),
        }

    def _bounce_index(self, request: web.Request) -> web.Response:
        q = _Query(request.query, ("CampaignID", "ContactsList"))
        campaign_id, list_id = q.number("CampaignID"), q.number("ContactsList")
        rows = [
            self._bounce_row(run, contact_id, FATES[fate])
            for run in self._runs.values()
            if campaign_id in (None, run.campaign_id) and list_id in (None, run.row["ListID"])
            for contact_id, fate in run.fates.items()
            if fate in BOUNCE_FATES
        ]
        return _page_rows(q, rows)

    @staticmethod
    def _bounce_row(run: _Run, contact_id: int, fate: Fate) -> dict[str, Any]:
        return {
            "BouncedAt": _iso(run.sent_at),
            "CampaignID": run.campaign_id,
            "ContactID": contact_id,
            "ID": run.first_message_id + run.position(contact_id),
            # A hard bounce gets the address blocked for later sends.
            "IsBlocked": fate.permanent,
            "IsStatePermanent": fate.permanent,
            "StateID": fate.state_id,
        }

    # ------------------------------------------------------------------ control surface

    async def _control_sends(self, request: web.Request) -> web.Response:
        return web.json_response({"sends": _jsonable(self.sends)})

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "lists": [
                    self._list_row(lst) | {"Members": len(lst.members)}
                    for lst in self._lists.values()
                ],
                "drafts": [
                    {k: d[k] for k in ("ID", "Title", "Status", "CampaignID", "ContactsListID")}
                    for d in self._drafts.values()
                ],
                "campaigns": [
                    {
                        "ID": r.campaign_id,
                        "NewsLetterID": r.row["NewsLetterID"],
                        "Recipients": len(r.recipients),
                    }
                    for r in self._runs.values()
                ],
                "sends": len(self.sends),
                "send_attempts": len(self.send_attempts),
                "latency": self.latency,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "max_sends_in_flight": self.max_sends_in_flight,
                "max_started_per_second": self.max_started_per_second,
                "schedule_calls": len(self.schedule_calls),
                "pending_faults": [
                    {
                        "method": f.method,
                        "path_regex": f.pattern.pattern,
                        "status": f.status,
                        "times": f.times,
                    }
                    for f in self._faults
                ],
            }
        )

    async def _control_fail(self, request: web.Request) -> web.Response:
        return await self._control_call(request, self.fail_next)

    async def _control_outcome(self, request: web.Request) -> web.Response:
        return await self._control_call(request, self.set_outcome)

    @staticmethod
    async def _control_call(request: web.Request, method: Callable[..., None]) -> web.Response:
        try:
            method(**await request.json())
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ small helpers

    def _new_id(self, kind: str) -> int:
        value = self._next_ids[kind]
        self._next_ids[kind] = value + 1
        return value

    def _now(self) -> datetime:
        return self._clock.now()

    def _stamp(self) -> str:
        return _iso(self._now())

    def _view(self, key: tuple, build: Callable[[], list[int]]) -> list[int]:
        if key not in self._views:
            self._views[key] = build()
        return self._views[key]

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(kind, payload)


def _as_coroutine(handler: Callable[[web.Request], web.Response]) -> Callable:
    async def run(request: web.Request) -> web.Response:
        return handler(request)

    return run


async def _call(handler: Callable, request: web.Request) -> web.StreamResponse:
    """Run a route handler, turning aiohttp's own 404/405 into Mailjet-style JSON errors."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        raise ApiError(
            exc.status, "Object not found" if exc.status == 404 else exc.reason
        ) from None
