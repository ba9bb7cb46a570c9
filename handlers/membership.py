"""Slack tells the bot when it joins or leaves a channel (``member_joined_channel`` /
``member_left_channel``, subscribed in app.manifest.yml; Bolt passes these self events on:
slack_bolt/middleware/ignoring_self_events, ``events_that_should_be_kept``).

Joining the campaign channel releases every outbox message that waited for the invite (they go
out at once, in order, on every replica: the release NOTIFYs the outbox loops); leaving it is
recorded so answers and /readyz say so before the next post is refused.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.logs import get_logger
from bot.membership import release_waiting
from bot.services import Services

log = get_logger(__name__)


def _is_me(services: Services, event: dict[str, Any], context: AsyncBoltContext | None) -> bool:
    me = services.membership.bot_user_id or (context.get("bot_user_id") if context else None)
    return bool(me) and event.get("user") == me


def register_membership(app: AsyncApp, services: Services) -> None:
    @app.event("member_joined_channel")
    async def member_joined_channel(event: dict[str, Any], context: AsyncBoltContext) -> None:
        channel = event.get("channel") or ""
        if not _is_me(services, event, context):
            return  # someone else joined a channel the bot is in: nothing to do
        log.info("the bot was invited to a channel", channel_id=channel, inviter=event.get("inviter"))
        if services.membership.concerns(channel):
            services.membership.set(True)
        # Whichever channel it is, what waited for it can go now.
        await release_waiting(services.pool, services.clock.now(), channel)

    @app.event("member_left_channel")
    async def member_left_channel(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if _is_me(services, event, context) and services.membership.concerns(event.get("channel") or ""):
            services.membership.set(False)
