"""`campaign-bot`: run, migrate, check, demo, and `--version`.

Configuration problems stop any command with one line per problem and exit code 2, never
a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import metadata

from bot.config import ConfigurationError, Settings, exit_with_problems, load_settings
from bot.logs import configure_logging


def _settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        exit_with_problems(exc.problems)
        raise  # unreachable: exit_with_problems exits


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    problems = settings.problems_for_run()
    if problems:
        exit_with_problems(problems)
    configure_logging(secrets=settings.secret_values(), log_format=settings.LOG_FORMAT)
    from bot.runtime import run

    return asyncio.run(run(settings))


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings_or_exit()
    configure_logging(secrets=settings.secret_values(), log_format=settings.LOG_FORMAT)
    from contextlib import AsyncExitStack

    from bot.runtime import open_database, run_migrations

    async def migrate() -> list[int]:
        async with AsyncExitStack() as stack:
            return await run_migrations(await open_database(settings, stack))

    applied = asyncio.run(migrate())
    print(f"migrations applied: {', '.join(map(str, applied)) if applied else 'none (up to date)'}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        for line in exc.problems:
            print(f"✗ configuration: {line}")
        return 2
    configure_logging(secrets=settings.secret_values(), log_format=settings.LOG_FORMAT)
    from bot.doctor import run_check

    return asyncio.run(run_check(settings))


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(keep_running=args.keep_running, speed=args.speed))


def package_version() -> str:
    """The version of the installed distribution (pyproject's `version`), as pip sees it."""
    try:
        return metadata.version("campaign-bot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed; run pip install .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="campaign-bot", description="Slack-first multi-round Mailjet campaigns.")
    parser.add_argument("--version", action="version", version=f"campaign-bot {package_version()}",
                        help="print the installed package's version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot: Slack Socket Mode, scheduler, outbox, HTTP").set_defaults(func=cmd_run)
    sub.add_parser("migrate", help="apply database migrations and exit").set_defaults(func=cmd_migrate)
    sub.add_parser("check", help="report configuration and connectivity").set_defaults(func=cmd_check)
    demo = sub.add_parser("demo", help="everything on this machine: embedded Postgres, Slack and Mailjet stand-ins")
    demo.add_argument("--keep-running", action="store_true", help="stay up after the scripted conversation")
    demo.add_argument("--speed", type=float, default=1.0, help="stretch (>1) or shrink (<1) the demo's timeline")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
