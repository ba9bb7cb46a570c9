"""Numbers after the send: read from Mailjet's statcounters, stored with the time they were
read, and turned into the wrap-up report (bot/messages/report.py). Used by the early look and
the wrap-up stages (jobs/wrapup.py) and by `/campaign report`. Nothing is estimated: numbers
that cannot be read are said to be missing ("numbers are real or absent").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from bot.mailjet import MailjetError
from bot.messages.common import section
from bot.messages.report import WrapupReport, build_wrapup_report
from bot.rates import Counts
from bot.services import Services
from bot.states import SENT
from storage.queries import Q

# Mailjet's MessageStatus filter values for hard and soft bounces.
HARD_BOUNCED, SOFT_BOUNCED = 10, 9


class MailjetUnreadable(Exception):
    """The numbers could not be read; the stage is retried with backoff."""


async def collect(services: Services, connection: asyncpg.Connection, round_row: asyncpg.Record, kind: str,
                  now: datetime) -> asyncpg.Record | None:
    """Read statcounters for a sent round and store them; None when Mailjet has no row yet."""
    try:
        counters = await services.mailjet.statcounters(round_row["mailjet_campaign_id"])
    except MailjetError as exc:
        raise MailjetUnreadable(str(exc)) from exc
    if counters is None:
        return None
    return await connection.fetchrow(Q.snapshot_insert, round_row["id"], round_row["mailjet_campaign_id"], now, kind, counters)


async def bounce_list(services: Services, connection: asyncpg.Connection, campaign_id: int) -> list[tuple[str, str]] | None:
    """(email, hard|soft) of the campaign's bounces: from the event webhook when it has any,
    else paged from Mailjet's message resource. None when neither can be read."""
    events = await connection.fetch(Q.bounce_events_of_campaign, campaign_id)
    if events:
        return [(e["email"], "hard" if e["hard_bounce"] else "soft") for e in events]
    bounces: list[tuple[str, str]] = []
    try:
        for status, kind in ((HARD_BOUNCED, "hard"), (SOFT_BOUNCED, "soft")):
            async for page in services.mailjet.iter_messages(campaign_id, status):
                bounces += [(str(m.get("ContactAlt") or ""), kind) for m in page if m.get("ContactAlt")]
    except MailjetError:
        return None
    return bounces


async def earlier_rounds(connection: asyncpg.Connection, campaign_id: int, number: int) -> list[tuple[int, Counts | None]]:
    latest = {s["number"]: s for s in await connection.fetch(Q.latest_snapshots_of_campaign, campaign_id)}
    rounds = await connection.fetch(Q.rounds_of_campaign, campaign_id)
    return [(r["number"], Counts.from_statcounters(latest[r["number"]]["counters"]) if r["number"] in latest else None)
            for r in rounds if r["number"] < number and r["state"] in SENT and r["mailjet_campaign_id"]]


async def build_report(services: Services, connection: asyncpg.Connection, campaign: asyncpg.Record,
                       round_row: asyncpg.Record, snapshot: asyncpg.Record | None, now: datetime) -> WrapupReport:
    counts = Counts.from_statcounters(snapshot["counters"]) if snapshot else None
    bounces = await bounce_list(services, connection, round_row["mailjet_campaign_id"]) if counts else None
    return build_wrapup_report(
        campaign["name"], round_row["number"], counts, snapshot["collected_at"] if snapshot else None,
        await earlier_rounds(connection, campaign["id"], round_row["number"]), bounces, campaign["timezone"], now=now,
    )


async def report_now(services: Services, campaign: asyncpg.Record, number: int | None) -> list[dict[str, Any]]:
    """`/campaign report`: read the numbers now for one sent round or every sent round."""
    now = services.clock.now()
    out: list[dict[str, Any]] = []
    async with services.pool.acquire() as connection:
        rounds = [r for r in await connection.fetch(Q.rounds_of_campaign, campaign["id"])
                  if number is None or r["number"] == number]
        for round_row in rounds:
            why_not = (f"not sent ({round_row['state']}); no numbers." if round_row["state"] not in SENT else
                       "a dry run; Mailjet sent nothing, so there are no numbers." if round_row["dry_run"] else
                       "sent; Mailjet has not given its campaign id yet, so there are no numbers to show."
                       if not round_row["mailjet_campaign_id"] else None)
            try:
                snapshot = None if why_not else await collect(services, connection, round_row, "on_demand", now)
            except MailjetUnreadable as exc:
                why_not = f"Mailjet could not be read ({exc}); no numbers shown."
            if why_not:
                out.append(section(f"*Round {round_row['number']}*: {why_not}"))
                continue
            report = await build_report(services, connection, campaign, round_row, snapshot, now)
            out += report.to_blocks()
    return out[:50]
