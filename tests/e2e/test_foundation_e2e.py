"""The foundation through the real entry point: start-up, Socket Mode commands, readiness,
graceful shutdown, concurrent migrations, configuration errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import aiohttp
import asyncpg
import pytest

from bot.messages.common import slack_escape
from tests.support.harness import CAMPAIGN_BOT, OPERATOR, BotProcess, base_env

pytestmark = pytest.mark.slow


async def test_help_and_malformed_command_are_acked_with_ephemeral_replies_then_clean_exit(bot_factory, slack):
    bot: BotProcess = await bot_factory()

    help_envelope = await slack.send_slash_command("help", user_id=OPERATOR)
    bad_envelope = await slack.send_slash_command("reschedule \"Unclosed name 2", user_id=OPERATOR)
    help_ack = await slack.wait_ack(help_envelope, timeout=3)
    bad_ack = await slack.wait_ack(bad_envelope, timeout=3)
    assert help_ack["latency"] < 3 and bad_ack["latency"] < 3

    help_text = help_ack["payload"]["text"]
    for usage in ("/campaign status <name>", "/campaign new <name> list=<id>", "/campaign freeze [reason…]",
                  "/campaign reschedule <name> <round> <ISO datetime>", "/campaign log <name>"):
        assert slack_escape(usage) in help_text  # <name> is escaped, or Slack would read it as a link
    bad_text = bad_ack["payload"]["text"]
    assert "quote" in bad_text and "is not closed" in bad_text and "Usage" not in bad_text.split("\n")[0]

    unknown = await slack.send_slash_command("launch-now everything", user_id=OPERATOR)
    unknown_ack = await slack.wait_ack(unknown, timeout=3)
    assert "`launch-now` is not a /campaign subcommand" in unknown_ack["payload"]["text"]
    assert "/campaign help" in unknown_ack["payload"]["text"]  # the usage is shown with the error

    # Nothing was posted to the channel: these replies are ephemeral.
    assert slack.channel_messages() == []

    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{bot.port}/healthz") as response:
            assert response.status == 200
        async with session.get(f"http://127.0.0.1:{bot.port}/metrics") as response:
            body = await response.text()
            assert response.status == 200
            assert 'campaign_bot_commands_total{outcome="ok",subcommand="help"} 1.0' in body

    started = time.monotonic()
    code = await bot.terminate(timeout=10)
    assert code == 0
    assert time.monotonic() - started < 10
    assert "stopped cleanly" in bot.logs()


async def test_readyz_is_503_until_socket_connects(bot_factory, slack):
    bot = await bot_factory()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{bot.port}/readyz") as response:
            assert response.status == 200
            assert await response.json() == {"ready": True, "database": True, "socket": True, "scheduler": True,
                                             "channel": {"configured": "#_traction", "id": "C0TRACTION", "member": True,
                                                         "waiting_messages": 0}}
        # The connection drops and Slack refuses new ones for a while: readiness says so.
        slack.fail_next("apps.connections.open", status=503, times=1000)
        await slack.drop_connections()
        deadline = time.monotonic() + 5
        seen_503 = False
        while time.monotonic() < deadline and not seen_503:
            async with session.get(f"http://127.0.0.1:{bot.port}/readyz") as response:
                seen_503 = response.status == 503
            await asyncio.sleep(0.05)
        assert seen_503
        # Slack comes back: the bot reconnects by itself and is ready again.
        slack.clear_faults("apps.connections.open")
        await bot.wait_ready(timeout=30)


async def test_token_never_reaches_the_log(bot_factory, slack):
    bot = await bot_factory()
    envelope = await slack.send_slash_command(f"status {slack.bot_token}", user_id=OPERATOR)
    await slack.wait_ack(envelope)
    await slack.wait_for(lambda: slack.responses, timeout=5)
    await bot.terminate()
    logs = bot.logs()
    assert logs, "the bot wrote no log at all"
    for secret in (slack.bot_token, slack.app_token, bot.env["MAILJET_API_SECRET"]):
        assert secret not in logs


async def test_two_processes_on_an_empty_database_migrate_once(empty_database, slack, mailjet, tmp_path):
    bots = [
        BotProcess(database=empty_database, slack=slack, mailjet=mailjet, workdir=tmp_path,
                   clock_file=tmp_path / "clock", extra_env={}, index=index)
        for index in range(2)
    ]
    try:
        await asyncio.gather(*(b.start() for b in bots))
        connection = await asyncpg.connect(empty_database)
        rows = await connection.fetch("SELECT version FROM schema_migrations ORDER BY version")
        await connection.close()
        versions = [r["version"] for r in rows]
        assert versions == sorted(set(versions)) and versions[0] == 1
        applied_lines = sum(b.logs().count('"migration applied"') for b in bots)
        assert applied_lines == len(versions)  # each migration applied by exactly one of the two
    finally:
        await asyncio.gather(*(b.kill() for b in bots))


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"SLACK_APP_TOKEN": None}, "SLACK_APP_TOKEN"),
        ({"DATABASE_URL": "mysql://nope"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://host:notaport/db"}, "DATABASE_URL"),
        ({"MAILJET_WEBHOOK_USER": "mailjet"}, "MAILJET_WEBHOOK_USER"),
    ],
)
async def test_bad_configuration_stops_with_one_line_and_exit_2(change, variable, slack, mailjet):
    env = base_env(database="postgresql://postgres@127.0.0.1:5432/postgres", slack=slack, mailjet=mailjet)
    for key, value in change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = await asyncio.to_thread(
        subprocess.run, [CAMPAIGN_BOT, "run"], env=env, capture_output=True, text=True, timeout=30,
        cwd=os.path.dirname(CAMPAIGN_BOT),
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


async def test_check_reports_each_dependency_and_never_prints_secrets(slack, mailjet, database):
    env = base_env(database=database, slack=slack, mailjet=mailjet)
    result = await asyncio.to_thread(subprocess.run, [CAMPAIGN_BOT, "check"], env=env, capture_output=True, text=True,
                                     timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("✓ configuration") for line in lines)
    assert any(line.startswith("✓ database: reachable") for line in lines)
    assert any(line.startswith("✓ slack: auth.test ok") for line in lines)
    assert any(line.startswith("✓ mailjet: credentials accepted") for line in lines)
    env["MAILJET_API_SECRET"] = "wrong-secret-value"
    env["SLACK_BOT_TOKEN"] = "xoxb-not-the-right-one"
    result = await asyncio.to_thread(subprocess.run, [CAMPAIGN_BOT, "check"], env=env, capture_output=True, text=True,
                                     timeout=60)
    assert result.returncode == 1
    assert "✗ mailjet" in result.stdout and "✗ slack: auth.test failed (invalid_auth)" in result.stdout
    for secret in ("wrong-secret-value", "xoxb-not-the-right-one", slack.app_token):
        assert secret not in result.stdout + result.stderr


async def test_migrate_applies_then_reports_up_to_date(empty_database, slack, mailjet):
    env = base_env(database=empty_database, slack=slack, mailjet=mailjet)
    first = await asyncio.to_thread(subprocess.run, [CAMPAIGN_BOT, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    second = await asyncio.to_thread(subprocess.run, [CAMPAIGN_BOT, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == second.returncode == 0
    assert first.stdout.startswith("migrations applied: 1, 2")
    assert second.stdout.strip() == "migrations applied: none (up to date)"
