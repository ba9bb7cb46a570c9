"""The one source of "now". Every instant is timezone-aware (UTC inside, shown in zones outside).

Nothing calls datetime.now() or Postgres now() for a decision: SQL receives the instant
from here as a parameter, so tests can move time without sleeping and a jumping clock
is exercised through the real entry point.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def is_test_clock(self) -> bool:
        return False


class FileOffsetClock(Clock):
    """Test-only: the real clock plus an offset in seconds read from a file.

    A test writes a new offset to move time forward (or back) in a running process. The file
    is re-read at most every 50 ms; a missing or empty file means no offset.
    """

    def __init__(self, path: str):
        self.path = path
        self._offset = 0.0
        self._read_at = 0.0

    def _current_offset(self) -> float:
        monotonic = time.monotonic()
        if monotonic - self._read_at > 0.05:
            self._read_at = monotonic
            try:
                with open(self.path, encoding="utf-8") as handle:
                    text = handle.read().strip()
                self._offset = float(text) if text else 0.0
            except FileNotFoundError:
                self._offset = 0.0
            except ValueError:
                pass  # a half-written file: keep the last good offset
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._current_offset())

    @property
    def is_test_clock(self) -> bool:
        return True


class FixedClock(Clock):
    """For unit tests: time stands still until moved."""

    def __init__(self, instant: datetime):
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.instant = instant

    def now(self) -> datetime:
        return self.instant

    @property
    def is_test_clock(self) -> bool:
        return True


def clock_from_settings(test_clock_file: str | None) -> Clock:
    return FileOffsetClock(test_clock_file) if test_clock_file else Clock()


def write_test_clock_offset(path: str | os.PathLike[str], seconds: float) -> None:
    """Used by tests: atomically replace the offset file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(f"{seconds}\n")
    os.replace(tmp, path)
