"""The outbox sender: delivers queued Slack posts and updates, in order per round.

- One delivery at a time per message: a session advisory lock on the row's id, held on a
  dedicated connection during the Slack call. A crash drops the connection and the lock,
  so a restarted process retries at once, with no lease to wait out.
- Before each call the attempt is recorded. A message whose earlier attempt may have
  reached Slack (the process died mid-call) is first looked for in the channel by its
  idempotency key (carried in the first block's block_id), so it is never posted twice.
- Uploads are found the same way: the file's name carries the key's digest, and a retry
  looks for a shared file of that name before uploading again.
- Paced to one message per second per channel (Slack's chat.postMessage tier); 429 waits
  for Retry-After; 5xx and network errors back off; Slack errors are never swallowed: a
  message that cannot be delivered is marked failed and an alert is posted.
- ``not_in_channel`` is not a failure: nothing was posted, and the fix is an invite. The
  message waits (never given up) with every later message of its channel behind it, is
  tried again with backoff, and goes out at once when the bot is seen joining
  (bot/membership.py). Order is kept: first waiting, first posted.
- Text is cut to Slack's limits (bot/slack_text.py) rather than refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import asyncpg
from slack_sdk.errors import SlackApiError

from bot.failpoints import failpoint
from bot.logs import get_logger
from bot.membership import release_waiting
from bot.metrics import OUTBOX_PENDING, OUTBOX_WAITING_FOR_CHANNEL, SLACK_DELIVERIES
from bot.services import Services
from bot.slack_text import SECTION_TEXT, fit, fit_payload
from storage import outbox_keys as keys
from storage.queries import Q

log = get_logger(__name__)

OUTBOX_LOCK_CLASS = 7241  # advisory-lock namespace of outbox rows
HOME_REFRESH_SECONDS = 2.0  # views.publish is Tier 4; a burst of changes becomes one refresh
MAX_ATTEMPTS = 8
# The bot is not a member of the channel: an invite fixes it, so the message waits (never given up).
WAIT_FOR_INVITE = "not_in_channel"
# Slack errors that no retry can fix.
PERMANENT_ERRORS = {
    "channel_not_found", "is_archived", "msg_too_long", "no_text", "invalid_blocks",
    "invalid_metadata_format", "invalid_metadata_schema", "message_not_found", "cant_update_message",
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope", "thread_not_found",
    "restricted_action", "invalid_arguments",
}


def block_id_for(key: str) -> str:
    """A stable block_id naming the outbox message, so a retry can find an earlier delivery."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"cbk-{digest}"


def upload_filename(filename: str, key: str) -> str:
    """The name an upload is shared under: its own name plus the key's digest, so a retry can
    find an earlier upload of the same outbox row in the thread (`chart.png` ->
    `chart-cbk-1a2b3c4d5e6f.png`)."""
    path = PurePosixPath(filename)
    return f"{path.stem}-{block_id_for(key)[:16]}{path.suffix}"


def retry_delay(attempt: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempt, 300))


class OutboxSender:
    def __init__(self, services: Services, refresh_home: Callable[[], Awaitable[int]]):
        """`refresh_home` re-publishes the open Home tabs (given by the composition root)."""
        self.services = services
        self.refresh_home = refresh_home
        self._last_post: dict[str, float] = {}
        self._channel_ids: dict[str, str] = {}
        self._home_dirty = False
        self._home_refreshed = 0.0
        self._home_task: asyncio.Future[int] | None = None
        self._waiting_channels: set[str] = set()

    async def deliver_due(self, limit: int = 50) -> int:
        """Deliver what is due now; return how many messages were handled. Lifecycle changes
        also re-publish the Home tabs that are open (at most every HOME_REFRESH_SECONDS)."""
        handled = await self._deliver_batch(limit)
        if handled:
            self._home_dirty = True
        if self._home_dirty and time.monotonic() - self._home_refreshed >= HOME_REFRESH_SECONDS:
            self._home_dirty = False
            self._home_refreshed = time.monotonic()
            # In the background: Home tabs must not hold up the channel's messages.
            self._home_task = asyncio.ensure_future(self.refresh_home())
        return handled

    async def _deliver_batch(self, limit: int) -> int:
        handled = 0
        self._waiting_channels: set[str] = set()  # refused with not_in_channel in this batch
        async with self.services.pool.acquire() as connection:
            ids = [r["id"] for r in await connection.fetch(Q.outbox_candidates, self.services.clock.now(), limit)]
            for outbox_id in ids:
                if await connection.fetchval(Q.outbox_try_lock, OUTBOX_LOCK_CLASS, outbox_id):
                    try:
                        if await self._deliver(connection, outbox_id):
                            handled += 1
                    finally:
                        await connection.execute(Q.outbox_unlock, OUTBOX_LOCK_CLASS, outbox_id)
            OUTBOX_PENDING.set(await connection.fetchval(Q.outbox_pending_count))
            OUTBOX_WAITING_FOR_CHANNEL.set(await connection.fetchval(Q.outbox_waiting_count))
        return handled

    async def next_due(self) -> datetime | None:
        async with self.services.pool.acquire() as connection:
            return await connection.fetchval(Q.outbox_next_due)

    async def _deliver(self, connection: asyncpg.Connection, outbox_id: int) -> bool:
        row = await connection.fetchrow(Q.outbox_get, outbox_id)
        if row is None or row["state"] != "pending":
            return False  # delivered by another replica between listing and locking
        if row["channel"] in self._waiting_channels:
            return False  # an earlier message of this channel waits for an invite: this one waits behind it
        channel = await self._channel_id(row["channel"])
        payload = dict(row["payload"])
        if row["kind"] != "upload":
            payload["blocks"] = _with_key_block_id(payload.get("blocks") or [], row["idempotency_key"], payload.get("text", ""))
            payload, cut = fit_payload(payload)
            if cut:  # a builder let something too long through: shortened, not refused (and said here)
                log.warning("slack message shortened to fit Slack's limits", key=row["idempotency_key"], cut=cut[:10])
        thread_ts = None
        if row["thread_key"]:
            parent = await connection.fetchrow(Q.outbox_key_ts, row["thread_key"])
            if parent is None or parent["state"] == "failed":
                thread_ts = None  # the parent could not be posted: say it top-level rather than not at all
            elif parent["ts"] is None:
                return False  # the parent is not delivered yet; per-round order will bring it first
            else:
                thread_ts, channel = parent["ts"], parent["posted_channel"]
        target_ts = None
        if row["kind"] == "update":
            target = await connection.fetchrow(Q.outbox_key_ts, row["target_key"])
            if target is None or target["state"] == "failed":
                await connection.execute(Q.outbox_give_up, outbox_id, "the message to update was never posted")
                return True
            if target["ts"] is None:
                return False
            target_ts, channel = target["ts"], target["posted_channel"]

        if row["kind"] in ("post", "upload") and row["attempts"] > 0:
            found = await self._find_earlier_delivery(channel, thread_ts, row)
            if found:
                await connection.execute(Q.outbox_delivered, outbox_id, channel, found, self.services.clock.now())
                log.info("outbox message was already delivered", key=row["idempotency_key"], ts=found)
                await self._reached(connection, row, channel)
                return True

        await self._pace(channel)
        await connection.execute(Q.outbox_attempt_started, outbox_id, self.services.clock.now())
        try:
            if row["kind"] == "upload":
                response = await self.services.slack.files_upload_v2(
                    channel=channel, thread_ts=thread_ts, content=base64.b64decode(payload["content_b64"]),
                    filename=upload_filename(payload["filename"], row["idempotency_key"]), title=payload.get("title"),
                    initial_comment=fit(payload.get("text"), SECTION_TEXT) or None,
                )
                failpoint("after_slack_upload")  # test-only: Slack has the file, the outbox does not know yet
                ts = "file:" + ",".join(f["id"] for f in response.get("files", []))
                posted_channel = channel
                await connection.execute(Q.outbox_delivered, outbox_id, posted_channel, ts, self.services.clock.now())
                SLACK_DELIVERIES.labels("upload", "sent").inc()
                await self._reached(connection, row, channel)
                return True
            if row["kind"] == "update":
                response = await self.services.slack.chat_update(channel=channel, ts=target_ts, **_post_args(payload, None))
                ts = target_ts
            else:
                response = await self.services.slack.chat_postMessage(
                    channel=channel, **_post_args(payload, thread_ts)
                )
                ts = response["ts"]
            posted_channel = response.get("channel", channel)
        except SlackApiError as exc:
            await self._failed(connection, row, exc, channel)
            return True
        except (asyncio.TimeoutError, OSError, Exception) as exc:  # noqa: BLE001 - network errors: retry later
            await self._retry(connection, row, f"{type(exc).__name__}: {exc}")
            return True
        failpoint("after_slack_post")  # test-only: Slack has it, the outbox does not know yet
        await connection.execute(Q.outbox_delivered, outbox_id, posted_channel, ts, self.services.clock.now())
        SLACK_DELIVERIES.labels(row["kind"], "sent").inc()
        await self._reached(connection, row, posted_channel)
        return True

    async def _reached(self, connection: asyncpg.Connection, row: asyncpg.Record, channel: str) -> None:
        """Slack took a message in `channel`: the bot is a member there. If this one had waited for
        an invite, the others of the channel are due now, in order."""
        membership = self.services.membership
        back = membership.set(True) if membership.concerns(channel) else False
        if back or row["waiting_since"] is not None:
            await release_waiting(self.services.pool, self.services.clock.now(), channel)

    async def _wait_for_invite(self, connection: asyncpg.Connection, row: asyncpg.Record, channel: str) -> None:
        now = self.services.clock.now()
        # Slack posted nothing: the attempt is taken back, so neither the give-up count nor the
        # duplicate check counts it.
        await Q.outbox_wait_for_channel.execute(connection, outbox_id=row["id"], now=now, channel=channel, attempts=row["attempts"],
                                                attempt_started_at=row["attempt_started_at"],
                                                error=f"slack: {WAIT_FOR_INVITE} (waiting for an invite)")
        SLACK_DELIVERIES.labels(row["kind"], "waiting").inc()
        if self.services.membership.concerns(channel):
            self.services.membership.set(False)
        log.warning("slack message waits until the bot is invited to the channel", key=row["idempotency_key"],
                    channel=channel, invite=self.services.membership.invite)

    async def _failed(self, connection: asyncpg.Connection, row: asyncpg.Record, exc: SlackApiError, channel: str) -> None:
        error = exc.response.get("error", "unknown_error") if exc.response else "unknown_error"
        status = exc.response.status_code if exc.response is not None else 0
        if error == WAIT_FOR_INVITE:
            self._waiting_channels.add(row["channel"])
            await self._wait_for_invite(connection, row, channel)
            return
        if error in PERMANENT_ERRORS:
            await self._give_up(connection, row, f"slack: {error}")
            return
        retry_after = None
        if status == 429 and exc.response is not None:
            retry_after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
        await self._retry(connection, row, f"slack: {error} (HTTP {status})", retry_after)

    async def _retry(self, connection: asyncpg.Connection, row: asyncpg.Record, error: str, after: float | None = None) -> None:
        delay = timedelta(seconds=after) if after is not None else retry_delay(row["attempts"] + 1)
        if row["attempts"] + 1 >= MAX_ATTEMPTS:
            await self._give_up(connection, row, error)
            return
        await connection.execute(Q.outbox_retry_later, row["id"], self.services.clock.now() + delay, error[:500])
        SLACK_DELIVERIES.labels(row["kind"], "retry").inc()
        log.warning("slack delivery will be retried", key=row["idempotency_key"], error=error, in_seconds=delay.total_seconds())

    async def _give_up(self, connection: asyncpg.Connection, row: asyncpg.Record, error: str) -> None:
        await connection.execute(Q.outbox_give_up, row["id"], error)
        SLACK_DELIVERIES.labels(row["kind"], "failed").inc()
        log.error("slack message could not be delivered", key=row["idempotency_key"], error=error)
        await self._alert_undeliverable(connection, row, error)

    async def _alert_undeliverable(self, connection: asyncpg.Connection, row: asyncpg.Record, error: str) -> None:
        if row["idempotency_key"].startswith(keys.undeliverable("")):
            return  # the alert itself failed: the log line above is all we can do
        text = (f":rotating_light: A campaign-bot message could not be delivered to Slack ({error}). "
                f"Its key is `{row['idempotency_key']}`; `/campaign status` shows the current state.")
        await Q.outbox_enqueue.execute(
            connection, key=keys.undeliverable(row["idempotency_key"]), round_id=None, channel=row["channel"], kind="post",
            thread_key=None, target_key=None, payload={"text": text, "blocks": []}, now=self.services.clock.now())

    async def _find_earlier_delivery(self, channel: str, thread_ts: str | None, row: asyncpg.Record) -> str | None:
        """Look for our block_id (a post) or our file name (an upload) in messages posted since the
        earlier attempt started; the answer is what the outbox records as delivered."""
        started: datetime | None = row["attempt_started_at"]
        # Slack stamps messages with real time; the bot's clock may run ahead of it (the test clock).
        skew = self.services.clock.now() - datetime.now(UTC)
        oldest = f"{(started - skew - timedelta(seconds=5)).timestamp():.6f}" if started else "0"
        wanted = block_id_for(row["idempotency_key"])
        filename = upload_filename(row["payload"]["filename"], row["idempotency_key"]) if row["kind"] == "upload" else None
        try:
            if thread_ts:
                response = await self.services.slack.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest, limit=200)
            else:
                response = await self.services.slack.conversations_history(channel=channel, oldest=oldest, limit=200)
        except SlackApiError as exc:
            log.warning("could not check for an earlier delivery", key=row["idempotency_key"], error=str(exc))
            return None
        for message in response.get("messages", []):
            if filename is not None:
                files = [f for f in message.get("files") or [] if f.get("name") == filename]
                if files:
                    return "file:" + ",".join(f["id"] for f in files)
            elif any(b.get("block_id") == wanted for b in message.get("blocks") or []):
                return message["ts"]
        return None

    async def _pace(self, channel: str) -> None:
        interval = self.services.settings.SLACK_POST_INTERVAL_SECONDS
        last = self._last_post.get(channel)
        now = time.monotonic()
        if last is not None and now - last < interval:
            await asyncio.sleep(interval - (now - last))
        self._last_post[channel] = time.monotonic()

    async def _channel_id(self, channel: str) -> str:
        """Channel names are resolved once to ids (updates and history need ids)."""
        if not channel.startswith("#"):
            return channel
        if channel not in self._channel_ids:
            self._channel_ids[channel] = await resolve_channel(self.services, channel)
        return self._channel_ids[channel]


async def resolve_channel(services: Services, channel: str) -> str:
    name = channel.lstrip("#")
    cursor = None
    while True:
        response = await services.slack.conversations_list(cursor=cursor, limit=1000, types="public_channel,private_channel")
        for item in response.get("channels", []):
            if item.get("name") == name:
                return item["id"]
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return channel  # let chat.postMessage resolve it (or say channel_not_found)


def _with_key_block_id(blocks: list[dict[str, Any]], key: str, text: str) -> list[dict[str, Any]]:
    blocks = [dict(b) for b in blocks] or [{"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT) or " "}}]
    blocks[0]["block_id"] = block_id_for(key)
    return blocks


def _post_args(payload: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {"text": payload.get("text", ""), "blocks": payload.get("blocks")}
    if payload.get("metadata"):
        args["metadata"] = payload["metadata"]
    if thread_ts:
        args["thread_ts"] = thread_ts
        if payload.get("reply_broadcast"):
            args["reply_broadcast"] = True
    return args
