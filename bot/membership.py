"""Is the bot a member of the campaign channel?

The app has no ``chat:write.public`` and no ``channels:join`` (app.manifest.yml): it posts
only where someone invited it, and cannot invite itself. Not being a member is an operator's
fix (``/invite @campaign-bot``), so the product says it everywhere someone looks: one error
line in the log, `/readyz`'s ``channel`` detail and the ``campaign_bot_slack_channel_member``
gauge, `campaign-bot check`, and an extra line in every `/campaign` answer. The alert cannot
go to the channel itself. Meanwhile the outbox keeps every message Slack refused with
``not_in_channel`` and delivers them, in order, once the bot is back (jobs/outbox.py).

The bot notices that it is back in three ways: Slack's ``member_joined_channel`` event
(handlers/membership.py), a successful post, and `watch`, which asks ``conversations.info``
again with backoff (5 s doubling to 5 min) while the bot is not a member, and every 5 min
while it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import get_logger
from bot.metrics import SLACK_CHANNEL_MEMBER
from storage.queries import Q

log = get_logger(__name__)

RECHECK_FIRST = 5.0
RECHECK_MAX = 300.0


@dataclass
class ChannelLookup:
    """What Slack says about the configured channel."""

    channel_id: str = ""
    name: str = ""
    member: bool | None = None   # None: could not be told (channel not found, Slack unreachable…)
    error: str | None = None


@dataclass
class Membership:
    """The process's view of its membership in CAMPAIGN_CHANNEL (one per process)."""

    configured: str = ""
    channel_id: str = ""
    name: str = ""
    member: bool | None = None
    error: str | None = None
    bot_user_id: str = ""
    bot_name: str = "campaign-bot"
    _wakeup: asyncio.Event | None = field(default=None, repr=False)

    @property
    def channel_ref(self) -> str:
        """How a Slack message names the channel (a link when the id is known)."""
        if self.channel_id:
            return f"<#{self.channel_id}>"
        return self.configured if self.configured.startswith("#") else f"#{self.configured}"

    @property
    def label(self) -> str:
        return f"#{self.name}" if self.name else self.configured

    @property
    def invite(self) -> str:
        return f"/invite @{self.bot_name}"

    def hint(self) -> str | None:
        """The line added to every `/campaign` answer while the bot is not in the channel."""
        if self.member is not False:
            return None
        return (f":warning: campaign-bot is not a member of {self.channel_ref}, so it cannot post there. "
                f"Type `{self.invite}` in {self.channel_ref}. Nothing is lost meanwhile: announcements wait "
                "and are posted in order once it is invited.")

    def detail(self) -> dict[str, Any]:
        """`/readyz`'s ``channel`` object."""
        out: dict[str, Any] = {"configured": self.configured, "id": self.channel_id or None, "member": self.member}
        if self.member is False:
            out["detail"] = f"not a member of {self.label}: type {self.invite} in {self.label}"
        elif self.member is None:
            out["detail"] = f"membership not known yet ({self.error or 'not checked'})"
        return out

    def set(self, member: bool | None, *, error: str | None = None, channel_id: str | None = None) -> bool:
        """Record what was learnt; log a change once. True when the bot has just become a member
        again (the caller then releases what waited, see `release_waiting`)."""
        if channel_id:
            self.channel_id = channel_id
        was = self.member
        self.member, self.error = member, error
        SLACK_CHANNEL_MEMBER.set(1 if member else 0)
        if member is False and was is not False:
            log.error("campaign-bot is not a member of the campaign channel, so nothing can be posted there; "
                      "messages wait in the outbox", channel=self.label, channel_id=self.channel_id,
                      fix=f"type {self.invite} in {self.label}")
        elif member is True and was is False:
            log.info("campaign-bot is a member of the campaign channel again; waiting messages follow in order",
                     channel=self.label, channel_id=self.channel_id)
        if member is not True and self._wakeup is not None:
            self._wakeup.set()  # the watcher re-checks soon
        return member is True and was is False

    def concerns(self, channel_id: str) -> bool:
        return bool(channel_id) and channel_id == self.channel_id


async def look_up(slack: AsyncWebClient, configured: str) -> ChannelLookup:
    """Resolve CAMPAIGN_CHANNEL (``#name`` or an id) and ask whether the bot is in it."""
    try:
        if configured.startswith("#") or not configured[:1].isupper():
            name = configured.lstrip("#")
            cursor = None
            while True:
                page = await slack.conversations_list(cursor=cursor, limit=1000, types="public_channel,private_channel",
                                                      exclude_archived=True)
                for channel in page.get("channels", []):
                    if channel.get("name") == name:
                        return ChannelLookup(channel["id"], name, bool(channel.get("is_member")))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    # A private channel is listed only to its members: not found may mean "not invited".
                    return ChannelLookup("", name, None, "channel_not_found (a private channel must invite the bot first)")
        info = (await slack.conversations_info(channel=configured))["channel"]
        return ChannelLookup(info["id"], info.get("name", ""), bool(info.get("is_member")))
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error") if exc.response is not None else "unknown_error"
        return ChannelLookup("", configured.lstrip("#"), None, error)
    except Exception as exc:  # noqa: BLE001 - Slack unreachable: membership unknown, not "not a member"
        return ChannelLookup("", configured.lstrip("#"), None, f"{type(exc).__name__}: {exc}")


async def refresh(membership: Membership, slack: AsyncWebClient) -> bool:
    """Ask Slack again; True when the bot has just become a member again."""
    found = await look_up(slack, membership.channel_id or membership.configured)
    if found.name:
        membership.name = found.name
    return membership.set(found.member, error=found.error, channel_id=found.channel_id or None)


async def watch(membership: Membership, slack: AsyncWebClient, on_joined: Any) -> None:
    """Re-check membership forever: with backoff while the bot is not a member (or it is not
    known), every RECHECK_MAX seconds while it is. `on_joined(channel_id)` runs when it is back."""
    membership._wakeup = asyncio.Event()
    delay = RECHECK_FIRST
    while True:
        wait = delay if membership.member is not True else RECHECK_MAX
        try:
            await asyncio.wait_for(membership._wakeup.wait(), wait)
            membership._wakeup.clear()
            delay = RECHECK_FIRST  # a fresh refusal: start the backoff again
            continue
        except TimeoutError:
            pass
        try:
            if await refresh(membership, slack):
                await on_joined(membership.channel_id)
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive a database or Slack hiccup
            log.warning("could not re-check the channel membership", error=f"{type(exc).__name__}: {exc}")
        delay = RECHECK_FIRST if membership.member is True else min(delay * 2, RECHECK_MAX)


async def release_waiting(pool: Any, now: Any, channel_id: str) -> int:
    """Make every message that waits for `channel_id` due now, and wake every replica's outbox."""
    async with pool.acquire() as connection:
        row = await connection.fetchrow(Q.outbox_release_channel, channel_id, now)
    if row["released"]:
        log.info("messages that waited for the channel are due now", channel_id=channel_id, count=row["released"])
    return int(row["released"])
