"""Numbers after the send: the early look (`metrics`, T+30m), the wrap-up report (`wrapup`,
T+2h) and `/campaign report`. Every number comes from Mailjet's statcounters and is stored
with the time it was read; a report that cannot get data says so and the stage retries
(PRODUCT.md invariant 6). Nothing is estimated.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bot.mailjet import MailjetError
from bot.rates import Counts, Verdict
from bot.report import WrapupReport, build_wrapup_report
from bot.services import Services
from handlers import blocks
from jobs import sent
from jobs.engine import Outcome, StageContext
from jobs.preflight import refresh_parent
from storage import outbox
from storage.audit import audit
from storage.outbox import SlackMessage
from storage.queries import Q

SENT_STATES = ("sent", "reported", "cleaned")
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
            for r in rounds if r["number"] < number and r["state"] in SENT_STATES and r["mailjet_campaign_id"]]


async def build_report(services: Services, connection: asyncpg.Connection, campaign: asyncpg.Record,
                       round_row: asyncpg.Record, snapshot: asyncpg.Record | None, now: datetime) -> WrapupReport:
    counts = Counts.from_statcounters(snapshot["counters"]) if snapshot else None
    bounces = await bounce_list(services, connection, round_row["mailjet_campaign_id"]) if counts else None
    return build_wrapup_report(
        campaign["name"], round_row["number"], counts, snapshot["collected_at"] if snapshot else None,
        await earlier_rounds(connection, campaign["id"], round_row["number"]), bounces, campaign["timezone"], now=now,
    )


def report_message(campaign: asyncpg.Record, round_row: asyncpg.Record, report: WrapupReport) -> SlackMessage:
    return SlackMessage(text=report.text, blocks=report.to_blocks(),
                        metadata=blocks.lifecycle_metadata(campaign["name"], round_row["number"], "wrapup", round_row["state"]))


async def chart_png(connection: asyncpg.Connection, campaign: asyncpg.Record) -> bytes | None:
    """Every sent round's rates side by side, from their newest snapshots."""
    latest = await connection.fetch(Q.latest_snapshots_of_campaign, campaign["id"])
    rounds = sorted((s["number"], Counts.from_statcounters(s["counters"])) for s in latest)
    if not rounds:
        return None
    from bot.chart import render_rates_chart  # matplotlib is heavy: only the stage that draws pays for it

    return await asyncio.to_thread(render_rates_chart, rounds, f"{campaign['name']}: rates by round")


def _not_sent_yet(ctx: StageContext) -> Outcome | None:
    """Post-send stages wait for the launch to settle, and skip rounds that were never sent."""
    state = ctx.round["state"]
    if state in ("planned", "ready", "blocked", "approved", "sending"):
        deadline = ctx.round["scheduled_at"] + ctx.campaign["launch_window"]
        return Outcome.wait(max(deadline, ctx.now) + timedelta(minutes=1), "the launch has not settled yet")
    if state not in SENT_STATES:
        return Outcome.skipped(f"round was not sent ({state})")
    return None


async def run_metrics(ctx: StageContext) -> Outcome:
    waiting = _not_sent_yet(ctx)
    if waiting is not None:
        return waiting
    if ctx.round["dry_run"]:
        return Outcome.skipped("a dry run has no numbers")
    waiting = await sent.waiting_for_campaign_id(ctx)
    if waiting is not None:
        return waiting
    if not ctx.round["mailjet_campaign_id"]:
        return Outcome.skipped("Mailjet gave no campaign id, so there are no numbers")
    snapshot = await collect(ctx.services, ctx.connection, ctx.round, "early", ctx.now)
    return Outcome.done(snapshot=snapshot["id"] if snapshot else None)


async def run_wrapup(ctx: StageContext) -> Outcome:
    waiting = _not_sent_yet(ctx)
    if waiting is not None:
        return waiting
    campaign, round_row, now = ctx.campaign, ctx.round, ctx.now
    waiting = await sent.waiting_for_campaign_id(ctx)
    if waiting is not None:
        return waiting
    if round_row["dry_run"] or not round_row["mailjet_campaign_id"]:
        # Numbers are real or absent: say which, and why.
        text = (f":test_tube: Wrap-up of {blocks.round_title(campaign, round_row)}: "
                f"{'this was a rehearsal' if ctx.is_rehearsal else 'this round was a dry run'}, "
                "so Mailjet sent nothing and there are no numbers to report." if round_row["dry_run"] else
                f":warning: Wrap-up of {blocks.round_title(campaign, round_row)}: {sent.no_campaign_id_text(round_row)}")
        await outbox.post_in_round_thread(ctx.connection, round_id=round_row["id"], key=f"round:{round_row['id']}:wrapup",
                                          channel=campaign["channel"], now=now,
                                          message=blocks.thread_note(campaign, round_row, "wrapup", text))
        await _mark_reported(ctx)
        return Outcome.done(dry_run=True) if round_row["dry_run"] else Outcome.done(no_campaign_id=True)
    try:
        snapshot = await collect(ctx.services, ctx.connection, round_row, "wrapup", now)
    except MailjetUnreadable as exc:
        # Say so once, in a separate transaction so the retry below does not undo the message.
        await _say_unreadable(ctx, str(exc))
        raise
    report = await build_report(ctx.services, ctx.connection, campaign, round_row, snapshot, now)
    if snapshot is None:
        await _say_unreadable(ctx, "Mailjet has no statistics for this campaign yet")
        raise MailjetUnreadable("no statcounters row yet")
    round_row = await ctx.connection.fetchrow(Q.round_transition, round_row["id"], "sent", "reported", now, None) or round_row
    await outbox.post_in_round_thread(ctx.connection, round_id=round_row["id"], key=f"round:{round_row['id']}:wrapup",
                                      channel=campaign["channel"], now=now, message=report_message(campaign, round_row, report))
    # The parent is re-rendered after the report is queued: it never says "reported" before the report is there.
    await refresh_parent(ctx.connection, ctx.services, campaign, round_row, now)
    png = await chart_png(ctx.connection, campaign)
    if png:
        await outbox.upload_in_round_thread(
            ctx.connection, round_id=round_row["id"], key=f"round:{round_row['id']}:wrapup:chart", channel=campaign["channel"],
            filename=f"{campaign['name']}-rates-round-{round_row['number']}.png", title=f"{campaign['name']}: rates by round",
            content=png, comment="Delivery, bounce, open and click rates of every sent round.", now=now,
        )
    if report.verdict == Verdict.CRITICAL:
        await outbox.post_in_round_thread(
            ctx.connection, round_id=round_row["id"], key=f"round:{round_row['id']}:wrapup:critical", channel=campaign["channel"],
            now=now, message=blocks.alert(campaign, round_row, f"Wrap-up verdict: {report.verdict_text}"),
        )
    await audit(ctx.connection, now=now, actor="system", action="wrap-up reported", campaign_id=campaign["id"],
                round_id=round_row["id"], detail={"summary": f"verdict {report.verdict.value}", "snapshot": snapshot["id"]})
    return Outcome.done(verdict=report.verdict.value, snapshot=snapshot["id"])


async def _mark_reported(ctx: StageContext) -> asyncpg.Record:
    round_row = await ctx.connection.fetchrow(Q.round_transition, ctx.round["id"], "sent", "reported", ctx.now, None)
    round_row = round_row or await ctx.connection.fetchrow(Q.round_by_id, ctx.round["id"])
    await refresh_parent(ctx.connection, ctx.services, ctx.campaign, round_row, ctx.now)
    return round_row


async def _say_unreadable(ctx: StageContext, error: str) -> None:
    async with ctx.services.pool.acquire() as connection:
        await outbox.post_in_round_thread(
            connection, round_id=ctx.round["id"], key=f"round:{ctx.round['id']}:wrapup:unreadable",
            channel=ctx.campaign["channel"], now=ctx.now,
            message=blocks.thread_note(ctx.campaign, ctx.round, "wrapup",
                                       f":hourglass: Wrap-up of {blocks.round_title(ctx.campaign, ctx.round)}: Mailjet "
                                       f"could not be read ({error}). No numbers are shown and none are estimated; "
                                       "it will try again."),
        )


async def report_now(services: Services, campaign: asyncpg.Record, number: int | None) -> list[dict[str, Any]]:
    """`/campaign report`: read the numbers now for one sent round or every sent round."""
    now = services.clock.now()
    out: list[dict[str, Any]] = []
    async with services.pool.acquire() as connection:
        rounds = [r for r in await connection.fetch(Q.rounds_of_campaign, campaign["id"])
                  if number is None or r["number"] == number]
        for round_row in rounds:
            if round_row["state"] not in SENT_STATES:
                out.append(blocks.section(f"*Round {round_row['number']}*: not sent ({round_row['state']}); no numbers."))
                continue
            if round_row["dry_run"]:
                out.append(blocks.section(f"*Round {round_row['number']}*: a dry run; Mailjet sent nothing, so there are no numbers."))
                continue
            if not round_row["mailjet_campaign_id"]:
                out.append(blocks.section(f"*Round {round_row['number']}*: sent; Mailjet has not given its campaign id yet, "
                                          "so there are no numbers to show."))
                continue
            try:
                snapshot = await collect(services, connection, round_row, "on_demand", now)
            except MailjetUnreadable as exc:
                out.append(blocks.section(f"*Round {round_row['number']}*: Mailjet could not be read ({exc}); no numbers shown."))
                continue
            report = await build_report(services, connection, campaign, round_row, snapshot, now)
            out += report.to_blocks()
    return out[:50]
