"""`campaign-bot check`: what an operator runs before trusting a deployment.

Prints one line per check (configuration, database, Slack auth.test, the bot's membership of
CAMPAIGN_CHANNEL, Mailjet credentials) and exits 0 only when every check passed. A bot that is
not a member of the channel fails the check: it could post nothing there until invited. A line
marked `!` is a warning that does not fail the check (webhook events set aside in the last 7
days). Secrets are never printed.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.membership import Membership, look_up


async def run_check(settings: Settings) -> int:
    ok = True

    def report(passed: bool, line: str) -> None:
        nonlocal ok
        ok = ok and passed
        print(f"{'✓' if passed else '✗'} {line}")

    problems = settings.problems_for_run()
    for problem in problems:
        report(False, f"configuration: {problem}")
    if not problems:
        report(True, f"configuration: complete (send mode {settings.SEND_MODE}, channel {settings.CAMPAIGN_CHANNEL})")

    from bot.clock import clock_from_settings
    from bot.runtime import mailjet_client, open_database, slack_client
    from bot.set_aside import check_line as set_aside_line
    from storage.database import connect

    webhook_line: tuple[bool, str] | None = None

    async with AsyncExitStack() as stack:
        try:
            dsn = await open_database(settings, stack)
            connection = await asyncio.wait_for(connect(dsn), 10)
            version = await connection.fetchval("SHOW server_version")
            try:
                webhook_line = await set_aside_line(connection, clock_from_settings(settings.CAMPAIGN_BOT_TEST_CLOCK_FILE).now())
            except Exception as exc:  # noqa: BLE001 - a warning, not a database failure
                webhook_line = (False, f"mailjet webhook: set-aside events not readable ({type(exc).__name__})")
            await connection.close()
            report(True, f"database: reachable (PostgreSQL {version}{'' if settings.database_url else ', embedded'})")
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            report(False, f"database: not reachable ({type(exc).__name__}: {exc})")
    if webhook_line is not None and (settings.webhook_enabled or not webhook_line[0]):
        print(f"{'✓' if webhook_line[0] else '!'} {webhook_line[1]}")

    if settings.SLACK_BOT_TOKEN is not None:
        try:
            client = slack_client(settings)
            response = await asyncio.wait_for(client.auth_test(), 15)
            report(True, f"slack: auth.test ok (team {response.get('team')}, bot user {response.get('user_id')})")
            state = Membership(configured=settings.CAMPAIGN_CHANNEL, bot_name=response.get("user") or "campaign-bot")
            found = await asyncio.wait_for(look_up(client, settings.CAMPAIGN_CHANNEL), 15)
            state.channel_id, state.name = found.channel_id, found.name
            where = f"{state.label}" + (f" ({found.channel_id})" if found.channel_id else "")
            if found.member:
                report(True, f"slack: the bot is a member of {where}")
            elif found.member is False:
                report(False, f"slack: the bot is not a member of {where}: nothing can be posted there. "
                              f"Type {state.invite} in {state.label}")
            else:
                report(False, f"slack: cannot tell whether the bot is a member of {where} ({found.error})")
        except SlackApiError as exc:
            report(False, f"slack: auth.test failed ({exc.response.get('error', 'no error code')})")
        except Exception as exc:  # noqa: BLE001 - unreachable URL, timeout…
            report(False, f"slack: auth.test failed ({type(exc).__name__}: {exc})")
    if settings.MAILJET_API_KEY is not None and settings.MAILJET_API_SECRET is not None:
        mailjet = mailjet_client(settings)
        try:
            lists = await asyncio.wait_for(mailjet.check_credentials(), 15)
            report(True, f"mailjet: credentials accepted ({lists} contact lists)")
        except Exception as exc:  # noqa: BLE001
            report(False, f"mailjet: {exc}")
        finally:
            mailjet.close()
    return 0 if ok else 1
