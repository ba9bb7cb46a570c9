"""Mailjet webhook events set aside ("each malformed one is set aside with its reason").

Mailjet retries a non-200 answer every 30 s for 24 h and then drops the whole batch, so one
malformed event must not cost the good ones: bot/webhook.py stores the valid events of a
batch, answers 200, and hands each event it could not take to this module, which keeps it in
`mailjet_event_rejects` with its reason. Reports never read that table.

An event is set aside when it fails validation (a missing or mistyped field, an unknown
`event` type, not an object at all), or when it holds a value Postgres cannot store: a NUL
character or a lone UTF-16 surrogate in any string (text and jsonb refuse both), or a number
too large for a float (`1e400` is valid JSON but becomes infinity, which jsonb refuses). So
that such an event can still be kept for inspection, its stored copy writes those values as
visible text: a NUL as the six characters `\\u0000`, a lone surrogate as `\\udXXX`, an
infinite number as the string "inf".
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage.queries import Q

# Reasons for values Postgres cannot hold (the validation reasons come from pydantic).
NUL_CHARACTER = "holds a NUL character (\\u0000), which Postgres text and jsonb cannot store"
LONE_SURROGATE = "holds a lone UTF-16 surrogate (invalid Unicode), which Postgres cannot store"
NON_FINITE = "holds a number too large for a float (it becomes infinity), which jsonb cannot store"
TOO_DEEP = "is nested too deeply to inspect"
_MAX_MESSAGE = 200      # per validation message: a tag pydantic quotes back can be long


@dataclass(frozen=True)
class SetAside:
    """One event of a batch that is not stored with the others.

    `reason` says which field is wrong and why (it may quote a wrong `event` tag); `kinds` are
    short labels without any value of the event (`time:int_parsing`, `value:nul_character`)
    for the log line and the metric, which must never carry addresses.
    """

    position: int
    reason: str
    kinds: tuple[str, ...]
    raw: Any


# ---------------------------------------------------------------- pure rules


def validation_reason(errors: list[dict[str, Any]]) -> tuple[str, tuple[str, ...]]:
    """(reason, kinds) of one event from its pydantic errors, as bot.webhook describes them
    ({"field", "error", "type"})."""
    parts, kinds = [], []
    for error in errors:
        message = error["error"] if len(error["error"]) <= _MAX_MESSAGE else error["error"][:_MAX_MESSAGE] + "…"
        parts.append(f"{error['field']}: {message}" if error["field"] else message)
        kinds.append(f"{error['field'] or 'item'}:{error['type']}")
    return "; ".join(parts), tuple(dict.fromkeys(kinds))


def unstorable(value: Any) -> tuple[str, str] | None:
    """(reason, kind) if the JSON value holds something Postgres cannot store, else None.

    Called only on events whose JSON text holds a `\\u` escape (json.dumps escapes every
    non-ASCII character, a NUL and each surrogate that way), so the common event costs nothing.
    """
    try:
        return _unstorable(value)
    except RecursionError:
        return TOO_DEEP, "value:too_deep"


def _unstorable(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str):
        if "\x00" in value:
            return NUL_CHARACTER, "value:nul_character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return LONE_SURROGATE, "value:lone_surrogate"
        return None
    if isinstance(value, dict):
        items: Any = (part for pair in value.items() for part in pair)
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = _unstorable(item)
        if found:
            return found
    return None


def storable_text(value: Any) -> str:
    """The event as JSON text Postgres' jsonb accepts, whatever it holds (see the module doc)."""
    try:
        return json.dumps(_storable(value), separators=(",", ":"), allow_nan=False)
    except RecursionError:
        return json.dumps({"set_aside_note": "nested too deeply to keep; see the reason"})


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\\u0000")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def kind_counts(set_aside: list[SetAside]) -> dict[str, int]:
    """How many events of a batch were set aside for each kind of problem (for the log)."""
    return dict(Counter(kind for item in set_aside for kind in item.kinds))


# ---------------------------------------------------------------- storage


async def record(connection: asyncpg.Connection, set_aside: list[SetAside], received_at: datetime) -> None:
    """Keep a batch's set-aside events (in the caller's transaction)."""
    if not set_aside:
        return
    await connection.execute(
        Q.event_rejects_insert, [item.position for item in set_aside], [item.reason for item in set_aside],
        [storable_text(item.raw) for item in set_aside], received_at,
    )


async def summary(connection: asyncpg.Connection, since: datetime) -> asyncpg.Record:
    """events, receipts, latest: what was set aside since `since` (for `campaign-bot check`)."""
    return await connection.fetchrow(Q.event_rejects_summary, since)


CHECK_WINDOW = timedelta(days=7)
RUNBOOK_SECTION = 'docs/RUNBOOK.md "A webhook event was set aside"'


async def check_line(connection: asyncpg.Connection, now: datetime) -> tuple[bool, str]:
    """(nothing set aside, line) for `campaign-bot check`: the last 7 days' set-aside events.

    A set-aside event is not a broken deployment, so the caller shows it as a warning, not a
    failure; an unmigrated database (no table yet) has nothing set aside.
    """
    try:
        row = await summary(connection, now - CHECK_WINDOW)
    except asyncpg.UndefinedTableError:
        return True, "mailjet webhook: no event set aside (the database is not migrated yet)"
    if not row["events"]:
        return True, "mailjet webhook: no event set aside in the last 7 days"
    latest = row["latest"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return False, (f"mailjet webhook: {row['events']} malformed event(s) set aside in the last 7 days "
                   f"(received {row['receipts']} time(s), latest {latest}); see {RUNBOOK_SECTION}")
