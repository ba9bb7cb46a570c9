"""Queueing Slack messages in the outbox, inside the caller's transaction.

A state change and its announcement commit together or not at all (transactional outbox);
the sender in jobs/outbox.py delivers them later, in order, with retries.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from storage import outbox_keys as keys
from storage.queries import Q


@dataclass(frozen=True)
class SlackMessage:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    reply_broadcast: bool = False

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text, "blocks": self.blocks}
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if self.reply_broadcast:
            body["reply_broadcast"] = True
        return body


REHEARSAL_NOTE = ":performing_arts: _Rehearsal: dry run on a compressed timeline. Nothing is sent, nothing in Mailjet " \
                 "changes, and the real round, its messages and approvals are untouched._"


def as_rehearsal(message: SlackMessage) -> SlackMessage:
    """A stage's message as the rehearsal shows it: `"rehearsal": true` in its metadata, no
    buttons (a rehearsal has no controls), never broadcast, and a line saying what it is."""
    metadata = None
    if message.metadata is not None:
        metadata = {**message.metadata, "event_payload": {**message.metadata.get("event_payload", {}), "rehearsal": True}}
    blocks = [b for b in message.blocks if b.get("type") != "actions"]
    if blocks:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": REHEARSAL_NOTE}]})
    return SlackMessage(text=f"[Rehearsal] {message.text}", blocks=blocks, metadata=metadata, reply_broadcast=False)


async def enqueue(
    connection: asyncpg.Connection,
    *,
    key: str,
    channel: str,
    message: SlackMessage,
    now: datetime,
    round_id: int | None = None,
    kind: str = "post",
    thread_key: str | None = None,
    target_key: str | None = None,
) -> bool:
    """Queue one message; False if a message with this key was queued before (idempotent).

    A message of a rehearsal's round goes into the rehearsal's thread, marked as such.
    """
    if round_id is not None:
        rehearsal_id = await connection.fetchval(Q.round_rehearsal_id, round_id)
        if rehearsal_id is not None:
            message = as_rehearsal(message)
            thread_key = keys.rehearsal_top(rehearsal_id) if kind == "post" else thread_key
    row = await Q.outbox_enqueue.fetchrow(connection, key=key, round_id=round_id, channel=channel, kind=kind,
                                          thread_key=thread_key, target_key=target_key, payload=message.payload(), now=now)
    return row is not None


async def post_round_parent(connection: asyncpg.Connection, *, round_id: int, channel: str, message: SlackMessage, now: datetime) -> bool:
    return await enqueue(connection, key=keys.parent(round_id), channel=channel, message=message, now=now, round_id=round_id)


async def round_has_parent(connection: asyncpg.Connection, round_id: int) -> bool:
    return await connection.fetchrow(Q.outbox_round_parent, round_id) is not None


async def post_in_round_thread(
    connection: asyncpg.Connection, *, round_id: int, key: str, channel: str, message: SlackMessage, now: datetime
) -> bool:
    """A reply in the round's thread; before the round has a parent message, a top-level post."""
    thread = keys.parent(round_id) if await round_has_parent(connection, round_id) else None
    return await enqueue(
        connection, key=key, channel=channel, message=message, now=now, round_id=round_id, thread_key=thread
    )


async def upload_in_round_thread(
    connection: asyncpg.Connection, *, round_id: int, key: str, channel: str, filename: str, title: str,
    content: bytes, comment: str, now: datetime,
) -> bool:
    """A file (the wrap-up chart) uploaded into the round's thread."""
    thread = keys.parent(round_id) if await round_has_parent(connection, round_id) else None
    return await upload(connection, key=key, channel=channel, thread_key=thread, filename=filename, title=title,
                        content=content, comment=comment, now=now, round_id=round_id)


async def upload(
    connection: asyncpg.Connection, *, key: str, channel: str, thread_key: str | None, filename: str, title: str,
    content: bytes, comment: str, now: datetime, round_id: int | None = None,
) -> bool:
    """A file uploaded into the thread of the outbox message `thread_key` (the weekly summary's chart)."""
    payload = {"text": comment, "filename": filename, "title": title, "content_b64": base64.b64encode(content).decode()}
    row = await Q.outbox_enqueue.fetchrow(connection, key=key, round_id=round_id, channel=channel, kind="upload",
                                          thread_key=thread_key, target_key=None, payload=payload, now=now)
    return row is not None


async def update_round_parent(connection: asyncpg.Connection, *, round_id: int, channel: str, message: SlackMessage, now: datetime) -> bool:
    """Re-render the parent message in place; nothing to do before it has been queued."""
    if not await round_has_parent(connection, round_id):
        return False
    return await update_in_place(connection, round_id=round_id, target_key=keys.parent(round_id), channel=channel,
                                 message=message, now=now)


async def update_in_place(connection: asyncpg.Connection, *, round_id: int | None, target_key: str, channel: str,
                          message: SlackMessage, now: datetime) -> bool:
    """Replace the content of the message queued under `target_key` (delivered after it)."""
    return await enqueue(
        connection,
        key=keys.update(target_key, uuid.uuid4().hex),
        channel=channel,
        message=message,
        now=now,
        round_id=round_id,
        kind="update",
        target_key=target_key,
    )
