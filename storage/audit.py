"""The append-only audit log: who did what, when ("every automated step and every human action")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from storage.queries import Q


async def audit(
    connection: asyncpg.Connection,
    *,
    now: datetime,
    actor: str,
    action: str,
    campaign_id: int | None = None,
    round_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    if round_id is not None:
        # A rehearsal's round: its entries say so, so `/campaign log` never mistakes them for the real round's.
        rehearsal_id = await connection.fetchval(Q.round_rehearsal_id, round_id)
        if rehearsal_id is not None:
            action = f"rehearsal: {action}"
            detail = {**(detail or {}), "rehearsal": rehearsal_id}
    await Q.audit_insert.execute(connection, now=now, actor=actor, action=action, campaign_id=campaign_id, round_id=round_id,
                                 detail=detail or {})
