"""Rates, with one definition each (PRODUCT.md section 6), from Mailjet statcounters.

processed = delivered + hard + soft (the messages Mailjet attempted); Mailjet's "sent"
(MessageSentCount) means accepted by the receiving server, i.e. delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Counts:
    recipients: int
    delivered: int
    hard: int
    soft: int
    blocked: int
    queued: int
    deferred: int
    opened: int
    clicked: int
    spam: int
    unsub: int

    @classmethod
    def from_statcounters(cls, row: dict[str, Any]) -> Counts:
        def n(key: str) -> int:
            return int(row.get(key) or 0)

        return cls(
            recipients=n("Total"), delivered=n("MessageSentCount"), hard=n("MessageHardBouncedCount"),
            soft=n("MessageSoftBouncedCount"), blocked=n("MessageBlockedCount"), queued=n("MessageQueuedCount"),
            deferred=n("MessageDeferredCount"), opened=n("MessageOpenedCount"), clicked=n("MessageClickedCount"),
            spam=n("MessageSpamCount"), unsub=n("MessageUnsubscribedCount"),
        )

    @property
    def processed(self) -> int:
        return self.delivered + self.hard + self.soft

    @property
    def bounce_rate(self) -> float | None:
        return (self.hard + self.soft) / self.processed if self.processed else None
