"""The `cleanup` stage (T+24h): once the round was sent live and its Mailjet campaign id is
known, bot/list_cleanup.py builds and posts its plan.
"""

from __future__ import annotations

from bot.list_cleanup import build_plan
from jobs import sent
from jobs.engine import Outcome, StageContext


async def run_cleanup_stage(ctx: StageContext) -> Outcome:
    waiting = await sent.until_numbers(ctx, dry_run="a dry run: Mailjet sent nothing, so nothing bounced",
                                       no_campaign_id="Mailjet gave no campaign id, so the bounces cannot be read")
    if waiting is not None:
        return waiting
    plan = await build_plan(ctx.services, ctx.connection, ctx.campaign, ctx.round, built_by="system", now=ctx.now)
    return Outcome.done(plan=plan["id"], suppress=plan["summary"]["suppressed"])
