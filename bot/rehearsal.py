"""A rehearsal (`/campaign rehearse`): its rules as pure functions, and
starting one. The stages that run it are jobs/rehearsal.py's.

A rehearsal replays every stage of every unsent round on a compressed copy of the
schedule: about two minutes for all of them. Rounds keep their real order (by send
instant) and each gets an equal slot; inside a slot the stages keep the campaign's own
order (by their offsets, the launch at 0) and are spaced evenly. The copies' instants are
these compressed ones; the real instants are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from bot.controls import Refused
from bot.logs import get_logger
from bot.messages.rehearsal import top_post
from bot.services import Services
from bot.states import PRE_SEND
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

log = get_logger(__name__)

# The whole rehearsal, every round's lifecycle, fits in about this long.
SPAN = timedelta(minutes=2)
# The first stage starts this long after the command, so the thread's top post goes first.
LEAD = timedelta(seconds=3)
# The stages a rehearsal runs (the early look at the numbers needs a live send: never).
STAGES = ("prelaunch", "preflight", "warning", "launch", "wrapup", "cleanup")


class RehearsalError(ValueError):
    """Why a rehearsal cannot start; shown to the user as it is."""


@dataclass(frozen=True)
class RehearsedRound:
    number: int
    real_at: datetime                    # the real round's instant (unchanged)
    at: datetime                         # the rehearsal's compressed instant T
    stages: Mapping[str, datetime]       # stage -> compressed instant

    @property
    def ends_at(self) -> datetime:
        return max(self.stages.values())


def compress(rounds: Sequence[tuple[int, datetime]], offsets: Mapping[str, timedelta], *, start: datetime,
             span: timedelta = SPAN, lead: timedelta = LEAD) -> list[RehearsedRound]:
    """The compressed timeline of `rounds` ((number, real instant) pairs) from `start`.

    Rounds run one after the other in the order of their real instants; each has
    span / len(rounds), split evenly between its stages in the order of their offsets.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if not rounds:
        raise RehearsalError("there is no unsent round to rehearse")
    ordered_stages = sorted(STAGES, key=lambda stage: (_offset(offsets, stage), STAGES.index(stage)))
    slot = span / len(rounds)
    step = slot / len(ordered_stages)
    first = start + lead
    out = []
    for index, (number, real_at) in enumerate(sorted(rounds, key=lambda item: (item[1], item[0]))):
        base = first + slot * index
        stages = {stage: base + step * position for position, stage in enumerate(ordered_stages)}
        out.append(RehearsedRound(number, real_at, stages["launch"], stages))
    return out


def _offset(offsets: Mapping[str, timedelta], stage: str) -> timedelta:
    if stage == "launch":
        return timedelta(0)
    return offsets[stage]


def offsets_from_seconds(stored: Mapping[str, float | int]) -> dict[str, timedelta]:
    """A campaign's `offsets` column (stage -> seconds) as timedeltas."""
    return {stage: timedelta(seconds=float(seconds)) for stage, seconds in stored.items()}


def refusal(*, planning_state: str, unsent: int, running_since: datetime | None) -> str | None:
    """Why a rehearsal of this campaign may not start now, or None."""
    if planning_state == "pending":
        return "it is still being planned; rehearse it once the plan is posted"
    if planning_state == "failed":
        return "its planning failed, so it has no rounds to rehearse"
    if running_since is not None:
        return "a rehearsal of it is already running; wait for it to finish (about two minutes)"
    if unsent == 0:
        return "it has no unsent round (every round was sent, cancelled, missed or failed)"
    return None


# --- starting one -----------------------------------------------------------------------

async def start_rehearsal(services: Services, campaign: asyncpg.Record, user: str) -> str:
    """Start a rehearsal of `campaign` in one transaction; the reply for the user."""
    now = services.clock.now()
    async with services.pool.acquire() as connection, connection.transaction():
        campaign = await connection.fetchrow(Q.campaign_lock, campaign["id"])
        running = await connection.fetchrow(Q.rehearsal_running, campaign["id"])
        real_rounds = [r for r in await connection.fetch(Q.rounds_of_campaign, campaign["id"]) if r["state"] in PRE_SEND]
        why_not = refusal(planning_state=campaign["planning_state"], unsent=len(real_rounds),
                                running_since=running["started_at"] if running else None)
        if why_not:
            raise Refused(f"*{campaign['name']}* cannot be rehearsed: {why_not}. Nothing was started.")
        rehearsal = await connection.fetchrow(Q.rehearsal_insert, campaign["id"], campaign["channel"], user, now)
        if rehearsal is None:  # the unique index: another rehearsal started in between
            raise Refused(f"*{campaign['name']}* cannot be rehearsed: a rehearsal of it is already running. "
                                   "Nothing was started.")
        timeline = compress([(r["number"], r["scheduled_at"]) for r in real_rounds],
                            offsets_from_seconds(campaign["offsets"]), start=now,
                            span=timedelta(seconds=services.settings.REHEARSAL_SECONDS))
        by_number = {r["number"]: r for r in real_rounds}
        copies = []
        for planned in timeline:
            copy = await connection.fetchrow(Q.rehearsal_round_insert, rehearsal["id"], by_number[planned.number]["id"],
                                             planned.at, now)
            await connection.execute(Q.stage_runs_insert, copy["id"], list(planned.stages),
                                     [planned.stages[stage] for stage in planned.stages])
            copies.append({**dict(copy), "real_scheduled_at": planned.real_at})
        await audit(connection, now=now, actor=user, action="rehearsal started", campaign_id=campaign["id"],
                    detail={"summary": f"rehearsal {rehearsal['id']} of round {', '.join(str(c['number']) for c in copies)}",
                            "rehearsal": rehearsal["id"], "rounds": [c["number"] for c in copies],
                            "ends_at": max(p.ends_at for p in timeline).isoformat()})
        await outbox.enqueue(connection, key=keys.rehearsal_top(rehearsal["id"]), channel=campaign["channel"], now=now,
                             message=top_post(campaign, copies, started_by=user, live=not services.dry_run))
    log.info("rehearsal started", campaign=campaign["name"], rehearsal=rehearsal["id"], rounds=len(copies))
    numbers = ", ".join(str(c["number"]) for c in copies)
    return (f":performing_arts: Rehearsal of *{campaign['name']}* started: every stage of round {numbers}, in dry run, "
            f"over about two minutes. Follow it in the thread of \"Rehearsal of {campaign['name']}\" in the channel. "
            "Nothing is sent and the real rounds are not touched.")
