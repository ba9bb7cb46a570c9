"""Named SQL queries loaded from `sql/queries/*.sql` (the procrastinate/aiosql habit).

A file holds blocks that start with `-- name: some_query` and run to the next such line.
Python refers to queries by name (`Q.claim_due_stage`); a missing name fails at import,
not at three in the morning.

A wide query declares its parameters in order, `-- params: name, list_id, …` (one per `$n`,
checked at import), and is then called with keywords only: `await Q.campaign_insert.fetchrow(
connection, name=…, …)`; a missing or unknown keyword raises before anything reaches the database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import asyncpg

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_PARAMS_LINE = re.compile(r"^--\s*params:\s*(.+?)\s*$", re.MULTILINE)


class Query:
    """A wide query: its SQL and its parameter names in `$n` order, called with keywords only."""

    def __init__(self, sql: str, name: str, params: tuple[str, ...]):
        highest = max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)
        if len(params) != highest:
            raise ValueError(f"query {name!r} declares {len(params)} params but uses ${highest}")
        self.sql, self.name, self.params = sql, name, params

    def bind(self, **values: Any) -> tuple[Any, ...]:
        if set(values) != set(self.params):
            raise TypeError(f"{self.name} takes {', '.join(self.params)}; missing {sorted(set(self.params) - set(values))}, "
                            f"unknown {sorted(set(values) - set(self.params))}")
        return tuple(values[name] for name in self.params)

    async def fetchrow(self, connection: asyncpg.Connection, **values: Any) -> asyncpg.Record | None:
        return await connection.fetchrow(self.sql, *self.bind(**values))

    async def execute(self, connection: asyncpg.Connection, **values: Any) -> str:
        return await connection.execute(self.sql, *self.bind(**values))


class Queries:
    def __init__(self, directory: Path):
        self._sql: dict[str, Any] = {}
        for path in sorted(directory.glob("*.sql")):
            self._load(path)
        if not self._sql:
            # An install without its SQL files (package-data) must fail at import, not at the first query.
            raise RuntimeError(f"no named queries under {directory}: the installation is incomplete")

    def _load(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        matches = list(_NAME_LINE.finditer(text))
        for index, match in enumerate(matches):
            end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
            body = text[match.end() : end].strip().rstrip(";").strip()
            name = match.group(1)
            if name in self._sql:
                raise ValueError(f"query {name!r} is defined twice (second time in {path.name})")
            declared = _PARAMS_LINE.search(body)
            self._sql[name] = Query(body, name, tuple(p.strip() for p in declared.group(1).split(","))) if declared else body

    def __getattr__(self, name: str) -> Any:  # the SQL text; a `Query` for one that declares its params
        try:
            return self._sql[name]
        except KeyError:
            raise AttributeError(f"no SQL query named {name!r} in sql/queries/") from None

    def names(self) -> list[str]:
        return sorted(self._sql)


Q = Queries(SQL_DIR / "queries")
