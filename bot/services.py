"""The process's shared parts, built once at start-up and handed to handlers and jobs.

One pool, one clock, one Mailjet door, one Slack client: nothing else constructs its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import asyncpg
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.config import Settings
from bot.mailjet import Mailjet
from bot.membership import Membership
from bot.roles import Roles


@dataclass
class Health:
    """What /readyz reports; each part sets its own flag."""

    database: bool = False
    socket: bool = False
    scheduler: bool = False

    def ready(self) -> bool:
        return self.database and self.socket and self.scheduler


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    clock: Clock
    mailjet: Mailjet
    slack: AsyncWebClient
    roles: Roles
    instance_id: str
    channel_id: str = ""          # resolved from CAMPAIGN_CHANNEL at start-up
    health: Health = field(default_factory=Health)
    membership: Membership = field(default_factory=Membership)  # is the bot in CAMPAIGN_CHANNEL?

    @property
    def default_zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.DEFAULT_TIMEZONE)

    @property
    def dry_run(self) -> bool:
        return self.settings.SEND_MODE != "live"
