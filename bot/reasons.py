"""A person's free-text reason, kept whole where Slack cannot carry it.

`/campaign cancel <name> <round> <reason…>` answers with a confirm button; the click must
cancel with the reason, but a button's block_id holds 255 characters and its value is the
round id ("button `value` is the round id"). So the reason is stored (`cancel_requests`) and the button
names the row. The audit log then gets the full reason, whatever its length.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from storage.queries import Q

CANCEL_REQUEST_PREFIX = "cancel-request:"


async def store_cancel_request(pool: asyncpg.Pool, *, round_id: int, reason: str, user: str, now: datetime) -> int:
    async with pool.acquire() as connection:
        return await connection.fetchval(Q.cancel_request_insert, round_id, reason, user, now)


async def cancel_reason(pool: asyncpg.Pool, block_id: str, round_id: int) -> str | None:
    """The reason a cancel button names, or None (no reason, or a button of another round)."""
    if not block_id.startswith(CANCEL_REQUEST_PREFIX):
        return None
    try:
        request_id = int(block_id[len(CANCEL_REQUEST_PREFIX):])
    except ValueError:
        return None
    async with pool.acquire() as connection:
        row = await connection.fetchrow(Q.cancel_request_get, request_id)
    if row is None or row["round_id"] != round_id:
        return None
    return row["reason"]
