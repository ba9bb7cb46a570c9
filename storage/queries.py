"""Named SQL queries loaded from `sql/queries/*.sql` (the procrastinate/aiosql habit).

A file holds blocks that start with `-- name: some_query` and run to the next such line.
Python refers to queries by name (`Q.claim_due_stage`); a missing name fails at import,
not at three in the morning.
"""

from __future__ import annotations

import re
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class Queries:
    def __init__(self, directory: Path):
        self._sql: dict[str, str] = {}
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
            self._sql[name] = body

    def __getattr__(self, name: str) -> str:
        try:
            return self._sql[name]
        except KeyError:
            raise AttributeError(f"no SQL query named {name!r} in sql/queries/") from None

    def names(self) -> list[str]:
        return sorted(self._sql)


Q = Queries(SQL_DIR / "queries")
