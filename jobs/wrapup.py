"""The stages after the send that read numbers: the early look (`metrics`, T+30m), the
wrap-up report (`wrapup`, T+2h) and the list cleanup (`cleanup`, T+24h). bot/reporting.py reads
and stores the numbers; a wrap-up that cannot get them says so and the stage retries ("numbers
are real or absent"). bot/list_cleanup.py builds and posts the cleanup plan.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from bot.list_cleanup import build_plan
from bot.messages.common import round_title
from bot.messages.report import report_message
from bot.messages.rounds import alert, thread_note
from bot.rates import Counts, Verdict
from bot.reporting import MailjetUnreadable, build_report, collect
from bot.round_changes import refresh_parent
from bot.states import RoundState
from jobs import sent
from jobs.engine import Outcome, StageContext
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q


async def chart_png(connection: asyncpg.Connection, campaign: asyncpg.Record) -> bytes | None:
    """Every sent round's rates side by side, from their newest snapshots."""
    latest = await connection.fetch(Q.latest_snapshots_of_campaign, campaign["id"])
    rounds = sorted((s["number"], Counts.from_statcounters(s["counters"])) for s in latest)
    if not rounds:
        return None
    from bot.chart import render_rates_chart  # matplotlib is heavy: only the stage that draws pays for it

    return await asyncio.to_thread(render_rates_chart, rounds, f"{campaign['name']}: rates by round")


async def run_metrics(ctx: StageContext) -> Outcome:
    waiting = await sent.until_numbers(ctx, after=timedelta(minutes=1), dry_run="a dry run has no numbers",
                                       no_campaign_id="Mailjet gave no campaign id, so there are no numbers")
    if waiting is not None:
        return waiting
    snapshot = await collect(ctx.services, ctx.connection, ctx.round, "early", ctx.now)
    return Outcome.done(snapshot=snapshot["id"] if snapshot else None)


async def run_wrapup(ctx: StageContext) -> Outcome:
    waiting = sent.not_sent_yet(ctx, after=timedelta(minutes=1)) or await sent.waiting_for_campaign_id(ctx)
    if waiting is not None:
        return waiting
    campaign, round_row, now = ctx.campaign, ctx.round, ctx.now
    if round_row["dry_run"] or not round_row["mailjet_campaign_id"]:
        # Numbers are real or absent: say which, and why.
        text = (f":test_tube: Wrap-up of {round_title(campaign, round_row)}: "
                f"{'this was a rehearsal' if ctx.is_rehearsal else 'this round was a dry run'}, "
                "so Mailjet sent nothing and there are no numbers to report." if round_row["dry_run"] else
                f":warning: Wrap-up of {round_title(campaign, round_row)}: {sent.no_campaign_id_text(round_row)}")
        await outbox.post_in_round_thread(ctx.connection, round_id=round_row["id"], key=keys.wrapup(round_row["id"]),
                                          channel=campaign["channel"], now=now,
                                          message=thread_note(campaign, round_row, "wrapup", text))
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
    round_row = await ctx.connection.fetchrow(Q.round_transition, round_row["id"], RoundState.SENT, RoundState.REPORTED, now, None) or round_row
    await outbox.post_in_round_thread(ctx.connection, round_id=round_row["id"], key=keys.wrapup(round_row["id"]),
                                      channel=campaign["channel"], now=now, message=report_message(campaign, round_row, report))
    # The parent is re-rendered after the report is queued: it never says "reported" before the report is there.
    await refresh_parent(ctx.connection, ctx.services, campaign, round_row, now)
    png = await chart_png(ctx.connection, campaign)
    if png:
        await outbox.upload_in_round_thread(
            ctx.connection, round_id=round_row["id"], key=keys.wrapup(round_row["id"], "chart"), channel=campaign["channel"],
            filename=f"{campaign['name']}-rates-round-{round_row['number']}.png", title=f"{campaign['name']}: rates by round",
            content=png, comment="Delivery, bounce, open and click rates of every sent round.", now=now,
        )
    if report.verdict == Verdict.CRITICAL:
        await outbox.post_in_round_thread(
            ctx.connection, round_id=round_row["id"], key=keys.wrapup(round_row["id"], "critical"), channel=campaign["channel"],
            now=now, message=alert(campaign, round_row, f"Wrap-up verdict: {report.verdict_text}"),
        )
    await audit(ctx.connection, now=now, actor="system", action="wrap-up reported", campaign_id=campaign["id"],
                round_id=round_row["id"], detail={"summary": f"verdict {report.verdict.value}", "snapshot": snapshot["id"]})
    return Outcome.done(verdict=report.verdict.value, snapshot=snapshot["id"])


async def _mark_reported(ctx: StageContext) -> asyncpg.Record:
    round_row = await ctx.connection.fetchrow(Q.round_transition, ctx.round["id"], RoundState.SENT, RoundState.REPORTED, ctx.now, None)
    round_row = round_row or await ctx.connection.fetchrow(Q.round_by_id, ctx.round["id"])
    await refresh_parent(ctx.connection, ctx.services, ctx.campaign, round_row, ctx.now)
    return round_row


async def _say_unreadable(ctx: StageContext, error: str) -> None:
    async with ctx.services.pool.acquire() as connection:
        await outbox.post_in_round_thread(
            connection, round_id=ctx.round["id"], key=keys.wrapup(ctx.round["id"], "unreadable"),
            channel=ctx.campaign["channel"], now=ctx.now,
            message=thread_note(ctx.campaign, ctx.round, "wrapup",
                                       f":hourglass: Wrap-up of {round_title(ctx.campaign, ctx.round)}: Mailjet "
                                       f"could not be read ({error}). No numbers are shown and none are estimated; "
                                       "it will try again."),
        )


async def run_cleanup_stage(ctx: StageContext) -> Outcome:
    waiting = await sent.until_numbers(ctx, dry_run="a dry run: Mailjet sent nothing, so nothing bounced",
                                       no_campaign_id="Mailjet gave no campaign id, so the bounces cannot be read")
    if waiting is not None:
        return waiting
    plan = await build_plan(ctx.services, ctx.connection, ctx.campaign, ctx.round, built_by="system", now=ctx.now)
    return Outcome.done(plan=plan["id"], suppress=plan["summary"]["suppressed"])
