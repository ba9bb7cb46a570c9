"""The App Home tab: published when a user opens it, and kept current for recent viewers.

`publish_home` reads a few bounded queries (sql/queries/home.sql), asks Slack for the user's
time zone and publishes the view built by bot/messages/home.py. Its buttons are handled by
handlers/actions.py, which re-checks role and state on every click.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncApp

from bot.logs import get_logger
from bot.messages.home import ALERTS_SINCE, MAX_ALERTS, MAX_APPROVALS, MAX_CAMPAIGNS, HomeData, home_view
from bot.services import Services
from storage.queries import Q

log = get_logger(__name__)

ZONE_CACHE_SECONDS = 3600.0


async def load_home(services: Services, now: datetime) -> HomeData:
    async with services.pool.acquire() as connection:
        campaigns = await connection.fetch(Q.home_campaigns, MAX_CAMPAIGNS)
        ids = [c["id"] for c in campaigns]
        round_rows = await connection.fetch(Q.home_rounds, ids) if ids else []
        approvals = await connection.fetch(Q.home_pending_approvals, now, MAX_APPROVALS)
        alerts = await connection.fetch(Q.home_recent_alerts, now - ALERTS_SINCE, MAX_ALERTS * 3)
        frozen = await connection.fetchrow(Q.freeze_state)
    rounds: dict[int, list[Any]] = {}
    for r in round_rows:
        rounds.setdefault(r["campaign_id"], []).append(r)
    return HomeData(
        campaigns=campaigns, rounds=rounds, approvals=approvals, alerts=alerts, frozen=frozen, now=now,
        campaigns_total=campaigns[0]["total"] if campaigns else 0,
        approvals_total=approvals[0]["total"] if approvals else 0,
    )


_zone_cache: dict[str, tuple[float, str]] = {}  # user -> (valid until, zone)
ZONE_RETRY_SECONDS = 300.0


async def user_zone(services: Services, user_id: str) -> str:
    """The user's Slack time zone (users.info `tz`, which needs the users:read scope), else
    DEFAULT_TIMEZONE. Cached for an hour; a failed look-up is retried after five minutes."""
    cached = _zone_cache.get(user_id)
    if cached and time.monotonic() < cached[0]:
        return cached[1]
    zone = services.settings.DEFAULT_TIMEZONE
    ttl = ZONE_CACHE_SECONDS
    try:
        info = await services.slack.users_info(user=user_id)
        candidate = (info.get("user") or {}).get("tz")
        if candidate:
            ZoneInfo(candidate)  # refuse what zoneinfo cannot read
            zone = candidate
    except Exception as exc:  # noqa: BLE001 - the default zone is a fine answer; the log says why
        log.warning("could not read the user's time zone; using the default", user=user_id, error=str(exc))
        ttl = ZONE_RETRY_SECONDS
    _zone_cache[user_id] = (time.monotonic() + ttl, zone)
    return zone


async def publish_home(services: Services, user_id: str, *, notice: str | None = None) -> bool:
    """Build and publish `user_id`'s Home tab. Never raises: a failure is logged and False returned,
    so callers (a click, an event) are not failed by a Home refresh."""
    try:
        zone = await user_zone(services, user_id)
        data = await load_home(services, services.clock.now())
        view = home_view(data, zone=zone, role=services.roles.role_of(user_id), notice=notice)
        await services.slack.views_publish(user_id=user_id, view=view)
        return True
    except Exception:  # noqa: BLE001 - logged with the traceback; the tab keeps its previous content
        log.exception("could not publish the Home tab", user=user_id)
        return False


def register_home(app: AsyncApp, services: Services) -> None:
    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any]) -> None:
        # Events are acked by Bolt before this runs. The Messages and About tabs fire it too.
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        async with services.pool.acquire() as connection:
            await connection.execute(Q.home_viewer_seen, event["user"], services.clock.now())
        await publish_home(services, event["user"])


# Tabs opened within this long are kept current after state changes.
RECENT_VIEWERS = timedelta(days=1)


async def refresh_recent_viewers(services: Services) -> int:
    """Re-publish the Home tab of everyone who opened it lately; returns how many."""
    async with services.pool.acquire() as connection:
        users = [r["user_id"] for r in await connection.fetch(Q.home_recent_viewers, services.clock.now() - RECENT_VIEWERS)]
    for user_id in users:
        await publish_home(services, user_id)
    return len(users)
