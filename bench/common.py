"""What the benchmarks share: where their database server comes from, and a text table."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.database import EmbeddedPostgres, local_postgres_answers

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_server() -> Iterator[str]:
    """DATABASE_URL, else the machine's server on 127.0.0.1:5432, else an embedded server for
    this run (as the tests do); yields a DSN where the bench may create its own database."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    if local_postgres_answers():
        yield LOCAL_PG
        return
    print("· no DATABASE_URL and nothing on 127.0.0.1:5432: starting an embedded PostgreSQL …", flush=True)
    pg_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    embedded = EmbeddedPostgres(pg_dir / "pgdata", delete_on_close=True)
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


def text_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    aligned = ["<"] + [">"] * (len(header) - 1)

    def line(cells: list[str]) -> str:
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(cells, aligned, widths, strict=True)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])
