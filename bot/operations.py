"""The week-after-week operations: `/campaign resolve`, `suppression`, `unsuppress` and `archive`.

Their rules are pure functions: which rounds stop a campaign from being archived, which
rounds `resolve` may settle, when a round resolved as sent went out, and how a suppression
reads. Each operation checks everything that can be refused before it writes, then writes in
one transaction (the row re-checked under its lock): the change, the audit entry and, where
the channel should know, the announcement through the outbox. A refusal says why and that
nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from bot.controls import CampaignRound, Refused
from bot.mailjet import DRAFT_STATUS, MailjetError
from bot.messages.common import plural, when
from bot.schedule import early_look_delay, format_instant
from bot.round_changes import Note, record_change
from bot.services import Services
from bot.states import UNSENT, RoundState
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

Row = Mapping[str, Any]

KIND_LABEL = {"hard": "hard bounce", "soft": "soft bounce", "spam": "spam complaint", "unsub": "unsubscribe",
              "blocked": "blocked by Mailjet"}
REASON_LABEL = {"hard_bounce": "hard bounce", "soft_bounce": "soft bounces", "spam": "spam complaint",
                "unsub": "unsubscribed", "manual": "suppressed by hand"}


def archive_blockers(campaign: Row, rounds: Sequence[Row]) -> list[str]:
    """Why the campaign cannot be archived yet: one phrase per round still open, or none.

    A round not sent yet may still go out; a failed round nobody resolved still needs a look.
    A campaign whose planning failed never sends, so its never-planned rounds do not count.
    """
    if campaign["planning_state"] == "pending":
        return ["planning is still running"]
    blockers = []
    for r in rounds:
        if r["state"] in UNSENT and campaign["planning_state"] != "failed":
            blockers.append(f"round {r['number']} is {r['state']}")
        elif r["state"] == RoundState.FAILED and not r.get("resolution"):
            blockers.append(f"round {r['number']} failed and is not resolved (`/campaign resolve`)")
    return blockers


def resolve_refusal(round_row: Row, zone: str) -> str | None:
    """Why `/campaign resolve` does not apply to this round, or None when it does."""
    number = round_row["number"]
    if round_row["state"] != RoundState.FAILED and not round_row.get("resolution"):
        return (f"round {number} is {round_row['state']}; only a failed round (Mailjet could not say whether it "
                "went out) can be resolved")
    if round_row.get("resolution"):
        return (f"round {number} was already resolved as {round_row['resolution']} by <@{round_row['resolved_by']}> "
                f"at {format_instant(round_row['resolved_at'], zone)}")
    return None


def mailjet_sent_at(draft: Mapping[str, Any], fallback: datetime) -> datetime:
    """When Mailjet says the draft went out (`DeliveredAt`), else `fallback`."""
    text = str(draft.get("DeliveredAt") or "").strip()
    if text:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        if value.tzinfo is not None and value.year > 2000:
            return value
    return fallback


def suppression_text(email: str, rows: Sequence[Row], zone: str) -> str:
    """`/campaign suppression <email>`: every record of that address, as a person reads it."""
    if not rows:
        return (f"*{email}* has no suppression record: planning includes it, unless Mailjet marks it "
                "unsubscribed or excluded from campaigns.")
    out = []
    for s in rows:
        if s["in_force"]:
            state = ":no_entry: *suppressed*" + (" · permanent" if s["permanent"] else "")
        elif s["active"]:
            state = ":recycle: *revalidated*: its revalidation date has passed, so planning includes it again"
        elif s.get("lifted_at"):
            state = ":white_check_mark: *not suppressed* (lifted)"
        else:
            state = ":white_check_mark: *not suppressed*"
        lines = [f"*{s['email']}* (Mailjet contact {s['contact_id']}) — {state}",
                 f"Reason: {REASON_LABEL.get(s['reason'], s['reason'])} · soft bounces counted: {s['bounce_count']}"]
        counts = s.get("event_counts") or {}
        if counts:
            lines.append("Events counted: " + ", ".join(f"{KIND_LABEL.get(k, k)} {n}" for k, n in sorted(counts.items())))
        lines.append(f"First seen {format_instant(s['first_seen'], zone)} · last seen {format_instant(s['last_seen'], zone)}")
        if s.get("source_campaign"):
            lines.append(f"Source: *{s['source_campaign']}* round {s['source_round']}")
        if s["revalidate_after"] is not None and not s["permanent"] and s["reason"] == "soft_bounce":
            lines.append(f"Revalidation date: {format_instant(s['revalidate_after'], zone)}")
        if s.get("lifted_at"):
            lines.append(f"Lifted by <@{s['lifted_by']}> at {format_instant(s['lifted_at'], zone)}"
                         + (f": {s['lift_reason']}" if s.get("lift_reason") else ""))
        else:
            lines.append("Never lifted by hand.")
        out.append("\n".join(lines))
    return "\n\n".join(out)


# --- the operations: one transaction each ---------------------------------------------------

async def resolve(services: Services, target: CampaignRound, user: str, outcome: str, reason: str | None) -> str:
    """`/campaign resolve`: settle a failed round as sent (Mailjet has a campaign for its draft) or not sent."""
    campaign, round_row = target.campaign, target.round
    _refuse_unless_resolvable(round_row, campaign)
    draft_id = round_row["mailjet_draft_id"]
    try:
        draft = await services.mailjet.get_draft(draft_id) if draft_id else {}
    except MailjetError as exc:
        if outcome == "sent":
            raise Refused(f"could not read draft {draft_id} from Mailjet ({exc}); nothing changed, try again") from None
        draft = None  # not-sent is the admin's word; Mailjet could not contradict it
    if outcome == "sent":
        return await _resolve_sent(services, target, user, reason, draft or {})
    if draft and int(draft.get("Status", 0)) == 2 and int(draft.get("CampaignID") or 0):
        raise Refused(f"Mailjet says draft {draft_id} was sent (campaign {draft['CampaignID']}); "
                      f"resolve it as sent: `/campaign resolve \"{campaign['name']}\" {round_row['number']} sent`. "
                      "Nothing changed")
    return await _resolve_not_sent(services, target, user, reason)


def _refuse_unless_resolvable(round_row: asyncpg.Record, campaign: asyncpg.Record) -> None:
    refusal = resolve_refusal(round_row, campaign["timezone"])
    if refusal:
        raise Refused(f"{refusal}; nothing changed")


async def _resolve_sent(services: Services, target: CampaignRound, user: str, reason: str | None, draft: dict[str, Any]) -> str:
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
    sent_at = mailjet_sent_at(draft, round_row["send_claimed_at"] or now)
    detail = (f"Resolved as sent by <@{user}> after checking Mailjet (campaign {mailjet_campaign})"
              + (f": {reason}" if reason else "") + ".")
    async with services.pool.acquire() as connection, connection.transaction():
        _refuse_unless_resolvable(await connection.fetchrow(Q.round_lock, round_row["id"]), campaign)
        resolved = await Q.round_resolve_sent.fetchrow(connection, round_id=round_row["id"], now=now, sent_at=sent_at,
                                                       mailjet_campaign_id=mailjet_campaign, user=user, reason=reason, detail=detail)
        rearmed = await connection.fetch(Q.stage_rearm_after_send, round_row["id"], now)
        await connection.execute(Q.stage_run_add, round_row["id"], "metrics", now + early_look_delay(campaign))
        await record_change(connection, services, campaign, resolved, now=now, actor=user, action="resolved: sent",
                            detail={"summary": f"Mailjet campaign {mailjet_campaign}" + (f"; {reason}" if reason else ""),
                                    "mailjet_campaign_id": mailjet_campaign, "draft_status": status,
                                    "stages_rearmed": [r["stage"] for r in rearmed]},
                            note=Note(keys.resolved(resolved["id"]),
                                      f":white_check_mark: {detail} The early look, wrap-up and list cleanup follow.", "launch"))
    return (f"Round {round_row['number']} of *{campaign['name']}* is recorded as sent (Mailjet campaign "
            f"{mailjet_campaign}); the early look, wrap-up and list cleanup follow.")


async def _resolve_not_sent(services: Services, target: CampaignRound, user: str, reason: str | None) -> str:
    campaign, round_row = target.campaign, target.round
    now = services.clock.now()
    detail = (f"Resolved as not sent by <@{user}> after checking Mailjet" + (f": {reason}" if reason else "")
              + ". It stays failed and will never be sent; reschedule is not possible, plan a new campaign to send it.")
    async with services.pool.acquire() as connection, connection.transaction():
        _refuse_unless_resolvable(await connection.fetchrow(Q.round_lock, round_row["id"]), campaign)
        resolved = await connection.fetchrow(Q.round_resolve_not_sent, round_row["id"], now, user, reason, detail)
        await record_change(connection, services, campaign, resolved, now=now, actor=user, action="resolved: not sent",
                            detail={"summary": reason or "no reason given"},
                            note=Note(keys.resolved(resolved["id"]), f":heavy_minus_sign: {detail}", "launch"))
    return f"Round {round_row['number']} of *{campaign['name']}* is closed as not sent."


async def suppression(services: Services, email: str) -> str:
    """`/campaign suppression`: every suppression record of `email`."""
    async with services.pool.acquire() as connection:
        rows = await connection.fetch(Q.suppressions_by_email, email, services.clock.now())
    return suppression_text(email, rows, services.settings.DEFAULT_TIMEZONE)


async def unsuppress(services: Services, email: str, user: str, reason: str | None) -> str:
    """`/campaign unsuppress`: lift every suppression of `email` in force, each audited."""
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
                        detail={"summary": f"{row['email']} ({REASON_LABEL.get(row['reason'], row['reason'])}"
                                           + (", permanent" if row["permanent"] else "") + ")"
                                           + (f": {reason}" if reason else ""),
                                "contact_id": row["contact_id"], "reason": row["reason"], "permanent": row["permanent"],
                                "bounce_count": row["bounce_count"]})
    if not lifted:
        raise Refused(f"{email} is not suppressed (see `/campaign suppression {email}`); nothing changed")
    what = ", ".join(f"{REASON_LABEL.get(r['reason'], r['reason'])}" + (", permanent" if r["permanent"] else "")
                     for r in lifted)
    return (f"Lifted the suppression of {email} ({what}). Future planning includes it again; rounds already "
            "planned are not changed. If Mailjet marks it unsubscribed or excluded, planning still leaves it out.")


async def archive(services: Services, campaign: asyncpg.Record, user: str) -> str:
    """`/campaign archive`: a campaign with no unsent round leaves the list and the Home tab."""
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        # The campaign row locked: a reschedule or resolve of its rounds waits for this.
        campaign = await connection.fetchrow(Q.campaign_lock, campaign["id"])
        if campaign["archived_at"] is not None:
            raise Refused(f"*{campaign['name']}* was archived by <@{campaign['archived_by']}> at "
                          f"{when(campaign['archived_at'], campaign['timezone'])}; nothing changed")
        rounds = await connection.fetch(Q.rounds_of_campaign, campaign["id"])
        blockers = archive_blockers(campaign, rounds)
        if blockers:
            raise Refused(f"*{campaign['name']}* still has rounds that are not settled ({'; '.join(blockers)}): "
                          "only a campaign with no unsent round can be archived; nothing changed")
        await connection.fetchrow(Q.campaign_archive, campaign["id"], now, user)
        await audit(connection, now=now, actor=user, action="archived", campaign_id=campaign["id"],
                    detail={"summary": f"{plural(len(rounds), 'round')}: "
                                       + ", ".join(f"{r['number']} {r['state']}" for r in rounds)})
        await outbox.enqueue(connection, key=keys.archived(campaign["id"]), channel=campaign["channel"], now=now,
                             message=outbox.SlackMessage(text=f":file_cabinet: <@{user}> archived *{campaign['name']}*: it "
                                                              "leaves `/campaign list` and the Home tab; its status, "
                                                              "report and log still answer by name."))
    return f"Archived *{campaign['name']}*. `/campaign status \"{campaign['name']}\"`, `report` and `log` still work."
