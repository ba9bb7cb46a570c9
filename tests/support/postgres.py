"""Servers and throwaway databases for tests and benchmarks (never the product's: it uses
DATABASE_URL or its embedded fallback, storage/database.py)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg

from storage.database import EmbeddedPostgres, connect
from storage.migrations import migrate

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def local_postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    """Is the machine's PostgreSQL listening (tests and benchmarks use it when it is)?"""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def with_database(dsn: str, name: str) -> str:
    """The same server, another database."""
    return urlunparse(urlparse(dsn)._replace(path=f"/{name}"))


@contextmanager
def postgres_server() -> Iterator[str]:
    """A server where a test or a benchmark may create its own databases: DATABASE_URL, else
    the machine's PostgreSQL on 127.0.0.1:5432, else an embedded one for as long as the block."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    if local_postgres_answers():
        yield LOCAL_PG
        return
    directory = Path(tempfile.mkdtemp(prefix="campaign-bot-pg-"))
    embedded = EmbeddedPostgres(directory / "pgdata", delete_on_close=True)
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def create_database(server_dsn: str, prefix: str, *, migrated: bool = True) -> tuple[str, str]:
    """A new database with a unique name (migrated unless told otherwise); its name and DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = with_database(server_dsn, name)
    if migrated:
        connection = await connect(dsn)
        try:
            await migrate(connection)
        finally:
            await connection.close()
    return name, dsn


async def drop_database(server_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def scratch_database(server_dsn: str, prefix: str, *, migrated: bool = True) -> AsyncIterator[str]:
    """A database that exists for the block only; its DSN."""
    name, dsn = await create_database(server_dsn, prefix, migrated=migrated)
    try:
        yield dsn
    finally:
        await drop_database(server_dsn, name)
