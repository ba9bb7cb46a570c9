"""A rehearsal's stages (`/campaign rehearse <name>`; bot/rehearsal.py starts one): the copies of
the unsent rounds run through the ordinary engine and executors. What makes them a rehearsal:

- `StageContext.is_rehearsal` / `dry_run`: the launch never calls Mailjet, claims the copy
  with its own guard (no approval needed: it reports what approval the real round still
  needs) and, when the gate would stop the real round, says so at once instead of waiting
  for the window to close (`would_not_send`);
- pre-flight checks the real round (ledger, instant, previous round) against Mailjet now;
- storage/outbox.py routes every message of a copy into the rehearsal's thread with
  `"rehearsal": true` in its metadata and without buttons; storage/audit.py prefixes its
  audit entries with "rehearsal:";
- every write lands on the copy: the real rounds, their stage runs, approvals, pre-flight
  runs and messages are never touched, and Mailjet is only read.

`after_stage` (wired into the engine) posts a note for a stage that did nothing, and, once
the last stage run of the rehearsal is final, closes it: a summary in the thread, the top
post updated, the audit entry. A row lock on the rehearsal serialises that check between
replicas, so it happens exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from bot.logs import get_logger
from bot.messages import rehearsal as rb
from bot.messages.rounds import thread_note
from bot.preflight_rules import FAIL
from bot.round_changes import Note, change_round
from bot.services import Services
from bot.states import PRE_SEND, SENT, RoundState
from jobs.engine import Outcome, StageContext
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

log = get_logger(__name__)



async def real_round(ctx: StageContext) -> asyncpg.Record:
    return await ctx.connection.fetchrow(Q.round_by_id, ctx.round["rehearsal_of"])


async def launch_message(ctx: StageContext, round_row: asyncpg.Record) -> outbox.SlackMessage:
    """What the rehearsal's launch reports once its (dry) claim went through."""
    real = await real_round(ctx)
    approval = await ctx.connection.fetchrow(Q.live_approval, real["id"])
    return rb.launch_would_send(ctx.campaign, round_row, real, approval, live=not ctx.services.dry_run)


async def would_not_send(ctx: StageContext, reason: str) -> Outcome:
    """The real launch would wait (held, frozen, blocked…): the rehearsal says so now and ends
    the copy as missed, which is what the real round becomes if nothing changes."""
    real = await real_round(ctx)
    current = await ctx.connection.fetchrow(Q.round_by_id, ctx.round["id"])
    await change_round(ctx.connection, ctx.services, ctx.campaign, current, to=RoundState.MISSED, now=ctx.now, actor="system",
                       action="launch would not send", detail={"summary": reason}, refresh=False,
                       outcome=f"The rehearsal's launch would not send: {reason}.",
                       note=Note(keys.rehearsal_note(current["id"], "launch"),
                                 rb.launch_would_not_send(ctx.campaign, current, real, reason), "launch"))
    return Outcome.done(would_send=False, reason=reason)


async def after_stage(ctx: StageContext, state: str, result: dict[str, Any]) -> None:
    """The engine's hook, in the stage's transaction after its outcome is recorded."""
    if not ctx.is_rehearsal:
        return
    if state in ("skipped", "not_implemented"):
        round_row = await ctx.connection.fetchrow(Q.round_by_id, ctx.round["id"])
        stage = ctx.run["stage"]
        text = rb.stage_note(ctx.campaign, round_row, stage, str(result.get("reason") or state),
                             soft_bounce_threshold=ctx.services.settings.SOFT_BOUNCE_THRESHOLD)
        await outbox.post_in_round_thread(ctx.connection, round_id=round_row["id"], key=keys.rehearsal_note(round_row["id"], stage),
                                          channel=ctx.campaign["channel"], now=ctx.now,
                                          message=thread_note(ctx.campaign, round_row, stage, text))
    await finish_if_done(ctx.services, ctx.connection, ctx.round["rehearsal_id"], ctx.campaign, ctx.now)


async def finish_if_done(services: Services, connection: asyncpg.Connection, rehearsal_id: int,
                         campaign: asyncpg.Record, now: datetime) -> bool:
    """Close the rehearsal once none of its stage runs is pending. True if this call closed it."""
    rehearsal = await connection.fetchrow(Q.rehearsal_lock, rehearsal_id)  # serialises replicas' last stages
    if rehearsal is None or rehearsal["state"] != "running":
        return False
    if await connection.fetchval(Q.rehearsal_pending_stages, rehearsal_id):
        return False
    rounds = await connection.fetch(Q.rehearsal_rounds, rehearsal_id)
    items = []
    for r in rounds:
        if r["state"] in PRE_SEND:  # a stage gave up before the launch: the copy ends here
            await connection.execute(Q.round_transition, r["id"], r["state"], RoundState.CANCELLED, now, "the rehearsal ended")
        failing = [f"{c['label']}: {c['reason']}" for c in (r["preflight_checks"] or []) if c["status"] == FAIL]
        would_send = r["state"] in SENT
        items.append({
            "round": r["number"], "real_at": r["real_scheduled_at"], "preflight_passed": r["preflight_passed"],
            "failing": failing, "would_send": would_send, "recipients": r["recipient_count"],
            "why_not": None if would_send else _why_not(r),
        })
    stored = [{**item, "real_at": item["real_at"].isoformat()} for item in items]
    await connection.execute(Q.rehearsal_finish, rehearsal_id, now, {"rounds": stored})
    verdict = rb.verdict(items)
    await audit(connection, now=now, actor="system", action="rehearsal finished", campaign_id=campaign["id"],
                detail={"summary": f"rehearsal {rehearsal_id}: {verdict}", "rehearsal": rehearsal_id, "rounds": stored})
    key = keys.rehearsal_top(rehearsal_id)
    await outbox.enqueue(connection, key=keys.rehearsal_summary(rehearsal_id), channel=rehearsal["channel"], now=now,
                         thread_key=key, message=rb.summary(campaign, items, now))
    copies = [{**dict(r), "real_scheduled_at": r["real_scheduled_at"]} for r in rounds]
    await outbox.enqueue(connection, key=keys.rehearsal_finished(rehearsal_id), channel=rehearsal["channel"], now=now, kind="update", target_key=key,
                         message=rb.top_post(campaign, copies, started_by=rehearsal["started_by"], live=not services.dry_run,
                                             finished={"at": now, "verdict": verdict}))
    log.info("rehearsal finished", rehearsal=rehearsal_id, verdict=verdict)
    return True


def _why_not(round_row: asyncpg.Record) -> str:
    detail = (round_row["outcome_detail"] or "").removeprefix("The rehearsal's launch would not send: ").rstrip(".")
    if round_row["state"] == RoundState.MISSED:
        return detail or "its launch window closed"
    return f"the rehearsal stopped with the copy {round_row['state']}" + (f" ({detail})" if detail else "")
