"""What people do to rounds: pre-flight now, approve, hold, resume, cancel, reschedule, freeze.

Each control runs in one transaction with the round row locked, re-checks the round's state
(a stale or repeated click changes nothing and says why), writes the audit log, announces
the change in the round's thread and re-renders the parent message. Roles are checked by
the handlers before these are called; the two-person rule is checked here because it
depends on the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from bot.holiday_calendar import holiday_name
from bot.messages.rounds import preflight_result
from bot.preflight import PreflightRefused, run_preflight
from bot.round_changes import Note, change_round, record_change
from bot.schedule import STAGES, ScheduleError, format_instant, parse_instant
from bot.services import Services
from bot.slack_text import reason as shown
from bot.states import PRE_SEND, RESCHEDULABLE, RoundState
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q


class Refused(Exception):
    """The control does not apply; the message says why. Nothing was changed."""


@dataclass(frozen=True)
class CampaignRound:
    campaign: asyncpg.Record
    round: asyncpg.Record


async def find_round(connection: asyncpg.Connection, *, round_id: int | None = None, name: str | None = None,
                     number: int | None = None) -> CampaignRound:
    if round_id is not None:
        round_row = await connection.fetchrow(Q.round_by_id, round_id)
        if round_row is None:
            raise Refused("that round no longer exists")
        if round_row["rehearsal_id"] is not None:
            raise Refused("that is a rehearsal's copy of a round: a rehearsal has no controls and changes nothing")
        campaign = await connection.fetchrow(Q.campaign_by_id, round_row["campaign_id"])
        return CampaignRound(campaign, round_row)
    campaign = await connection.fetchrow(Q.campaign_by_name, name)
    if campaign is None:
        raise Refused(f"there is no campaign named `{name}` (see `/campaign list`)")
    round_row = await connection.fetchrow(Q.round_by_number, campaign["id"], number)
    if round_row is None:
        raise Refused(f"*{campaign['name']}* has no round {number} (it has {campaign['round_count']})")
    return CampaignRound(campaign, round_row)


def _planned_check(campaign: asyncpg.Record) -> None:
    if campaign["planning_state"] != "planned":
        raise Refused(f"*{campaign['name']}* is not planned yet (planning {campaign['planning_state']})")


async def preflight_now(services: Services, target: CampaignRound, user: str) -> str:
    _planned_check(target.campaign)
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        try:
            run = await run_preflight(services, connection, target.campaign, target.round, requested_by=user, now=now)
        except PreflightRefused as exc:
            raise Refused(str(exc)) from None
    return (f"Pre-flight {'passed' if run['passed'] else 'failed'} for round {target.round['number']} of "
            f"*{target.campaign['name']}*; the result is in the round's thread.")


async def approve(services: Services, target: CampaignRound, user: str, *, preflight_run_id: int | None = None) -> str:
    now = services.clock.now()
    campaign = target.campaign
    if services.settings.TWO_PERSON_RULE and user == campaign["created_by"]:
        raise Refused("the two-person rule is on: the campaign's creator cannot approve its rounds; ask another approver")
    async with services.pool.acquire() as connection, connection.transaction():
        round_row = await connection.fetchrow(Q.round_lock, target.round["id"])
        number = round_row["number"]
        if round_row["state"] == RoundState.APPROVED:
            existing = await connection.fetchrow(Q.live_approval, round_row["id"])
            raise Refused(f"round {number} is already approved by <@{existing['approved_by']}> at "
                          f"{format_instant(existing['approved_at'], campaign['timezone'])}; nothing changed")
        if round_row["state"] != RoundState.READY:
            reasons = {RoundState.PLANNED: "no pre-flight has passed yet", RoundState.BLOCKED: "its pre-flight failed; fix it and re-run pre-flight"}
            raise Refused(f"round {number} cannot be approved: {reasons.get(round_row['state'], 'it is ' + round_row['state'])}")
        latest = await connection.fetchrow(Q.preflight_latest, round_row["id"])
        if latest is None or not latest["passed"]:
            raise Refused(f"round {number} has no passing pre-flight to approve")
        if preflight_run_id is not None and preflight_run_id != latest["id"]:
            raise Refused(f"this button belongs to an older pre-flight (#{preflight_run_id}); pre-flight ran again since "
                          f"(#{latest['id']}). Use the newest result's button.")
        if campaign["approval_policy"] == "auto":
            raise Refused("this campaign's approval is automatic; no approval is needed")
        if now > round_row["scheduled_at"] + campaign["launch_window"]:
            raise Refused(f"round {number}'s launch window has closed; it will not be sent")
        approval = await connection.fetchrow(Q.approval_insert, round_row["id"], latest["id"], user, now)
        if approval is None:
            raise Refused(f"round {number} was approved by someone else a moment ago; nothing changed")
        when = format_instant(now, campaign["timezone"])
        held = " It stays held until an approver resumes it." if round_row["held"] else ""
        round_row = await change_round(
            connection, services, campaign, round_row, to=RoundState.APPROVED, now=now, actor=user, action="approved",
            detail={"summary": f"pre-flight #{latest['id']}", "preflight_run": latest["id"]},
            note=Note(keys.approved(round_row["id"], approval["id"]),
                      f":large_green_circle: Launch approved by <@{user}> at {when}.{held}", "preflight"))
        await outbox.enqueue(
            connection, key=keys.preflight_approved(round_row["id"], latest["id"], approval["id"]),
            channel=campaign["channel"], round_id=round_row["id"], kind="update",
            target_key=keys.preflight(round_row["id"], latest["id"]), now=now,
            message=preflight_result(campaign, round_row, latest, approval, requested_by=latest["requested_by"]),
        )
        await connection.execute(Q.stage_wake_launch, round_row["id"], now)
    return f"Approved round {number} of *{campaign['name']}*.{held}"


async def hold(services: Services, campaign: asyncpg.Record, rounds: list[asyncpg.Record], user: str, reason: str | None) -> str:
    _planned_check(campaign)
    now = services.clock.now()
    held: list[int] = []
    async with services.pool.acquire() as connection, connection.transaction():
        for candidate in rounds:
            round_row = await connection.fetchrow(Q.round_hold, candidate["id"], reason, user)
            if round_row is None:
                continue
            held.append(round_row["number"])
            await record_change(connection, services, campaign, round_row, now=now, actor=user, action="held",
                                detail={"summary": reason or "no reason given"},
                                note=Note(keys.control(round_row["id"], "hold", now),
                                          f":pause_button: Held by <@{user}>{': ' + shown(reason) if reason else ''}. "
                                          "It will not be sent unless an approver resumes it in time.", "alert"))
    if not held:
        states = ", ".join(f"round {r['number']} {'already held' if r['held'] else r['state']}" for r in rounds)
        raise Refused(f"nothing to hold ({states}); nothing changed")
    return f"Held round{'s' if len(held) > 1 else ''} {', '.join(map(str, held))} of *{campaign['name']}*."


async def resume(services: Services, campaign: asyncpg.Record, rounds: list[asyncpg.Record], user: str) -> str:
    now = services.clock.now()
    resumed: list[int] = []
    async with services.pool.acquire() as connection, connection.transaction():
        for candidate in rounds:
            round_row = await connection.fetchrow(Q.round_resume, candidate["id"])
            if round_row is None:
                continue
            resumed.append(round_row["number"])
            needs = "" if round_row["state"] == RoundState.APPROVED or campaign["approval_policy"] == "auto" else " It still needs an approval to be sent."
            await record_change(connection, services, campaign, round_row, now=now, actor=user, action="resumed",
                                note=Note(keys.control(round_row["id"], "resume", now),
                                          f":arrow_forward: Hold lifted by <@{user}>.{needs}", "prelaunch"))
            await connection.execute(Q.stage_wake_launch, round_row["id"], now)
    if not resumed:
        raise Refused("no held round to resume; nothing changed")
    return f"Resumed round{'s' if len(resumed) > 1 else ''} {', '.join(map(str, resumed))} of *{campaign['name']}*."


async def cancel(services: Services, target: CampaignRound, user: str, reason: str | None) -> str:
    now = services.clock.now()
    campaign = target.campaign
    async with services.pool.acquire() as connection, connection.transaction():
        round_row = await connection.fetchrow(Q.round_lock, target.round["id"])
        if round_row["state"] not in PRE_SEND:
            raise Refused(f"round {round_row['number']} is {round_row['state']}; only an unsent round can be cancelled")
        detail = f"Cancelled by <@{user}>" + (f": {reason}" if reason else "")
        await connection.execute(Q.approval_lapse, round_row["id"], now, "round cancelled")
        await connection.execute(Q.stage_cancel_pending_presend, round_row["id"], now, "round cancelled")
        said = f"Cancelled by <@{user}>" + (f": {shown(reason)}" if reason else "")
        round_row = await change_round(
            connection, services, campaign, round_row, to=RoundState.CANCELLED, now=now, actor=user, action="cancelled",
            detail={"summary": reason or "no reason given"}, outcome=detail,
            note=Note(keys.cancelled(round_row["id"]), f":x: {said}. It will never be sent.", "alert"))
    return f"Cancelled round {round_row['number']} of *{campaign['name']}*."


async def reschedule(services: Services, target: CampaignRound, user: str, instant_text: str) -> str:
    now = services.clock.now()
    campaign = target.campaign
    _planned_check(campaign)
    try:
        instant = parse_instant(instant_text, ZoneInfo(campaign["timezone"]))
    except ScheduleError as exc:
        raise Refused(str(exc)) from None
    if instant <= now:
        raise Refused(f"{format_instant(instant, campaign['timezone'])} is not in the future")
    async with services.pool.acquire() as connection, connection.transaction():
        round_row = await connection.fetchrow(Q.round_lock, target.round["id"])
        number = round_row["number"]
        if round_row["state"] not in RESCHEDULABLE:
            raise Refused(f"round {number} is {round_row['state']}; only an unsent or missed round can be rescheduled")
        neighbours = {r["number"]: r for r in await connection.fetch(Q.rounds_of_campaign, campaign["id"])}
        before, after = neighbours.get(number - 1), neighbours.get(number + 1)
        if before is not None and instant <= before["scheduled_at"]:
            raise Refused(f"round {number} must stay after round {number - 1} ({format_instant(before['scheduled_at'], campaign['timezone'])})")
        if after is not None and instant >= after["scheduled_at"]:
            raise Refused(f"round {number} must stay before round {number + 1} ({format_instant(after['scheduled_at'], campaign['timezone'])})")
        old = round_row["scheduled_at"]
        lapsed = await connection.fetchrow(Q.approval_lapse, round_row["id"], now, "rescheduled")
        round_row = await connection.fetchrow(Q.round_reschedule, round_row["id"], instant, now)
        offsets = campaign["offsets"]
        for stage in STAGES:
            await connection.execute(Q.stage_replan, round_row["id"], stage, instant + timedelta(seconds=offsets[stage]))
        cleared = " Its approval was cleared: pre-flight runs again and it needs a new approval." if lapsed else " Pre-flight runs again before it."
        await record_change(connection, services, campaign, round_row, now=now, actor=user, action="rescheduled",
                            detail={"summary": f"{old.isoformat()} → {instant.isoformat()}", "approval_cleared": lapsed is not None},
                            note=Note(keys.control(round_row["id"], "reschedule", now),
                                      f":calendar: Rescheduled by <@{user}> from {format_instant(old, campaign['timezone'])} "
                                      f"to {format_instant(instant, campaign['timezone'])}.{cleared}", "prelaunch"))
    return (f"Round {number} of *{campaign['name']}* now sends {format_instant(instant, campaign['timezone'])}."
            + holiday_warning(instant, campaign))


def holiday_warning(instant: datetime, campaign: asyncpg.Record) -> str:
    """A note when an instant someone chose falls on a public holiday of the campaign's calendar."""
    day = instant.astimezone(ZoneInfo(campaign["timezone"])).date()
    name = holiday_name(day, campaign.get("holidays"))
    if not name:
        return ""
    return (f"\n:warning: {day:%a} {day.day} {day:%b %Y} is a public holiday ({name}, {campaign['holidays']}). "
            "The round keeps this instant; its pre-flight will warn. Reschedule again to avoid it.")


async def set_freeze(services: Services, user: str, *, frozen: bool, reason: str | None) -> str:
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(Q.freeze_set, frozen, reason, user, now)
        if row is None:
            raise Refused(f"sends are already {'frozen' if frozen else 'allowed'}; nothing changed")
        await audit(connection, now=now, actor=user, action="froze all sends" if frozen else "unfroze sends",
                    detail={"summary": reason or ""})
        text = (f":ice_cube: <@{user}> froze every send, everywhere{': ' + shown(reason) if reason else ''}. No round goes out until an admin unfreezes."
                if frozen else f":sunny: <@{user}> unfroze sends. Approved rounds still inside their launch window go out now (once).")
        await outbox.enqueue(connection, key=keys.freeze(now, frozen), channel=services.settings.CAMPAIGN_CHANNEL,
                             now=now, message=outbox.SlackMessage(text=text))
        if not frozen:
            await connection.execute(Q.stage_wake_launch, None, now)
    return "Froze every send." if frozen else "Unfroze sends."



async def override_bounce(services: Services, target: CampaignRound, user: str) -> str:
    """An approver lets the round go although the previous round bounced above 5%; pre-flight runs again."""
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        round_row = await connection.fetchrow(Q.round_bounce_override, target.round["id"], user, now)
        if round_row is None:
            raise Refused(f"round {target.round['number']} is {target.round['state']}; the override no longer applies")
        await record_change(connection, services, target.campaign, round_row, now=now, actor=user, action="bounce check overridden",
                            detail={"summary": "previous round's bounce rate accepted by an approver"},
                            note=Note(keys.control(round_row["id"], "bounce-override", now),
                                      f":warning: <@{user}> overrode the previous round's bounce-rate check; pre-flight runs again.",
                                      "preflight"))
        run = await run_preflight(services, connection, target.campaign, round_row, requested_by=user, now=now)
    return (f"Override recorded; pre-flight {'passed' if run['passed'] else 'still fails'} for round "
            f"{target.round['number']} of *{target.campaign['name']}*.")
