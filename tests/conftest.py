"""Shared fixtures: a real Postgres (a fresh database per test), the Slack and Mailjet
stand-ins on loopback, and a way to start the real entry point (`campaign-bot run`).

The suite by kind: tests/unit (pure: no database, no network), tests/db (in-process against a
real Postgres), tests/contract (the real Slack and Mailjet clients against the stand-ins),
tests/e2e (through `campaign-bot run`, marked slow); helpers in tests/support.

Postgres: DATABASE_URL if set; else the machine's server on 127.0.0.1:5432 if it answers;
else an embedded server for the session. Each test that needs a database gets its own,
created and dropped here, so runs never collide.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.clock import FileOffsetClock
from standins.mailjet import MailjetStandin
from standins.slack import SlackStandin
from standins.tls import local_tls
from storage.database import create_pool
from tests.support.harness import MAILJET_KEY, MAILJET_SECRET, BotProcess
from tests.support.postgres import postgres_server, scratch_database


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """A DSN of a server where tests may create databases."""
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
async def database(server_dsn: str) -> AsyncIterator[str]:
    """A fresh, migrated database; its DSN."""
    async with scratch_database(server_dsn, "cbt") as dsn:
        yield dsn


@pytest.fixture
async def empty_database(server_dsn: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all."""
    async with scratch_database(server_dsn, "cbt", migrated=False) as dsn:
        yield dsn


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandin]:
    standin = SlackStandin()
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    """The test clock's offset file, shared by the bot processes and the Mailjet stand-in."""
    return tmp_path / "clock-offset"


@pytest.fixture(scope="session")
def mailjet_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ssl.SSLContext]:
    """The Mailjet stand-in speaks HTTPS, as Mailjet does: mailjet-rest's retries are live only
    on https. Every requests client of the session (the bots under test inherit the
    environment) trusts the throwaway CA through REQUESTS_CA_BUNDLE."""
    context, ca_path = local_tls(tmp_path_factory.mktemp("tls"))
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_path)
    yield context
    if before is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = before


@pytest.fixture
async def mailjet(clock_file: Path, mailjet_tls: ssl.SSLContext) -> AsyncIterator[MailjetStandin]:
    # The stand-in stamps sends with the same (movable) clock as the bot, so "never early"
    # compares like with like.
    standin = MailjetStandin(api_key=MAILJET_KEY, api_secret=MAILJET_SECRET, clock=FileOffsetClock(str(clock_file)))
    await standin.start(ssl_context=mailjet_tls)
    yield standin
    await standin.stop()


@pytest.fixture
async def bot_factory(database: str, slack: SlackStandin, mailjet: MailjetStandin, tmp_path: Path,
                      clock_file: Path) -> AsyncIterator[BotProcess.Factory]:
    """Start `campaign-bot run` subprocesses against the stand-ins and the test database."""
    processes: list[BotProcess] = []

    async def start(**env: str) -> BotProcess:
        process = BotProcess(database=database, slack=slack, mailjet=mailjet, workdir=tmp_path,
                             clock_file=clock_file, extra_env=env, index=len(processes))
        processes.append(process)
        await process.start()
        return process

    yield start
    await asyncio.gather(*(p.kill() for p in processes))
