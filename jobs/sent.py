"""After a live send: the Mailjet campaign id, and the stages that wait for it.

Mailjet carries out `POST campaigndraft/{id}/send` in the background: for a while the draft
reads Status 1 ("programmed") with CampaignID 0. The round is `sent` from the accepted call
(jobs/launch.py); the internal `campaign_id` stage reads the draft again, with growing
pauses, until Mailjet gives the id. Then the launch confirmation and the parent message show
it and the early look is scheduled. Early look, wrap-up and cleanup work only from that id:
until it is known they wait (`waiting_for_campaign_id`); if Mailjet never gives it they say
so rather than invent numbers. Whether a round was a dry run is decided by how it was sent
(`rounds.dry_run`), never by a missing id.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from bot.logs import get_logger
from bot.mailjet import DRAFT_STATUS, PROGRAMMED, SENT
from bot.messages.common import humanize
from bot.messages.rounds import alert, launch_confirmation
from bot.round_changes import refresh_parent
from bot.schedule import early_look_delay
from bot.states import SENT as SENT_STATES
from bot.states import UNSENT
from jobs.engine import Outcome, StageContext
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

log = get_logger(__name__)

# The first look follows the send closely; the pauses then grow with the wait, up to this.
FIRST_LOOK = timedelta(seconds=2)
LONGEST_PAUSE = timedelta(minutes=5)
# Past this without an id the channel is told (once); past GIVE_UP the stage stops looking.
ALERT_AFTER = timedelta(minutes=30)
GIVE_UP_AFTER = timedelta(hours=24)


async def follow_the_send(connection: asyncpg.Connection, campaign: asyncpg.Record, round_row: asyncpg.Record,
                          now: datetime) -> None:
    """What a live send starts: the early look if the id is known, else the look for the id."""
    if round_row["mailjet_campaign_id"]:
        await connection.execute(Q.stage_run_add, round_row["id"], "metrics", round_row["sent_at"] + early_look_delay(campaign))
    else:
        await connection.execute(Q.stage_run_add, round_row["id"], "campaign_id", now + FIRST_LOOK)


def next_look(waited: timedelta) -> timedelta:
    return min(max(FIRST_LOOK, waited / 4), LONGEST_PAUSE)


async def run_campaign_id(ctx: StageContext) -> Outcome:
    round_row, now = ctx.round, ctx.now
    if round_row["dry_run"] is not False:
        return Outcome.skipped("not sent live")
    if round_row["mailjet_campaign_id"]:
        return Outcome.skipped("the campaign id is known")
    status, campaign_id = await ctx.services.mailjet.sent_campaign(round_row["mailjet_draft_id"])
    waited = now - round_row["sent_at"]
    if campaign_id is not None:
        return await _record(ctx, campaign_id, waited)
    seen = DRAFT_STATUS.get(status, str(status))
    if waited >= GIVE_UP_AFTER:
        await _alert(ctx, "gave-up",
                     f"Mailjet accepted the send {humanize(waited)} ago but still gives no campaign id for draft "
                     f"{round_row['mailjet_draft_id']} (it reads {seen}). Without it there are no numbers: the wrap-up "
                     "and the cleanup cannot run. Check the campaign in Mailjet.")
        return Outcome.skipped("Mailjet gave no campaign id", draft_status=status)
    if waited >= ALERT_AFTER:
        await _alert(ctx, "late",
                     f"Mailjet accepted the send {humanize(waited)} ago and still gives no campaign id for draft "
                     f"{round_row['mailjet_draft_id']} (it reads {seen}). The round counts as sent; the numbers wait for "
                     "the id, which campaign-bot keeps reading.")
    expected = status in (PROGRAMMED, SENT)
    return Outcome.wait(now + next_look(waited), "Mailjet is still sending; no campaign id yet" if expected
                        else f"no campaign id yet; the draft reads {seen}")


async def _record(ctx: StageContext, campaign_id: int, waited: timedelta) -> Outcome:
    connection, campaign, now = ctx.connection, ctx.campaign, ctx.now
    round_row = await connection.fetchrow(Q.round_set_campaign_id, ctx.round["id"], campaign_id)
    if round_row is None:
        return Outcome.skipped("the campaign id was recorded meanwhile")
    await audit(connection, now=now, actor="system", action="mailjet campaign id recorded", campaign_id=campaign["id"],
                round_id=round_row["id"], detail={"summary": f"Mailjet campaign {campaign_id}", "mailjet_campaign_id": campaign_id,
                                                  "seconds_after_send": int(waited.total_seconds())})
    await outbox.update_in_place(
        connection, round_id=round_row["id"], target_key=keys.launch_confirmation(round_row["id"]), channel=campaign["channel"],
        now=now, message=launch_confirmation(campaign, round_row, dry_run=False, recipients=round_row["recipient_count"],
                                             note=round_row["outcome_detail"]),
    )
    await refresh_parent(connection, ctx.services, campaign, round_row, now)
    await follow_the_send(connection, campaign, round_row, now)
    log.info("mailjet campaign id recorded", mailjet_campaign_id=campaign_id)
    return Outcome.done(mailjet_campaign_id=campaign_id)


async def _alert(ctx: StageContext, which: str, text: str) -> None:
    # Keyed: said once however often the stage looks again.
    await outbox.post_in_round_thread(
        ctx.connection, round_id=ctx.round["id"], key=keys.campaign_id_note(ctx.round["id"], which),
        channel=ctx.campaign["channel"], now=ctx.now, message=alert(ctx.campaign, ctx.round, text),
    )


def not_sent_yet(ctx: StageContext, after: timedelta = timedelta(0)) -> Outcome | None:
    """Post-send stages wait for the launch to settle (until `after` past its window), and skip
    rounds that were never sent."""
    state = ctx.round["state"]
    if state in UNSENT:
        deadline = ctx.round["scheduled_at"] + ctx.campaign["launch_window"]
        return Outcome.wait(max(deadline, ctx.now) + after, "the launch has not settled yet")
    if state not in SENT_STATES:
        return Outcome.skipped(f"round was not sent ({state})")
    return None


async def waiting_for_campaign_id(ctx: StageContext) -> Outcome | None:
    """For stages that need the numbers of a live-sent round: wait while the id is coming;
    None once it is known (or for dry runs, which those stages handle themselves)."""
    round_row = ctx.round
    if round_row["dry_run"] is not False or round_row["mailjet_campaign_id"]:
        return None
    look = await ctx.connection.fetchrow(Q.stage_run_of_round, round_row["id"], "campaign_id")
    if look is not None and look["state"] == "pending":
        return Outcome.wait(max(look["due_at"], ctx.now) + timedelta(seconds=1), "waiting for Mailjet's campaign id")
    return None


async def until_numbers(ctx: StageContext, *, dry_run: str, no_campaign_id: str,
                        after: timedelta = timedelta(0)) -> Outcome | None:
    """For stages that read a live-sent round's numbers: what to do until they can (wait, or
    skip saying why); None once the round was sent live and its campaign id is known."""
    waiting = not_sent_yet(ctx, after)
    if waiting is None and ctx.round["dry_run"]:
        return Outcome.skipped(dry_run)
    waiting = waiting or await waiting_for_campaign_id(ctx)
    if waiting is None and not ctx.round["mailjet_campaign_id"]:
        return Outcome.skipped(no_campaign_id)
    return waiting


def no_campaign_id_text(round_row: asyncpg.Record) -> str:
    return (f"Mailjet accepted the send of draft {round_row['mailjet_draft_id']} but never gave its campaign id, "
            "so there are no numbers; none are estimated. Check the campaign in Mailjet.")
