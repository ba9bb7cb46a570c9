"""List cleanup after a round: build a plan from its bounces, spam complaints and
unsubscribes (the `cleanup` stage at T+24h in jobs/wrapup.py, or `/campaign cleanup`), post
it with an Apply button, and apply it when an operator clicks (an approver when it
suppresses more than 10% of the round). The rules are bot/suppression_rules.py.

Applying is in two steps. One transaction: the plan is marked applied, every suppression is
upserted (once per round, contact and kind), the contacts leave the ledger of every round
not yet sent of every campaign, and each removal is recorded. Then the same contacts are
removed from those rounds' Mailjet lists (never from a master list); each removal is marked
done, so a second Apply finishes what an interrupted one left and otherwise changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from bot import suppression_rules as rules
from bot.controls import Refused
from bot.mailjet import MailjetError
from bot.messages.common import plural
from bot.messages.rounds import CLEANUP_SAMPLE, cleanup_plan, thread_note
from bot.round_changes import Note, change_round, refresh_parent
from bot.services import Services
from bot.states import SENT, RoundState
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

# Mailjet's MessageStatus filter values -> our event kinds.
MESSAGE_STATUS_KINDS = {10: "hard", 9: "soft", 6: "spam", 7: "unsub", 8: "blocked"}
REMOVE_CHUNK = 1000


async def gather_events(services: Services, connection: asyncpg.Connection, campaign_id: int) -> list[rules.Event]:
    """The round's events: the webhook's when it has any (each counted once), else Mailjet's message list."""
    rows = await connection.fetch(Q.contact_events_of_campaign, campaign_id)
    if rows:
        return [rules.Event(r["contact_id"], r["email"], r["kind"]) for r in rows]
    events = []
    for status, kind in MESSAGE_STATUS_KINDS.items():
        async for page in services.mailjet.iter_messages(campaign_id, status):
            events += [rules.Event(int(m["ContactID"]), str(m.get("ContactAlt") or ""), kind) for m in page]
    return events


async def build_plan(services: Services, connection: asyncpg.Connection, campaign: asyncpg.Record,
                     round_row: asyncpg.Record, *, built_by: str, now: datetime) -> asyncpg.Record:
    """Build, store and post the round's cleanup plan. Call inside a transaction."""
    if round_row["state"] not in SENT:
        raise Refused(f"round {round_row['number']} was not sent ({round_row['state']}); there is nothing to clean")
    if round_row["dry_run"]:
        raise Refused(f"round {round_row['number']} was a dry run: Mailjet sent nothing, so nothing bounced")
    if not round_row["mailjet_campaign_id"]:
        raise Refused(f"round {round_row['number']} was sent, but Mailjet has not given its campaign id yet, so its "
                             "bounces cannot be read; try again in a few minutes")
    events = await gather_events(services, connection, round_row["mailjet_campaign_id"])
    contact_ids = sorted({e.contact_id for e in events})
    # Bounce counts as they stand; events of this round an earlier apply counted are not counted again.
    soft_counts = {r["contact_id"]: r["bounce_count"] for r in await connection.fetch(Q.suppressions_of, contact_ids)}
    counted = {(r["contact_id"], r["kind"]) for r in await connection.fetch(Q.suppression_events_of_round, round_row["id"])}
    items = rules.build_items(events, soft_counts, counted, services.settings.SOFT_BOUNCE_THRESHOLD)
    suppress_ids = [i.contact_id for i in items if i.action == "suppress"]
    removals: dict[int, int] = {}
    for row in await connection.fetch(Q.unsent_rounds_with_contacts, suppress_ids):
        removals[row["round_id"]] = removals.get(row["round_id"], 0) + 1
    recipients = round_row["recipient_count"] or 0
    share = rules.share_of(items, recipients)
    summary = rules.summarize(items, recipients, removals)
    await connection.execute(Q.cleanup_supersede, round_row["id"])
    plan = await Q.cleanup_insert.fetchrow(connection, round_id=round_row["id"], now=now, built_by=built_by, summary=summary,
                                           items=[i.as_dict() for i in items], share=share, needs_override=rules.needs_override(share))
    await audit(connection, now=now, actor=built_by, action="cleanup plan built", campaign_id=campaign["id"],
                round_id=round_row["id"], detail={"summary": f"{summary['suppressed']} to suppress ({share:.1%} of the round)",
                                                  "plan": plan["id"], **summary["by_reason"]})
    labels = await _round_labels(connection, list(removals))
    await outbox.post_in_round_thread(
        connection, round_id=round_row["id"], key=keys.cleanup(round_row["id"], plan["id"]), channel=campaign["channel"],
        now=now, message=cleanup_plan(campaign, round_row, plan, labels),
    )
    if len(plan["items"]) > CLEANUP_SAMPLE:
        # The message shows a sample; the full list goes with it, in the thread, through the same outbox.
        await outbox.upload_in_round_thread(
            connection, round_id=round_row["id"], key=keys.cleanup(round_row["id"], plan["id"], "csv"),
            channel=campaign["channel"], filename=f"cleanup-plan-{plan['id']}-round-{round_row['number']}.csv",
            title=f"{campaign['name']} round {round_row['number']}: cleanup plan #{plan['id']}, every contact",
            content=rules.plan_csv(plan["items"]), now=now,
            comment=f"Cleanup plan #{plan['id']}: all {len(plan['items']):,} contacts, with the action for each.",
        )
    return plan


async def _round_labels(connection: asyncpg.Connection, round_ids: list[int]) -> dict[str, str]:
    return {str(r["id"]): f"{r['name']} round {r['number']}" for r in await connection.fetch(Q.round_labels, round_ids)}


async def apply_plan(services: Services, plan_id: int, user: str) -> str:
    now = services.clock.now()
    async with services.pool.acquire() as connection:
        async with connection.transaction():
            plan = await connection.fetchrow(Q.cleanup_lock, plan_id)
            if plan is None:
                raise Refused("that cleanup plan no longer exists")
            round_row = await connection.fetchrow(Q.round_by_id, plan["round_id"])
            campaign = await connection.fetchrow(Q.campaign_by_id, round_row["campaign_id"])
            if plan["state"] == "superseded":
                raise Refused("this plan was replaced by a newer one; use the newest plan's button")
            first_time = plan["state"] == "proposed"
            if first_time:
                if plan["needs_override"] and not services.roles.may(user, "approve_launch"):
                    raise Refused(f"this plan suppresses {plan['share']:.1%} of the round (over 10%): "
                                         "an approver must apply it")
                await _apply_in_database(services, connection, campaign, round_row, plan, user, now)
        removed, failed = await _remove_from_mailjet(services, connection, plan_id, now)
    if not first_time and not removed and not failed:
        raise Refused("this plan was applied already; nothing changed")
    text = (f"Cleanup applied: {plan['summary']['suppressed']} contacts suppressed, {removed} list removals done in Mailjet"
            if first_time else f"Cleanup was applied already; finished {removed} pending Mailjet list removals")
    if failed:
        text += f"; {failed} removals could not be made in Mailjet yet (click Apply again to retry)"
    return text + "."


async def _apply_in_database(services: Services, connection: asyncpg.Connection, campaign: asyncpg.Record,
                             round_row: asyncpg.Record, plan: asyncpg.Record, user: str, now: datetime) -> None:
    threshold = services.settings.SOFT_BOUNCE_THRESHOLD
    for item in plan["items"]:
        if item["action"] == "record":
            await connection.execute(Q.record_event_only, round_row["id"], item["contact_id"], item["kind"], now)
        else:
            await Q.suppress_contact.execute(connection, round_id=round_row["id"], contact_id=item["contact_id"], email=item["email"],
                                             kind=item["kind"], now=now, soft_threshold=threshold,
                                             revalidate_after=rules.REVALIDATE_AFTER)
    # Who is actually suppressed now (a soft bounce under the threshold is not, nor one past
    # its revalidation date that only had a blocked message this time).
    candidates = sorted({i["contact_id"] for i in plan["items"]})
    suppressed = [r["contact_id"] for r in await connection.fetch(Q.suppressed_among, candidates, now)]
    touched = set()
    for row in await connection.fetch(Q.unsent_rounds_with_contacts, suppressed):
        await connection.execute(Q.ledger_remove, row["round_id"], row["contact_id"], now, f"cleanup plan {plan['id']}")
        await connection.execute(Q.cleanup_change_insert, plan["id"], row["round_id"], row["contact_id"], row["email"],
                                 row["mailjet_list_id"])
        touched.add(row["round_id"])
    applied = await connection.fetchrow(Q.cleanup_mark_applied, plan["id"], now, user)
    for round_id in touched:
        changed = await connection.fetchrow(Q.round_recount, round_id)
        other = await connection.fetchrow(Q.campaign_by_id, changed["campaign_id"])
        if changed["state"] == RoundState.APPROVED:
            # Its list changed, so the approval lapses ("a round sends only if an approver approved it …
            # and nothing material changed since (time, list, draft content)").
            await connection.execute(Q.approval_lapse, round_id, now, f"cleanup plan {plan['id']} changed its list")
            await change_round(connection, services, other, changed, to=RoundState.READY, now=now, actor=user, action=None,
                               note=Note(keys.cleanup(round_id, plan["id"], "lapsed"),
                                         ":warning: A list cleanup removed contacts from this round, so its approval "
                                         "lapsed. Run pre-flight again and approve it to send.", "alert"))
        else:
            await refresh_parent(connection, services, other, changed, now)
    cleaned = await connection.fetchrow(Q.round_transition, round_row["id"], round_row["state"], RoundState.CLEANED, now, None) \
        if round_row["state"] in (RoundState.SENT, RoundState.REPORTED) else round_row
    await audit(connection, now=now, actor=user, action="cleanup applied", campaign_id=campaign["id"], round_id=round_row["id"],
                detail={"summary": f"{len(set(suppressed))} suppressed; removed from {len(touched)} unsent rounds",
                        "plan": plan["id"]})
    await outbox.post_in_round_thread(
        connection, round_id=round_row["id"], key=keys.cleanup(round_row["id"], plan["id"], "applied"),
        channel=campaign["channel"], now=now,
        message=thread_note(campaign, cleaned, "cleanup",
                            f":broom: Cleanup applied by <@{user}>: {len(set(suppressed))} contacts suppressed and "
                            f"removed from {plural(len(touched), 'round')} not yet sent. The master list is untouched."),
    )
    # The plan message shows it was applied, without its button.
    labels = await _round_labels(connection, sorted(touched))
    await outbox.enqueue(
        connection, key=keys.cleanup(round_row["id"], plan["id"], "shown-applied"), channel=campaign["channel"],
        round_id=round_row["id"], kind="update", target_key=keys.cleanup(round_row["id"], plan["id"]), now=now,
        message=cleanup_plan(campaign, cleaned, applied, labels),
    )
    await refresh_parent(connection, services, campaign, cleaned, now)


async def _remove_from_mailjet(services: Services, connection: asyncpg.Connection, plan_id: int, now: datetime) -> tuple[int, int]:
    """Remove applied contacts from the unsent rounds' Mailjet lists; returns (done, failed)."""
    pending = await connection.fetch(Q.cleanup_changes_pending, plan_id)
    by_list: dict[int, list[Any]] = {}
    for change in pending:
        if change["mailjet_list_id"]:
            by_list.setdefault(change["mailjet_list_id"], []).append(change)
    done = failed = 0
    for list_id, changes in by_list.items():
        for start in range(0, len(changes), REMOVE_CHUNK):
            chunk = changes[start:start + REMOVE_CHUNK]
            try:
                job = await services.mailjet.add_contacts(list_id, [c["email"] for c in chunk], action="remove")
                await services.mailjet.wait_for_job(list_id, job)
            except MailjetError:
                failed += len(chunk)
                continue
            await connection.execute(Q.cleanup_changes_done, [c["id"] for c in chunk], now)
            done += len(chunk)
    return done, failed


async def cleanup_now(services: Services, campaign: asyncpg.Record, number: int, user: str) -> str:
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        round_row = await connection.fetchrow(Q.round_by_number, campaign["id"], number)
        if round_row is None:
            raise Refused(f"*{campaign['name']}* has no round {number}")
        try:
            plan = await build_plan(services, connection, campaign, round_row, built_by=user, now=now)
        except MailjetError as exc:
            raise Refused(f"Mailjet could not be read ({exc}); no plan was built") from None
    summary = plan["summary"]
    return (f"Cleanup plan for round {number} of *{campaign['name']}*: {summary['suppressed']} to suppress "
            f"({plan['share']:.1%} of the round). It is in the round's thread with its Apply button.")
