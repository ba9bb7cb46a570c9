"""Telling the channel about a round: a note in its thread, and its parent message re-rendered
in place with its current state. Both are queued in the outbox inside the caller's
transaction, so they commit with the change they announce or not at all.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bot.messages.rounds import round_parent, thread_note
from bot.services import Services
from storage import outbox
from storage.queries import Q


async def refresh_parent(connection: asyncpg.Connection, services: Services, campaign: asyncpg.Record,
                         round_row: asyncpg.Record, now: datetime) -> None:
    """Re-render the round's parent message in place with its current state."""
    frozen = (await connection.fetchrow(Q.freeze_state))["frozen"]
    approval = await connection.fetchrow(Q.live_approval, round_row["id"])
    await outbox.update_round_parent(
        connection, round_id=round_row["id"], channel=campaign["channel"], now=now,
        message=round_parent(campaign, round_row, frozen=frozen, approval=approval, dry_run=services.dry_run),
    )


async def announce(connection: asyncpg.Connection, services: Services, campaign: asyncpg.Record,
                   round_row: asyncpg.Record, *, stage: str, key: str, text: str, now: datetime) -> None:
    """A note in the round's thread (broadcast when `stage` is "alert"), then the parent refreshed."""
    await outbox.post_in_round_thread(connection, round_id=round_row["id"], key=key, channel=campaign["channel"], now=now,
                                      message=thread_note(campaign, round_row, stage, text))
    await refresh_parent(connection, services, campaign, round_row, now)
