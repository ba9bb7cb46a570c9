"""`campaign-bot run`: every part in one process, started in order and stopped gracefully.

Start: configuration → database (DATABASE_URL or embedded) → migrations → the one pool →
Slack (Bolt in Socket Mode) → HTTP (health, readiness, metrics) → the scheduler.
SIGTERM/SIGINT: stop claiming work, let a running step finish (bounded by
SHUTDOWN_GRACE_SECONDS), close the socket, the HTTP server and the pool, exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from contextlib import AsyncExitStack
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import build_app
from bot.clock import clock_from_settings
from bot.config import Settings
from bot.http import build_http_app, start_http
from bot.logs import get_logger
from bot.mailjet import Mailjet
from bot import membership
from bot.roles import Roles
from bot.services import Services
from bot.webhook import webhook_route
from handlers.home import refresh_recent_viewers
from jobs.engine import Engine
from jobs.outbox import OutboxSender
from jobs.planning import Planner
from jobs.registry import EXECUTORS
from jobs.rehearsal import after_stage as rehearsal_after_stage
from jobs.scheduler import Scheduler
from jobs.summary import WeeklySummaryJob
from storage.database import EmbeddedPostgres, connect, create_pool
from storage.migrations import migrate
from storage.queries import Q

log = get_logger(__name__)


def slack_client(settings: Settings, *, retry_server_errors: bool = False) -> AsyncWebClient:
    """The Slack Web API client.

    429s are always retried (Slack did not process the call). The outbox's client retries
    nothing else: a connection error or a 5xx may still have posted the message, and the
    outbox retries those itself after looking for an earlier delivery, so nothing is posted
    twice. The Bolt app's client (ephemeral replies, views, users.info) also retries server
    and connection errors, where a repeat is harmless.
    """
    assert settings.SLACK_BOT_TOKEN is not None
    handlers: list[Any] = [AsyncRateLimitErrorRetryHandler(max_retry_count=3)]
    if retry_server_errors:
        handlers += [AsyncServerErrorRetryHandler(max_retry_count=2), AsyncConnectionErrorRetryHandler(max_retry_count=2)]
    return AsyncWebClient(token=settings.SLACK_BOT_TOKEN.get_secret_value(), base_url=settings.SLACK_API_URL,
                          retry_handlers=handlers)


def mailjet_client(settings: Settings) -> Mailjet:
    assert settings.MAILJET_API_KEY is not None and settings.MAILJET_API_SECRET is not None
    return Mailjet(settings.MAILJET_API_KEY.get_secret_value(), settings.MAILJET_API_SECRET.get_secret_value(),
                   settings.MAILJET_API_URL, timeout=settings.MAILJET_TIMEOUT_SECONDS,
                   max_concurrent=settings.MAILJET_MAX_CONCURRENT,
                   max_per_second=settings.MAILJET_MAX_REQUESTS_PER_SECOND)


def pool_size(settings: Settings) -> int:
    """Connections of the one pool: one per concurrent stage (held for its whole run), plus 10
    for the rest: a stage's short second connection (the launch's send claim), planning (two),
    the outbox, commands and clicks, readiness. A stage waiting for its second connection
    therefore always gets one soon: it never waits on another stage's held connection."""
    return settings.STAGE_CONCURRENCY + 10


async def open_database(settings: Settings, stack: AsyncExitStack) -> str:
    """The DSN to use: DATABASE_URL, or an embedded server stopped when the stack closes."""
    if settings.database_url:
        return settings.database_url
    embedded = EmbeddedPostgres()
    dsn = await asyncio.to_thread(embedded.start)
    stack.callback(embedded.stop)
    return dsn


async def run_migrations(dsn: str) -> list[int]:
    connection = await connect(dsn)
    try:
        return await migrate(connection)
    finally:
        await connection.close()


async def _watch_socket(handler: AsyncSocketModeHandler, services: Services) -> None:
    while True:
        try:
            services.health.socket = bool(await handler.client.is_connected())
        except Exception:  # noqa: BLE001 - a broken client is "not connected"
            services.health.socket = False
        await asyncio.sleep(0.5)


async def run(settings: Settings) -> int:
    instance_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with AsyncExitStack() as stack:
        dsn = await open_database(settings, stack)
        applied = await run_migrations(dsn)
        log.info("database ready", migrations_applied=applied)
        pool = await create_pool(dsn, max_size=pool_size(settings))
        stack.push_async_callback(pool.close)
        mailjet = mailjet_client(settings)
        stack.callback(mailjet.close)
        services = Services(
            settings=settings, pool=pool, clock=clock_from_settings(settings.CAMPAIGN_BOT_TEST_CLOCK_FILE),
            mailjet=mailjet, slack=slack_client(settings),
            roles=Roles(settings.SLACK_ADMINS, settings.SLACK_APPROVERS, settings.SLACK_OPERATORS),
            instance_id=instance_id,
        )
        services.health.database = True

        # HTTP first: during start-up /healthz answers and /readyz says what is not ready yet.
        http_runner = await start_http(build_http_app(services, [webhook_route(services)]), settings.PORT)
        stack.push_async_callback(http_runner.cleanup)
        app = build_app(services, slack_client(settings, retry_server_errors=True))
        assert settings.SLACK_APP_TOKEN is not None
        socket_handler = AsyncSocketModeHandler(app, settings.SLACK_APP_TOKEN.get_secret_value())
        await socket_handler.connect_async()
        watcher = asyncio.ensure_future(_watch_socket(socket_handler, services))

        # Before the outbox starts: is the bot in CAMPAIGN_CHANNEL? If not, one error line now, and
        # /readyz, check and every command answer say so until it is invited (bot/membership.py).
        await _check_membership(services)
        member_watch = asyncio.ensure_future(membership.watch(
            services.membership, services.slack,
            lambda channel_id: membership.release_waiting(pool, services.clock.now(), channel_id)))

        engine = Engine(services, EXECUTORS, after_stage=rehearsal_after_stage)
        planner = Planner(services)
        sender = OutboxSender(services, refresh_home=lambda: refresh_recent_viewers(services))
        scheduler = Scheduler(
            services,
            planning=(planner.run_one, planner.next_due),
            stages=(engine.run_one, _next_stage_due(services)),
            outbox=(lambda: _deliver_some(sender), sender.next_due),
            summary=_weekly_summary(services),
            stage_concurrency=settings.STAGE_CONCURRENCY,
        )
        engine.on_claim = scheduler.stages.claimed
        await scheduler.start(dsn)
        log.info("campaign-bot running", instance=instance_id, port=settings.PORT, send_mode=settings.SEND_MODE,
                 channel=settings.CAMPAIGN_CHANNEL, channel_member=services.membership.member)

        await stop.wait()
        log.info("shutting down: no new work is claimed", grace_seconds=settings.SHUTDOWN_GRACE_SECONDS)
        await scheduler.stop(settings.SHUTDOWN_GRACE_SECONDS)
        watcher.cancel()
        member_watch.cancel()
        await socket_handler.close_async()
    log.info("stopped cleanly")
    return 0


def _weekly_summary(services: Services) -> tuple[Any, Any] | None:
    slot = services.settings.weekly_summary
    if slot is None:
        return None
    job = WeeklySummaryJob(services, slot)
    return job.run_one, job.next_due


def _next_stage_due(services: Services) -> Any:
    async def next_due() -> Any:
        async with services.pool.acquire() as connection:
            return await connection.fetchval(Q.next_due_instant)

    return next_due


async def _deliver_some(sender: OutboxSender) -> bool:
    return await sender.deliver_due() > 0


async def _check_membership(services: Services) -> None:
    """Who the bot is (auth.test) and whether it is in CAMPAIGN_CHANNEL. Failures are logged:
    the watcher asks again, and posting reports a wrong channel loudly."""
    state = services.membership
    state.configured = services.settings.CAMPAIGN_CHANNEL
    try:
        me = await services.slack.auth_test()
        state.bot_user_id, state.bot_name = me.get("user_id") or "", me.get("user") or state.bot_name
    except Exception as exc:  # noqa: BLE001
        log.warning("could not ask Slack who the bot is (auth.test)", error=str(exc))
    await membership.refresh(state, services.slack)
    if state.member is None:
        log.warning("could not tell whether the bot is a member of the campaign channel yet",
                    channel=state.configured, error=state.error)
    services.channel_id = state.channel_id or services.settings.CAMPAIGN_CHANNEL
