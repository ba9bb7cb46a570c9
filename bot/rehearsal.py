"""Rules of a rehearsal (`/campaign rehearse`, PRODUCT.md section 8.1), as pure functions.

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

# The whole rehearsal, every round's lifecycle, fits in about this long.
SPAN = timedelta(minutes=2)
# The first stage starts this long after the command, so the thread's top post goes first.
LEAD = timedelta(seconds=3)
# The stages a rehearsal runs (the early look at the numbers needs a live send: never).
STAGES = ("prelaunch", "preflight", "warning", "launch", "wrapup", "cleanup")
UNSENT = ("planned", "ready", "blocked", "approved")


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
