"""The one way a round changes: a guarded transition, its audit entry, a note in the round's
thread and the parent message re-rendered in place with its current state, all queued in the
outbox inside the caller's transaction, so they commit with the change or not at all.

`change_round` moves the round's state; `record_change` is the same tail for controls whose own
guarded UPDATE changes something else (hold, resume, reschedule, resolve, bounce override).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bot.messages.rounds import alert, round_parent, thread_note
from bot.services import Services
from bot.states import RoundState
from storage import outbox
from storage.audit import audit
from storage.queries import Q


class RoundChangeRefused(Exception):
    """The guarded transition matched no row: the round was no longer in the expected state."""


@dataclass(frozen=True)
class Note:
    """What the round's thread is told: a note of `stage` (broadcast when "alert"), or with `stage` None an alert."""
    key: str
    text: str
    stage: str | None = None

    def message(self, campaign: asyncpg.Record, round_row: asyncpg.Record) -> outbox.SlackMessage:
        return alert(campaign, round_row, self.text) if self.stage is None else thread_note(campaign, round_row, self.stage, self.text)


async def refresh_parent(connection: asyncpg.Connection, services: Services, campaign: asyncpg.Record,
                         round_row: asyncpg.Record, now: datetime) -> None:
    """Re-render the round's parent message in place with its current state."""
    frozen = (await connection.fetchrow(Q.freeze_state))["frozen"]
    approval = await connection.fetchrow(Q.live_approval, round_row["id"])
    await outbox.update_round_parent(
        connection, round_id=round_row["id"], channel=campaign["channel"], now=now,
        message=round_parent(campaign, round_row, frozen=frozen, approval=approval, dry_run=services.dry_run),
    )


async def change_round(connection: asyncpg.Connection, services: Services, campaign: asyncpg.Record,
                       round_row: asyncpg.Record, *, to: RoundState, now: datetime, actor: str, action: str | None,
                       detail: dict[str, Any] | None = None, note: Note | None = None, outcome: str | None = None,
                       refresh: bool = True) -> asyncpg.Record:
    """Move `round_row` from the state it was read in to `to` (`outcome` becomes its outcome_detail); returns
    the changed row. Raises RoundChangeRefused when the round is no longer in that state."""
    changed = await connection.fetchrow(Q.round_transition, round_row["id"], round_row["state"], to, now, outcome)
    if changed is None:
        raise RoundChangeRefused(f"round {round_row['id']} is no longer {round_row['state']}; it did not become {to}")
    await record_change(connection, services, campaign, changed, now=now, actor=actor, action=action, detail=detail,
                        note=note, refresh=refresh)
    return changed


async def record_change(connection: asyncpg.Connection, services: Services, campaign: asyncpg.Record,
                        round_row: asyncpg.Record, *, now: datetime, actor: str, action: str | None,
                        detail: dict[str, Any] | None = None, note: Note | None = None, refresh: bool = True) -> None:
    """Audit entry (unless `action` is None), the note in the round's thread, the parent refreshed."""
    if action is not None:
        await audit(connection, now=now, actor=actor, action=action, campaign_id=campaign["id"], round_id=round_row["id"],
                    detail=detail)
    if note is not None:
        await outbox.post_in_round_thread(connection, round_id=round_row["id"], key=note.key, channel=campaign["channel"],
                                          now=now, message=note.message(campaign, round_row))
    if refresh:
        await refresh_parent(connection, services, campaign, round_row, now)
