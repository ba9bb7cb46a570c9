"""Creating a campaign from `/campaign new`: every check that can fail happens before anything
is written, and then the campaign and its rounds are written in one transaction. Planning
against Mailjet (jobs/planning.py) picks it up from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from bot.grammar import CommandError, NewCampaign
from bot.mailjet import MailjetError, MailjetNotFound
from bot.holiday_calendar import holiday_name
from bot.schedule import PlannedInstant, ScheduleError, SkippedDay, format_instant, planner_instants, validate_offsets
from bot.services import Services
from storage.audit import audit
from storage.queries import Q


def round_list_name(campaign_name: str, number: int) -> str:
    """Each round's own Mailjet contacts list."""
    return f"{campaign_name}-round-{number}"


@dataclass(frozen=True)
class CreatedCampaign:
    campaign: asyncpg.Record
    rounds: list[asyncpg.Record]
    skipped: list[SkippedDay] = field(default_factory=list)   # public holidays planning passed over

    def skipped_rows(self) -> list[dict[str, str]]:
        return [{"date": s.day.isoformat(), "name": s.name} for s in self.skipped]


def round_instants(new: NewCampaign, now: datetime, skipped: list[SkippedDay] | None = None) -> list[PlannedInstant]:
    """Each round's instant: `at=` as given, else the planner's, never on a public holiday of
    the campaign's calendar (each holiday passed over is appended to `skipped`)."""
    if new.at:
        past = [i for i in new.at if i <= now]
        if past:
            shown = ", ".join(format_instant(i, new.zone) for i in past)
            raise CommandError(f"at= instant {shown} is not in the future", "new")
        return [PlannedInstant(i, "explicit") for i in new.at]
    today = now.astimezone(new.zone).date()
    start = new.start or today
    if start < today:
        raise CommandError(f"start={start.isoformat()} is in the past (today is {today.isoformat()} in {new.zone.key})", "new")
    try:
        return planner_instants(rounds=new.rounds, start=start, days=new.days, at=new.send_time, zone=new.zone, now=now,
                                holiday_of=(lambda day: holiday_name(day, new.holidays)) if new.holidays else None,
                                skipped=skipped)
    except ScheduleError as exc:
        raise CommandError(str(exc), "new") from None


async def _check_mailjet(services: Services, new: NewCampaign) -> None:
    mailjet = services.mailjet
    try:
        master = await mailjet.get_list(new.list_id)
    except MailjetNotFound:
        raise CommandError(f"list={new.list_id}: Mailjet has no contacts list with that id", "new") from None
    subscribers = int(master.get("SubscriberCount") or 0)
    if subscribers < new.rounds:
        raise CommandError(
            f"list={new.list_id} has {subscribers} subscribers: not enough for {new.rounds} rounds", "new"
        )
    try:
        await mailjet.get_draft(new.draft_id)
    except MailjetNotFound:
        raise CommandError(f"draft={new.draft_id}: Mailjet has no campaign draft with that id", "new") from None
    for number in range(1, new.rounds + 1):
        name = round_list_name(new.name, number)
        if await mailjet.find_list_by_name(name):
            raise CommandError(
                f"a Mailjet list named `{name}` already exists; choose another campaign name", "new"
            )


async def create_campaign(services: Services, new: NewCampaign, user_id: str) -> CreatedCampaign:
    """Validate everything, then write the campaign and its rounds. Raises CommandError."""
    now = services.clock.now()
    try:
        validate_offsets(new.offsets)
    except ScheduleError as exc:
        raise CommandError(str(exc), "new") from None
    async with services.pool.acquire() as connection:
        if await connection.fetchrow(Q.campaign_by_name, new.name):
            raise CommandError(f"a campaign named `{new.name}` already exists", "new")
    skipped: list[SkippedDay] = []
    instants = round_instants(new, now, skipped)
    try:
        await _check_mailjet(services, new)
    except MailjetError as exc:
        raise CommandError(f"could not check the list and draft in Mailjet: {exc}", "new") from None

    offsets = {stage: int(delta.total_seconds()) for stage, delta in new.offsets.items()}
    async with services.pool.acquire() as connection, connection.transaction():
        campaign = await Q.campaign_insert.fetchrow(
            connection, name=new.name, list_id=new.list_id, draft_id=new.draft_id, rounds=new.rounds, timezone=new.zone.key,
            send_days=list(new.days), send_time=new.send_time, offsets=offsets, launch_window=new.window,
            approval_policy=new.approval, channel=services.settings.CAMPAIGN_CHANNEL, created_by=user_id, now=now)
        if campaign is None:
            raise CommandError(f"a campaign named `{new.name}` already exists", "new")
        await connection.execute(
            Q.rounds_insert, campaign["id"], list(range(1, new.rounds + 1)),
            [i.at.astimezone(UTC) for i in instants], [i.source for i in instants], now,
        )
        skips = [{"date": s.day.isoformat(), "name": s.name} for s in skipped]
        campaign = await connection.fetchrow(Q.campaign_set_holidays, campaign["id"], new.holidays, skips)
        rounds = await connection.fetch(Q.rounds_of_campaign, campaign["id"])
        await audit(connection, now=now, actor=user_id, action="campaign created", campaign_id=campaign["id"],
                    detail={"summary": f"{new.rounds} rounds from list {new.list_id}, template draft {new.draft_id}",
                            "instants": [i.at.isoformat() for i in instants], "approval": new.approval,
                            "window_seconds": int(new.window.total_seconds()), "offsets": offsets,
                            "holidays": new.holidays or "none", "holidays_skipped": skips})
    return CreatedCampaign(campaign, list(rounds), skipped)
