"""The append-only audit log: who did what, when (PRODUCT.md invariant 7)."""

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
    await connection.execute(Q.audit_insert, now, actor, action, campaign_id, round_id, detail or {})
