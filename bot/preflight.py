"""Pre-flight: run the checklist against Mailjet, store it, move the round to ready or blocked.

Used by the `preflight` stage (jobs/stages.py), `/campaign preflight` and the bounce
override (bot/controls.py). The result is posted in the round's thread with the buttons
Approve launch / Hold / Cancel round; the buttons' block_id names this run, so a click on
an older run's button changes nothing.

An existing approval survives a re-run only if nothing material changed: the run passes,
the draft's content hash and the send instant are the ones approved. Otherwise it lapses
and the round must be approved again ("nothing material changed since (time, list, draft
content)").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from bot import preflight_rules as rules
from bot.holiday_calendar import holiday_name
from bot.mailjet import MailjetNotFound
from bot.rates import Counts
from bot.schedule import format_instant, on_allowed_day_and_time
from bot.messages.rounds import alert, preflight_result
from bot.round_changes import refresh_parent
from bot.services import Services
from bot.states import PRE_SEND, RoundState
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q


class PreflightRefused(Exception):
    """The round is past the point where pre-flight means anything (sending, sent, cancelled…)."""


async def gather_checks(services: Services, connection: asyncpg.Connection, campaign: asyncpg.Record,
                        round_row: asyncpg.Record, now: datetime) -> tuple[list[rules.Check], str]:
    mailjet = services.mailjet
    if round_row.get("rehearsal_of") is not None:
        # A rehearsal checks the real round as it is now: its ledger, instant and bounce override.
        round_row = await connection.fetchrow(Q.round_by_id, round_row["rehearsal_of"])
    ledger = await connection.fetchval(Q.ledger_count, round_row["id"])
    try:
        mj_list = await mailjet.get_list(round_row["mailjet_list_id"]) if round_row["mailjet_list_id"] else None
    except MailjetNotFound:
        mj_list = None
    results = [rules.list_count(int(mj_list["SubscriberCount"]) if mj_list else None, ledger)]

    found: list[str] = []
    checked = 0
    if mj_list:
        async for page in mailjet.iter_contacts(round_row["mailjet_list_id"]):
            checked += len(page)
            hits = {r["contact_id"] for r in await connection.fetch(Q.suppressed_among, [c.contact_id for c in page], now)}
            found += [c.email for c in page if c.contact_id in hits]
    results.append(rules.no_suppressed(found, checked))

    try:
        draft = await mailjet.get_draft(round_row["mailjet_draft_id"]) if round_row["mailjet_draft_id"] else None
        content = await mailjet.get_draft_content(round_row["mailjet_draft_id"]) if draft else None
    except MailjetNotFound:
        draft, content = None, None
    results.append(rules.draft_ready(draft, content, round_row["mailjet_list_id"]))
    sender_email = (draft or {}).get("SenderEmail")
    sender = await mailjet.get_sender(sender_email) if sender_email else None
    results.append(rules.sender_active(sender_email, sender))
    results.append(rules.content_links((content or {}).get("Html-part") or "", (content or {}).get("Text-part") or ""))

    previous = await connection.fetchrow(Q.previous_round, campaign["id"], round_row["number"])
    bounce_rate = None
    if previous is not None and previous["mailjet_campaign_id"]:
        stats = await mailjet.statcounters(previous["mailjet_campaign_id"])
        bounce_rate = Counts.from_statcounters(stats).bounce_rate if stats else None
    results.append(rules.previous_round_bounce(
        dict(previous) if previous else None, bounce_rate=bounce_rate, overridden_by=round_row["bounce_override_by"],
    ))

    zone = ZoneInfo(campaign["timezone"])
    results.append(rules.timing(
        in_future=round_row["scheduled_at"] > now,
        planner_chose=round_row["instant_source"] == "planner",
        on_allowed_slot=on_allowed_day_and_time(round_row["scheduled_at"], days=tuple(campaign["send_days"]),
                                                at=campaign["send_time"], zone=zone),
        shown=format_instant(round_row["scheduled_at"], zone),
    ))
    calendar = campaign.get("holidays")
    if calendar:
        local_day = round_row["scheduled_at"].astimezone(zone).date()
        results.append(rules.holiday(holiday_name(local_day, calendar), calendar, local_day))
    return results, rules.content_hash(draft, content)


async def run_preflight(services: Services, connection: asyncpg.Connection, campaign: asyncpg.Record,
                        round_row: asyncpg.Record, *, requested_by: str, now: datetime, late_by: str | None = None) -> asyncpg.Record:
    """Run, store and announce a pre-flight; returns the stored run. Call inside a transaction."""
    round_row = await connection.fetchrow(Q.round_lock, round_row["id"])
    if round_row["state"] not in PRE_SEND:
        raise PreflightRefused(f"round {round_row['number']} is {round_row['state']}; pre-flight no longer applies")
    results, content_hash = await gather_checks(services, connection, campaign, round_row, now)
    ok = rules.passed(results)
    run = await Q.preflight_insert.fetchrow(
        connection, round_id=round_row["id"], now=now, passed=ok, checks=[c.as_dict() for c in results],
        content_hash=content_hash, scheduled_at=round_row["scheduled_at"], requested_by=requested_by)
    new_state = RoundState.READY if ok else RoundState.BLOCKED
    approval = await connection.fetchrow(Q.live_approval, round_row["id"])
    lapsed_reason = None
    if approval is not None:
        approved_run = await connection.fetchrow(Q.preflight_by_id, approval["preflight_run_id"])
        unchanged = ok and approved_run["content_hash"] == content_hash and approved_run["scheduled_at"] == round_row["scheduled_at"]
        if unchanged:
            new_state = RoundState.APPROVED
        else:
            lapsed_reason = ("pre-flight now fails" if not ok else
                             "the draft changed since it was approved" if approved_run["content_hash"] != content_hash else
                             "the send instant changed")
            await connection.execute(Q.approval_lapse, round_row["id"], now, lapsed_reason)
    if new_state != round_row["state"]:
        round_row = await connection.fetchrow(Q.round_transition, round_row["id"], round_row["state"], new_state, now, None)
    await audit(connection, now=now, actor=requested_by, action="preflight " + ("passed" if ok else "failed"),
                campaign_id=campaign["id"], round_id=round_row["id"],
                detail={"summary": "; ".join(f"{c.label}: {c.status}" for c in results if c.status != rules.PASS) or "all checks pass",
                        "run": run["id"], **({"approval_lapsed": lapsed_reason} if lapsed_reason else {})})
    channel = campaign["channel"]
    message = preflight_result(campaign, round_row, run, approval if not lapsed_reason else None,
                               requested_by=requested_by, late_by=late_by, lapsed_reason=lapsed_reason)
    await outbox.post_in_round_thread(connection, round_id=round_row["id"], key=keys.preflight(round_row["id"], run["id"]),
                                      channel=channel, message=message, now=now)
    if not ok:
        failing = "; ".join(f"{c.label}: {c.reason}" for c in results if c.status == rules.FAIL)
        await outbox.post_in_round_thread(
            connection, round_id=round_row["id"], key=keys.preflight_alert(round_row["id"], run["id"]), channel=channel,
            message=alert(campaign, round_row, f"Pre-flight failed, the round is blocked: {failing}"), now=now,
        )
    await refresh_parent(connection, services, campaign, round_row, now)
    return run

