"""`/campaign resolve`, `suppression`, `unsuppress` and `archive` (PRODUCT.md section 8).

Each one checks everything that can be refused before it writes, then writes in one
transaction (the row re-checked under its lock): the change, the audit entry and, where the
channel should know, the announcement through the outbox. A refusal says why and that nothing
changed. The rules themselves are pure functions in bot/operations.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from bot import operations
from bot.commands import CommandError
from bot.controls import Refused, Target, find_round
from bot.mailjet import DRAFT_STATUS, MailjetError
from bot.operations import resolve_refusal
from bot.services import Services
from handlers import blocks
from handlers.commands import Invocation, Reply, load_campaign, subcommand
from jobs.sent import early_look_delay
from jobs.preflight import refresh_parent
from storage import outbox
from storage.audit import audit
from storage.queries import Q


# --- resolve ----------------------------------------------------------------------------------

@subcommand("resolve")
async def resolve(invocation: Invocation) -> Reply:
    services, command, user = invocation.services, invocation.command, invocation.user_id
    async with services.pool.acquire() as connection:
        try:
            target = await find_round(connection, name=command.name, number=command.round)
        except Refused as exc:
            raise CommandError(str(exc), "resolve") from None
    campaign, round_row = target.campaign, target.round
    refusal = resolve_refusal(round_row, campaign["timezone"])
    if refusal:
        raise Refused(f"{refusal}; nothing changed")
    outcome, reason = command.extra["outcome"], command.reason
    draft_id = round_row["mailjet_draft_id"]
    try:
        draft = await services.mailjet.get_draft(draft_id) if draft_id else {}
    except MailjetError as exc:
        if outcome == "sent":
            raise Refused(f"could not read draft {draft_id} from Mailjet ({exc}); nothing changed, try again") from None
        draft = None  # not-sent is the admin's word; Mailjet could not contradict it
    if outcome == "sent":
        return Reply(await _resolve_sent(services, target, user, reason, draft or {}))
    if draft and int(draft.get("Status", 0)) == 2 and int(draft.get("CampaignID") or 0):
        raise Refused(f"Mailjet says draft {draft_id} was sent (campaign {draft['CampaignID']}); "
                      f"resolve it as sent: `/campaign resolve \"{campaign['name']}\" {round_row['number']} sent`. "
                      "Nothing changed")
    return Reply(await _resolve_not_sent(services, target, user, reason))


async def _resolve_sent(services: Services, target: Target, user: str, reason: str | None, draft: dict[str, Any]) -> str:
    campaign, round_row = target.campaign, target.round
    draft_id = round_row["mailjet_draft_id"]
    mailjet_campaign = int(draft.get("CampaignID") or 0)
    status = int(draft.get("Status", 0)) if draft else 0
    if not mailjet_campaign:
        if status == 0:
            raise Refused(f"Mailjet says draft {draft_id} is still a draft: it was not sent. If that is what you "
                          f"found, resolve it as not-sent. Nothing changed")
        raise Refused(f"Mailjet has no campaign for draft {draft_id} yet (status {DRAFT_STATUS.get(status, status)}): "
                      "check again in a few minutes. Nothing changed")
    now = services.clock.now()
    sent_at = operations.mailjet_sent_at(draft, round_row["send_claimed_at"] or now)
    detail = (f"Resolved as sent by <@{user}> after checking Mailjet (campaign {mailjet_campaign})"
              + (f": {reason}" if reason else "") + ".")
    async with services.pool.acquire() as connection, connection.transaction():
        locked = await connection.fetchrow(Q.round_lock, round_row["id"])
        refusal = resolve_refusal(locked, campaign["timezone"])
        if refusal:
            raise Refused(f"{refusal}; nothing changed")
        resolved = await connection.fetchrow(Q.round_resolve_sent, round_row["id"], now, sent_at, mailjet_campaign,
                                             user, reason, detail)
        rearmed = await connection.fetch(Q.stage_rearm_after_send, round_row["id"], now)
        await connection.execute(Q.stage_run_add, round_row["id"], "metrics", now + early_look_delay(campaign))
        await audit(connection, now=now, actor=user, action="resolved: sent", campaign_id=campaign["id"],
                    round_id=round_row["id"],
                    detail={"summary": f"Mailjet campaign {mailjet_campaign}" + (f"; {reason}" if reason else ""),
                            "mailjet_campaign_id": mailjet_campaign, "draft_status": status,
                            "stages_rearmed": [r["stage"] for r in rearmed]})
        await _announce(connection, services, campaign, resolved, now,
                        f":white_check_mark: {detail} The early look, wrap-up and list cleanup follow.")
    return (f"Round {round_row['number']} of *{campaign['name']}* is recorded as sent (Mailjet campaign "
            f"{mailjet_campaign}); the early look, wrap-up and list cleanup follow.")


async def _resolve_not_sent(services: Services, target: Target, user: str, reason: str | None) -> str:
    campaign, round_row = target.campaign, target.round
    now = services.clock.now()
    detail = (f"Resolved as not sent by <@{user}> after checking Mailjet" + (f": {reason}" if reason else "")
              + ". It stays failed and will never be sent; reschedule is not possible, plan a new campaign to send it.")
    async with services.pool.acquire() as connection, connection.transaction():
        locked = await connection.fetchrow(Q.round_lock, round_row["id"])
        refusal = resolve_refusal(locked, campaign["timezone"])
        if refusal:
            raise Refused(f"{refusal}; nothing changed")
        resolved = await connection.fetchrow(Q.round_resolve_not_sent, round_row["id"], now, user, reason, detail)
        await audit(connection, now=now, actor=user, action="resolved: not sent", campaign_id=campaign["id"],
                    round_id=round_row["id"], detail={"summary": reason or "no reason given"})
        await _announce(connection, services, campaign, resolved, now, f":heavy_minus_sign: {detail}")
    return f"Round {round_row['number']} of *{campaign['name']}* is closed as not sent."


async def _announce(connection: asyncpg.Connection, services: Services, campaign: asyncpg.Record,
                    round_row: asyncpg.Record, now: datetime, text: str) -> None:
    await outbox.post_in_round_thread(
        connection, round_id=round_row["id"], key=f"round:{round_row['id']}:resolved", channel=campaign["channel"],
        now=now, message=blocks.thread_note(campaign, round_row, "launch", text),
    )
    await refresh_parent(connection, services, campaign, round_row, now)


# --- suppressions -----------------------------------------------------------------------------

@subcommand("suppression")
async def suppression(invocation: Invocation) -> Reply:
    services = invocation.services
    email = invocation.command.extra["email"]
    async with services.pool.acquire() as connection:
        rows = await connection.fetch(Q.suppressions_by_email, email, services.clock.now())
    return Reply(operations.suppression_text(email, rows, services.settings.DEFAULT_TIMEZONE))


@subcommand("unsuppress")
async def unsuppress(invocation: Invocation) -> Reply:
    services, user, reason = invocation.services, invocation.user_id, invocation.command.reason
    email = invocation.command.extra["email"]
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(Q.suppressions_by_email, email, now)
        if not rows:
            raise Refused(f"{email} has no suppression record; nothing changed")
        lifted = []
        for row in rows:
            done = await connection.fetchrow(Q.suppression_lift, row["contact_id"], now, user, reason)
            if done is None:
                continue
            lifted.append(row)
            source = await connection.fetchrow(Q.round_by_id, row["source_round_id"]) if row["source_round_id"] else None
            await audit(connection, now=now, actor=user, action="suppression lifted",
                        campaign_id=source["campaign_id"] if source else None, round_id=source["id"] if source else None,
                        detail={"summary": f"{row['email']} ({operations.REASON_LABEL.get(row['reason'], row['reason'])}"
                                           + (", permanent" if row["permanent"] else "") + ")"
                                           + (f": {reason}" if reason else ""),
                                "contact_id": row["contact_id"], "reason": row["reason"], "permanent": row["permanent"],
                                "bounce_count": row["bounce_count"]})
    if not lifted:
        raise Refused(f"{email} is not suppressed (see `/campaign suppression {email}`); nothing changed")
    what = ", ".join(f"{operations.REASON_LABEL.get(r['reason'], r['reason'])}" + (", permanent" if r["permanent"] else "")
                     for r in lifted)
    return (Reply(f"Lifted the suppression of {email} ({what}). Future planning includes it again; rounds already "
                  "planned are not changed. If Mailjet marks it unsubscribed or excluded, planning still leaves it out."))


# --- archive ----------------------------------------------------------------------------------

@subcommand("archive")
async def archive(invocation: Invocation) -> Reply:
    services, user = invocation.services, invocation.user_id
    campaign = await load_campaign(invocation, invocation.command.name or "")
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        # The campaign row locked: a reschedule or resolve of its rounds waits for this.
        campaign = await connection.fetchrow(Q.campaign_lock, campaign["id"])
        if campaign["archived_at"] is not None:
            raise Refused(f"*{campaign['name']}* was archived by <@{campaign['archived_by']}> at "
                          f"{blocks.when(campaign['archived_at'], campaign['timezone'])}; nothing changed")
        rounds = await connection.fetch(Q.rounds_of_campaign, campaign["id"])
        blockers = operations.archive_blockers(campaign, rounds)
        if blockers:
            raise Refused(f"*{campaign['name']}* still has rounds that are not settled ({'; '.join(blockers)}): "
                          "only a campaign with no unsent round can be archived; nothing changed")
        await connection.fetchrow(Q.campaign_archive, campaign["id"], now, user)
        await audit(connection, now=now, actor=user, action="archived", campaign_id=campaign["id"],
                    detail={"summary": f"{blocks.plural(len(rounds), 'round')}: "
                                       + ", ".join(f"{r['number']} {r['state']}" for r in rounds)})
        await outbox.enqueue(connection, key=f"campaign:{campaign['id']}:archived", channel=campaign["channel"], now=now,
                             message=outbox.SlackMessage(text=f":file_cabinet: <@{user}> archived *{campaign['name']}*: it "
                                                              "leaves `/campaign list` and the Home tab; its status, "
                                                              "report and log still answer by name."))
    return Reply(f"Archived *{campaign['name']}*. `/campaign status \"{campaign['name']}\"`, `report` and `log` still work.")
