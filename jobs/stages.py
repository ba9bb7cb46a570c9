"""Executors of the stages before the launch: pre-launch (the round's parent message),
pre-flight (bot/preflight.py runs it) and the launch warning. Each has an explicit late
policy ("a late notification is posted marked as late, or skipped by its stage's policy;
never silently"):

- pre-launch and pre-flight late: run anyway, marked late;
- warning late by more than WARNING_GRACE: skipped and logged (a warning after the send
  instant would be wrong, and a very late one is noise).
"""

from __future__ import annotations

from datetime import timedelta

from bot.messages.rounds import launch_warning, round_parent
from bot.preflight import run_preflight
from bot.states import FINAL, PRE_SEND
from jobs.engine import Outcome, StageContext
from storage import outbox
from storage import outbox_keys as keys
from storage.queries import Q

WARNING_GRACE = timedelta(minutes=5)


def _minutes(delta: timedelta) -> int:
    return max(int(round(delta.total_seconds() / 60)), 0)


async def run_prelaunch(ctx: StageContext) -> Outcome:
    frozen = (await ctx.connection.fetchrow(Q.freeze_state))["frozen"]
    approval = await ctx.connection.fetchrow(Q.live_approval, ctx.round["id"])
    late_by = f"{_minutes(ctx.late_by)} min" if ctx.is_late else None
    message = round_parent(ctx.campaign, ctx.round, frozen=frozen, late_by=late_by, approval=approval,
                           dry_run=ctx.dry_run)
    queued = await outbox.post_round_parent(
        ctx.connection, round_id=ctx.round["id"], channel=ctx.campaign["channel"], message=message, now=ctx.now
    )
    if not queued:
        # Rescheduled: the parent exists already; show the new instant in place.
        await outbox.update_round_parent(
            ctx.connection, round_id=ctx.round["id"], channel=ctx.campaign["channel"], message=message, now=ctx.now
        )
    return Outcome.done(posted=queued, updated=not queued, late=ctx.is_late)


async def run_warning(ctx: StageContext) -> Outcome:
    if ctx.late_by > WARNING_GRACE or ctx.now >= ctx.round["scheduled_at"]:
        return Outcome.skipped(f"late by {_minutes(ctx.late_by)} min; a launch warning that late would mislead")
    if ctx.round["state"] in FINAL:
        return Outcome.skipped(f"round is {ctx.round['state']}")
    frozen = (await ctx.connection.fetchrow(Q.freeze_state))["frozen"]
    approval = await ctx.connection.fetchrow(Q.live_approval, ctx.round["id"])
    message = launch_warning(ctx.campaign, ctx.round, frozen=frozen,
                             sends_in=ctx.round["scheduled_at"] - ctx.now, approval=approval)
    await outbox.post_in_round_thread(
        ctx.connection, round_id=ctx.round["id"],
        key=keys.warning(ctx.round["id"], ctx.round["scheduled_at"]),
        channel=ctx.campaign["channel"], message=message, now=ctx.now,
    )
    return Outcome.done(state=ctx.round["state"])


async def run_preflight_stage(ctx: StageContext) -> Outcome:
    if ctx.round["state"] not in PRE_SEND:
        return Outcome.skipped(f"round is {ctx.round['state']}")
    late_by = f"{int(ctx.late_by.total_seconds() // 60)} min" if ctx.is_late else None
    run = await run_preflight(ctx.services, ctx.connection, ctx.campaign, ctx.round, requested_by="system",
                              now=ctx.now, late_by=late_by)
    return Outcome.done(run=run["id"], passed=run["passed"])
