"""The launch stage: the only code that sends (invariants 2-5: at most once, never early,
never unapproved, held or cancelled, no catch-up).

1. A round found in `sending` is reconciled first: the draft's Status in Mailjet says
   whether an earlier attempt sent it (1 "programmed" = Mailjet is sending it in the
   background, 2 = sent → record it sent; 0 → it did not, release the claim; anything
   else → failed, with an alert that says what to check). Never a second send call for a
   draft that may have been sent.
2. Never early: before T the stage waits for T. After T + window: `missed`, announced,
   never sent later.
3. Not approved (or held, or frozen) at T: wait until something changes or the window ends.
4. The send claim is one guarded UPDATE committed on its own before the call, so a hold,
   cancel or freeze that committed first always wins, and the intent is durable.
5. One POST campaigndraft/{id}/send. SEND_MODE=dry-run stops here and says so. A 429
   ("too many requests": Mailjet did nothing) releases the claim and tries again inside the
   window; if the window closes first the round is `missed`, saying Mailjet was
   rate-limiting.

Mailjet sends in the background: right after an accepted send the draft reads Status 1
with no campaign id. The round is `sent` from that moment; jobs/sent.py reads the campaign
id until Mailjet gives it. The outcome (sent, confirmation queued) commits with the stage;
a crash before that leaves the round in `sending`, and step 1 settles it after restart.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import asyncpg.exceptions

from bot import preflight_rules
from bot.failpoints import failpoint
from bot.logs import get_logger
from bot.mailjet import DRAFT, DRAFT_STATUS, PROGRAMMED, SENT, MailjetError
from bot.metrics import MAILJET_SENDS
from bot.messages.common import humanize
from bot.messages.rounds import launch_confirmation
from bot.round_changes import Note, change_round, refresh_parent
from bot.states import FINAL
from bot.states import RoundState as S
from jobs import rehearsal, sent
from jobs.engine import Outcome, StageContext
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

log = get_logger(__name__)

# How soon to look again when Mailjet cannot tell us the draft's status.
RECONCILE_RETRY = timedelta(seconds=30)
# Mailjet's limits are per API key per second: after a 429 look again soon, then less often.
RATE_LIMIT_PAUSE = timedelta(seconds=5)
RATE_LIMITED_NOTE = "Mailjet was rate-limiting (429 Too Many Requests) when the round was due"


def rate_limit_pause(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, … at most a minute between send attempts refused with a 429."""
    return min(RATE_LIMIT_PAUSE * 2 ** max(attempts - 1, 0), timedelta(minutes=1))
# After Mailjet confirmed the draft is still a draft: a short pause before sending again,
# so a request of the crashed process that was still on the wire has landed or died.
RESEND_PAUSE = timedelta(seconds=5)
DRAFT_CHANGED = "the draft's content changed since pre-flight checked it"


async def run_launch(ctx: StageContext) -> Outcome:
    round_row, campaign, now = ctx.round, ctx.campaign, ctx.now
    deadline = round_row["scheduled_at"] + campaign["launch_window"]
    if round_row["state"] in FINAL:
        return Outcome.skipped(f"round is {round_row['state']}")
    if round_row["state"] == S.SENDING:
        return await reconcile(ctx)
    if now < round_row["scheduled_at"]:
        return Outcome.wait(round_row["scheduled_at"], "not before the round's instant")
    if now > deadline:
        return await end_round(ctx, S.MISSED, why_not_sent(ctx, await _gate(ctx)))
    gate = await _gate(ctx)
    if gate is not None:
        # A rehearsal reports at once what the real launch would wait for.
        return await rehearsal.would_not_send(ctx, gate) if ctx.is_rehearsal else Outcome.wait(deadline, gate)
    if not await _draft_unchanged(ctx):
        if ctx.is_rehearsal:
            return await rehearsal.would_not_send(ctx, "the draft changed in Mailjet after pre-flight")
        return Outcome.wait(deadline, "the draft changed since pre-flight; approval lapsed")
    return await claim_and_send(ctx)


async def _gate(ctx: StageContext) -> str | None:
    """Why the round may not go now, or None."""
    round_row, campaign = ctx.round, ctx.campaign
    if (await ctx.connection.fetchrow(Q.freeze_state))["frozen"]:
        return "sends are frozen"
    if round_row["held"]:
        return "the round is held"
    if round_row["state"] == S.APPROVED:
        return None
    if round_row["state"] == S.READY and (campaign["approval_policy"] == "auto" or ctx.is_rehearsal):
        return None  # a rehearsal reports the approval the real round needs instead of waiting for it
    if round_row["state"] == S.READY:
        return "waiting for approval"
    if round_row["state"] == S.BLOCKED:
        return "blocked by pre-flight"
    return "pre-flight has not passed"


def why_not_sent(ctx: StageContext, gate: str | None) -> str:
    window = ctx.campaign["launch_window"]
    why = gate or ctx.round["outcome_detail"] or "it was not ready"
    return (f"The launch window ({humanize(window)} after the send instant) closed "
            f"and the round was not sent: {why}. It will not be sent automatically; "
            "reschedule it to send it later.")


async def _draft_unchanged(ctx: StageContext) -> bool:
    """The checked draft (the approved pre-flight's, or with automatic approval the latest
    passing pre-flight's) still matches the draft in Mailjet."""
    mailjet = ctx.services.mailjet
    # Both reads at once: at T every due round makes them, and Mailjet answers in ~300 ms.
    draft, content = await asyncio.gather(mailjet.get_draft(ctx.round["mailjet_draft_id"]),
                                          mailjet.get_draft_content(ctx.round["mailjet_draft_id"]))
    current = preflight_rules.content_hash(draft, content)
    if ctx.round["state"] != S.APPROVED:
        run = await ctx.connection.fetchrow(Q.preflight_latest, ctx.round["id"])
        if run is not None and run["content_hash"] == current:
            return True
        await _change_and_alert(ctx, S.BLOCKED, action="blocked: draft changed", key=keys.draft_changed(ctx.round["id"], run["id"] if run else None),
                                text="The draft changed in Mailjet after pre-flight, so the round is blocked and nothing "
                                     "was sent. Re-run pre-flight to send it inside the window.", summary=DRAFT_CHANGED)
        return False
    approval = await ctx.connection.fetchrow(Q.live_approval, ctx.round["id"])
    run = await ctx.connection.fetchrow(Q.preflight_by_id, approval["preflight_run_id"])
    if current == run["content_hash"]:
        return True
    await ctx.connection.execute(Q.approval_lapse, ctx.round["id"], ctx.now, "the draft changed since it was approved")
    await _change_and_alert(ctx, S.READY, action="approval lapsed", key=keys.approval_lapsed(ctx.round["id"], approval["id"]),
                            text="The draft changed in Mailjet after it was approved, so the approval lapsed and nothing "
                                 "was sent. Re-run pre-flight and approve again.", summary=DRAFT_CHANGED)
    return False


async def _change_and_alert(ctx: StageContext, to_state: S, *, action: str, key: str, text: str, summary: str,
                            detail: str | None = None) -> None:
    """Move the round, audit it, alert in its thread and refresh its parent message."""
    # Read again: the send claim may have moved the round to `sending` on another connection.
    current = await ctx.connection.fetchrow(Q.round_by_id, ctx.round["id"])
    await change_round(ctx.connection, ctx.services, ctx.campaign, current, to=to_state, now=ctx.now, actor="system",
                       action=action, detail={"summary": summary}, outcome=detail, note=Note(key, text))


async def claim_and_send(ctx: StageContext) -> Outcome:
    services, round_row, campaign = ctx.services, ctx.round, ctx.campaign
    failpoint("before_claim")
    # The claim commits on its own connection before the send call: the intent is durable.
    # It must not wait long for the round's row: a cancel or reschedule holding it waits in
    # turn for this stage's row, a cycle Postgres cannot see. Giving way breaks it; the
    # stage looks again in a moment, and the control that won is what counts.
    async with services.pool.acquire() as claim_connection:
        try:
            async with claim_connection.transaction():
                await claim_connection.execute(Q.claim_lock_timeout)
                if ctx.is_rehearsal:
                    claimed = await claim_connection.fetchrow(Q.rehearsal_claim_send, round_row["id"], ctx.now,
                                                              services.instance_id, campaign["launch_window"])
                else:
                    claimed = await claim_connection.fetchrow(Q.round_claim_send, round_row["id"], ctx.now, services.instance_id)
                if claimed is not None:
                    await audit(claim_connection, now=ctx.now, actor="system", action="send claimed",
                                campaign_id=campaign["id"], round_id=round_row["id"],
                                detail={"summary": f"by {services.instance_id}", "dry_run": ctx.dry_run,
                                        "attempt": claimed["send_attempts"]})
        except asyncpg.exceptions.LockNotAvailableError:
            claimed = None
        if claimed is None:
            # Something committed first or holds the round (hold, cancel, freeze, lapse): look again soon.
            return Outcome.wait(ctx.now + timedelta(seconds=5), "the send claim lost to a concurrent change")
    log.info("send claimed", draft=round_row["mailjet_draft_id"], dry_run=ctx.dry_run)
    failpoint("after_claim")
    if ctx.dry_run:
        MAILJET_SENDS.labels("rehearsal" if ctx.is_rehearsal else "dry_run").inc()
        return await record_sent(ctx, campaign_id=None, dry_run=True)
    try:
        await services.mailjet.send_draft(round_row["mailjet_draft_id"])
    except MailjetError as exc:
        MAILJET_SENDS.labels("rate_limited" if exc.rate_limited else "error").inc()
        log.warning("send call failed; reconciling with Mailjet", error=str(exc), ambiguous=exc.ambiguous,
                    rate_limited=exc.rate_limited)
        return await reconcile(ctx, after_error=str(exc), rejected=not (exc.ambiguous or exc.rate_limited),
                               rate_limited=exc.rate_limited)
    MAILJET_SENDS.labels("sent").inc()
    # Mailjet accepted the send and carries it out in the background: the campaign id comes later.
    return await record_sent(ctx, campaign_id=None, dry_run=False)


async def record_sent(ctx: StageContext, *, campaign_id: int | None, dry_run: bool, note: str | None = None) -> Outcome:
    round_row = await ctx.connection.fetchrow(Q.round_mark_sent, ctx.round["id"], ctx.now, campaign_id, dry_run, note)
    await audit(ctx.connection, now=ctx.now, actor="system", action="round sent (dry run)" if dry_run else "round sent",
                campaign_id=ctx.campaign["id"], round_id=round_row["id"],
                detail={"summary": "dry run: Mailjet was not called" if dry_run else f"Mailjet campaign {campaign_id}",
                        "mailjet_campaign_id": campaign_id, **({"note": note} if note else {})})
    message = (await rehearsal.launch_message(ctx, round_row) if ctx.is_rehearsal else
               launch_confirmation(ctx.campaign, round_row, dry_run=dry_run, recipients=round_row["recipient_count"], note=note))
    await outbox.post_in_round_thread(
        ctx.connection, round_id=round_row["id"], key=keys.launch_confirmation(round_row["id"]),
        channel=ctx.campaign["channel"], now=ctx.now, message=message,
    )
    await refresh_parent(ctx.connection, ctx.services, ctx.campaign, round_row, ctx.now)
    if not dry_run:
        await sent.follow_the_send(ctx.connection, ctx.campaign, round_row, ctx.now)
    return Outcome.done(sent=True, dry_run=dry_run, mailjet_campaign_id=campaign_id)


async def reconcile(ctx: StageContext, *, after_error: str | None = None, rejected: bool = False,
                    rate_limited: bool = False) -> Outcome:
    """Settle a round in `sending` from the draft's status in Mailjet, before anything else."""
    round_row, campaign, services = ctx.round, ctx.campaign, ctx.services
    deadline = round_row["scheduled_at"] + campaign["launch_window"]
    if ctx.dry_run and after_error is None:
        # A dry run that stopped after its claim sent nothing; finish it.
        return await record_sent(ctx, campaign_id=None, dry_run=True, note="completed after a restart")
    try:
        status, campaign_id = await services.mailjet.sent_campaign(round_row["mailjet_draft_id"])
    except MailjetError as exc:
        if ctx.now > deadline + timedelta(hours=1):
            return await end_round(ctx, S.FAILED, f"Mailjet could not tell whether draft {round_row['mailjet_draft_id']} "
                                                  f"was sent ({exc}). Check the draft's status in Mailjet before doing "
                                                  "anything else.")
        pause = RATE_LIMIT_PAUSE if exc.rate_limited else RECONCILE_RETRY
        return Outcome.wait(ctx.now + pause, f"reconciling: Mailjet could not be read ({exc})")
    if status in (PROGRAMMED, SENT):
        # 1: Mailjet took the send and is carrying it out in the background; 2: it is done.
        return await record_sent(ctx, campaign_id=campaign_id, dry_run=False,
                                 note="Confirmed from Mailjet after an interrupted send call.")
    if status == DRAFT and rejected:
        # Mailjet answered and refused (a 4xx): retrying the same call would only be refused again.
        return await end_round(ctx, S.FAILED, f"Mailjet refused to send draft {round_row['mailjet_draft_id']}: "
                                              f"{after_error}. Nothing was sent. Fix the draft in Mailjet, then "
                                              "reschedule the round.")
    if status == DRAFT:
        back_to = S.APPROVED if await ctx.connection.fetchrow(Q.live_approval, round_row["id"]) else S.READY
        detail = RATE_LIMITED_NOTE if rate_limited else None
        await ctx.connection.execute(Q.round_release_claim, round_row["id"], back_to, ctx.now, detail)
        await audit(ctx.connection, now=ctx.now, actor="system",
                    action="send refused for now (429)" if rate_limited else "send not made",
                    campaign_id=campaign["id"], round_id=round_row["id"],
                    detail={"summary": "Mailjet is rate-limiting; the send will be tried again inside the window"
                            if rate_limited else "the draft is still a draft in Mailjet; the send may be retried",
                            **({"error": after_error} if after_error else {})})
        if ctx.now > deadline:
            return Outcome.wait(ctx.now, "send not made; window closed")  # next run marks it missed
        pause = rate_limit_pause(round_row["send_attempts"]) if rate_limited else RESEND_PAUSE
        return Outcome.wait(min(ctx.now + pause, deadline), "Mailjet is rate-limiting; trying again inside the window"
                            if rate_limited else "the send did not happen; retrying inside the window")
    return await end_round(
        ctx, S.FAILED,
        f"Mailjet reports draft {round_row['mailjet_draft_id']} as {DRAFT_STATUS.get(status, status)} after a send "
        f"attempt{f' that failed ({after_error})' if after_error else ''}. Check in Mailjet whether it went out "
        "before doing anything else; campaign-bot will not send it again.")


async def end_round(ctx: StageContext, state: str, reason: str) -> Outcome:
    """The round becomes `missed` or `failed`: its pre-send stages cancelled, an alert that says why."""
    if not ctx.is_rehearsal:  # a rehearsal's wrap-up and cleanup still say what they would do
        await ctx.connection.execute(Q.stage_cancel_pending_presend, ctx.round["id"], ctx.now, f"round {state}")
    await _change_and_alert(ctx, state, action=f"round {state}", key=keys.round_ended(ctx.round["id"], state), text=reason, summary=reason,
                            detail=reason)
    return Outcome.done(**{state: True}, reason=reason)
