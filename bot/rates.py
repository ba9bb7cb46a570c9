"""Rates, with one definition each ("one definition, shown in every report"), from Mailjet statcounters.

recipients = Total; delivered = MessageSentCount (Mailjet's "sent" means accepted by the
receiving server); hard, soft = MessageHardBouncedCount, MessageSoftBouncedCount; blocked =
MessageBlockedCount (never attempted, not a bounce); queued and deferred are not final yet.

processed = delivered + hard + soft (the messages Mailjet attempted).

    delivery = delivered / processed        open  = unique opened  / delivered
    bounce   = (hard + soft) / processed    click = unique clicked / delivered
    hard     = hard / processed             unsub = unsubscribed   / delivered
    blocked  = blocked / recipients         spam  = spam complaints / delivered

Every rate is a `Rate` (numerator and denominator kept), whose value is None when its
denominator is 0: a missing rate is shown as "—", never as 0%. Verdicts and deltas use the
exact fractions; only display rounds (one decimal).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

MISSING = "—"

# Verdict thresholds ("healthy if bounce ≤ 2% and delivery ≥ 95%; warning if bounce ≤ 5% and
# delivery ≥ 90%; otherwise critical"), exact fractions.
HEALTHY_MAX_BOUNCE = Fraction(2, 100)
HEALTHY_MIN_DELIVERY = Fraction(95, 100)
WARNING_MAX_BOUNCE = Fraction(5, 100)
WARNING_MIN_DELIVERY = Fraction(90, 100)

# Every rate, in display order: key -> (label, denominator label).
RATE_NAMES: tuple[str, ...] = ("delivery", "bounce", "hard", "blocked", "open", "click", "unsub", "spam")
RATE_LABELS: dict[str, str] = {
    "delivery": "Delivery", "bounce": "Bounce", "hard": "Hard bounce", "blocked": "Blocked",
    "open": "Open", "click": "Click", "unsub": "Unsubscribe", "spam": "Spam complaint",
}


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
    def bounced(self) -> int:
        """Hard plus soft bounces (blocked is not a bounce)."""
        return self.hard + self.soft

    @property
    def bounce_rate(self) -> float | None:
        return (self.hard + self.soft) / self.processed if self.processed else None

    @property
    def still_moving(self) -> bool:
        """Queued or deferred messages remain: the numbers are not final yet."""
        return self.queued > 0 or self.deferred > 0

    def inconsistencies(self) -> list[str]:
        """Relations real Mailjet numbers cannot break; each one broken, in words (shown, never corrected)."""
        found = []
        for name in ("recipients", "delivered", "hard", "soft", "blocked", "queued", "deferred",
                     "opened", "clicked", "spam", "unsub"):
            if getattr(self, name) < 0:
                found.append(f"{name} is negative ({getattr(self, name)})")
        for name, label in (("opened", "unique opens"), ("clicked", "unique clicks"),
                            ("unsub", "unsubscribes"), ("spam", "spam complaints")):
            if getattr(self, name) > self.delivered:
                found.append(f"{label} ({getattr(self, name):,}) exceed delivered ({self.delivered:,})")
        if self.blocked > self.recipients:
            found.append(f"blocked ({self.blocked:,}) exceeds recipients ({self.recipients:,})")
        return found


def one_decimal(value: Fraction, *, sign: bool = False) -> str:
    """An exact value shown with one decimal, halves rounded away from zero (12.25 -> 12.3)."""
    tenths = abs(value) * 10
    whole = int(tenths)  # floor: tenths >= 0
    if tenths - whole >= Fraction(1, 2):
        whole += 1
    text = f"{whole // 10}.{whole % 10}"
    if value < 0 and (sign or whole):  # a signed delta keeps its direction even when it shows as 0.0
        return "-" + text
    return ("+" + text) if sign else text


@dataclass(frozen=True)
class Rate:
    """numerator / denominator, kept as counts; value None when the denominator is 0."""

    name: str
    numerator: int
    denominator: int
    denominator_label: str = ""

    @property
    def exact(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> float | None:
        exact = self.exact
        return float(exact * 100) if exact is not None else None

    @property
    def shown(self) -> str:
        exact = self.exact
        return f"{one_decimal(exact * 100)}%" if exact is not None else MISSING

    @property
    def label(self) -> str:
        return RATE_LABELS.get(self.name, self.name)

    @property
    def description(self) -> str:
        """`731 of 973 processed`; `none processed` when there is no denominator."""
        noun = f" {self.denominator_label}" if self.denominator_label else ""
        if not self.denominator:
            return f"none{noun}" if noun else "no denominator"
        return f"{self.numerator:,} of {self.denominator:,}{noun}"


@dataclass(frozen=True)
class Rates:
    delivery: Rate
    bounce: Rate
    hard: Rate
    blocked: Rate
    open: Rate
    click: Rate
    unsub: Rate
    spam: Rate

    @classmethod
    def of(cls, counts: Counts) -> Rates:
        p, d, r = counts.processed, counts.delivered, counts.recipients
        return cls(
            delivery=Rate("delivery", counts.delivered, p, "processed"),
            bounce=Rate("bounce", counts.bounced, p, "processed"),
            hard=Rate("hard", counts.hard, p, "processed"),
            blocked=Rate("blocked", counts.blocked, r, "recipients"),
            open=Rate("open", counts.opened, d, "delivered"),
            click=Rate("click", counts.clicked, d, "delivered"),
            unsub=Rate("unsub", counts.unsub, d, "delivered"),
            spam=Rate("spam", counts.spam, d, "delivered"),
        )

    def __iter__(self) -> Iterator[Rate]:
        return (getattr(self, name) for name in RATE_NAMES)

    def __getitem__(self, name: str) -> Rate:
        if name not in RATE_NAMES:
            raise KeyError(name)
        return getattr(self, name)


class Verdict(enum.StrEnum):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"
    NO_DATA = "no data"


def _exact(value: Fraction | float | int) -> Fraction:
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def classify(bounce: Fraction | float | None, delivery: Fraction | float | None) -> Verdict:
    """The verdict for a bounce and a delivery rate (fractions of 1), compared exactly.

    Pass Fractions (Rate.exact) for exact results; a float is read as the decimal it prints as
    (0.02 is 2%, not the binary number just above it).
    """
    if bounce is None or delivery is None:
        return Verdict.NO_DATA
    bounce, delivery = _exact(bounce), _exact(delivery)
    if bounce <= HEALTHY_MAX_BOUNCE and delivery >= HEALTHY_MIN_DELIVERY:
        return Verdict.HEALTHY
    if bounce <= WARNING_MAX_BOUNCE and delivery >= WARNING_MIN_DELIVERY:
        return Verdict.WARNING
    return Verdict.CRITICAL


def verdict(counts: Counts | None) -> Verdict:
    """healthy / warning / critical from the exact rates; "no data" when nothing was processed."""
    if counts is None or counts.processed <= 0:
        return Verdict.NO_DATA
    rates = Rates.of(counts)
    return classify(rates.bounce.exact, rates.delivery.exact)


def verdict_reasons(counts: Counts | None) -> str:
    """Why the verdict is what it is, in words with the thresholds."""
    result = verdict(counts)
    if result is Verdict.NO_DATA:
        return "no messages processed yet, so there is no verdict"
    rates = Rates.of(counts)  # type: ignore[arg-type]
    bounce, delivery = rates.bounce, rates.delivery
    if result is Verdict.HEALTHY:
        return f"bounce {bounce.shown} ≤ 2% and delivery {delivery.shown} ≥ 95%"
    if result is Verdict.WARNING:
        low, high = HEALTHY_MAX_BOUNCE, HEALTHY_MIN_DELIVERY
        bound = "2%"
        floor = "95%"
    else:
        low, high = WARNING_MAX_BOUNCE, WARNING_MIN_DELIVERY
        bound = "5%"
        floor = "90%"
    reasons = []
    if bounce.exact > low:  # type: ignore[operator]
        reasons.append(f"bounce {bounce.shown} > {bound}")
    if delivery.exact < high:  # type: ignore[operator]
        reasons.append(f"delivery {delivery.shown} < {floor}")
    return " and ".join(reasons)


@dataclass(frozen=True)
class RateDelta:
    """current - earlier, in percentage points (exact); None when either side lacks the rate."""

    name: str
    current: Rate | None
    earlier: Rate | None

    @property
    def exact_pp(self) -> Fraction | None:
        now = self.current.exact if self.current is not None else None
        then = self.earlier.exact if self.earlier is not None else None
        if now is None or then is None:
            return None
        return (now - then) * 100

    @property
    def pp(self) -> float | None:
        exact = self.exact_pp
        return float(exact) if exact is not None else None

    @property
    def shown(self) -> str:
        """`+1.3 pp`, `-1.6 pp`, `±0.0 pp` (exactly equal), or "—"."""
        exact = self.exact_pp
        if exact is None:
            return MISSING
        if exact == 0:
            return "±0.0 pp"
        return f"{one_decimal(exact, sign=True)} pp"

    @property
    def label(self) -> str:
        return RATE_LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class RateComparison:
    deltas: tuple[RateDelta, ...]

    def __getitem__(self, name: str) -> RateDelta:
        for delta in self.deltas:
            if delta.name == name:
                return delta
        raise KeyError(name)

    def __iter__(self) -> Iterator[RateDelta]:
        return iter(self.deltas)


def compare(current: Counts | None, earlier: Counts | None) -> RateComparison:
    """Per-rate deltas current - earlier in percentage points, for every rate in RATE_NAMES."""
    now = Rates.of(current) if current is not None else None
    then = Rates.of(earlier) if earlier is not None else None
    return RateComparison(tuple(
        RateDelta(name, now[name] if now else None, then[name] if then else None) for name in RATE_NAMES
    ))


# --- bounce domains -------------------------------------------------------------------

NO_DOMAIN = "(no domain)"


@dataclass(frozen=True)
class DomainCount:
    domain: str
    hard: int
    soft: int

    @property
    def total(self) -> int:
        return self.hard + self.soft


@dataclass(frozen=True)
class BounceDomains:
    top: tuple[DomainCount, ...]     # the top N domains by bounces (hard first on ties, then name)
    domains: int                      # how many distinct domains bounced
    hard_listed: int                  # hard bounces in the list (after de-duplication)
    soft_listed: int
    hard_total: int                   # the denominator used for "more than half": max(listed, counted)
    dominant: DomainCount | None      # a domain holding MORE than half of the round's hard bounces

    @property
    def dominant_share(self) -> Fraction | None:
        if self.dominant is None or not self.hard_total:
            return None
        return Fraction(self.dominant.hard, self.hard_total)


def email_domain(email: str) -> str:
    """The lower-cased part after the last @, or NO_DOMAIN."""
    _, at, domain = email.strip().rpartition("@")
    domain = domain.strip().lower().rstrip(".")
    return domain if at and domain else NO_DOMAIN


def bounce_domains(bounces: Iterable[tuple[str, str]], *, top: int = 5, hard_total: int | None = None) -> BounceDomains:
    """Count bounces per domain; name a domain with more than half of the round's hard bounces.

    `bounces` holds (email, "hard" | "soft"); a repeated (email, kind) is counted once. The
    round's hard bounces are the larger of those listed and `hard_total` (Mailjet's count,
    when known), so an incomplete list never makes a domain look dominant.
    """
    if top < 0:
        raise ValueError("top must be >= 0")
    seen: set[tuple[str, str]] = set()
    hard: dict[str, int] = {}
    soft: dict[str, int] = {}
    for email, kind in bounces:
        kind_key = str(kind).strip().lower()
        if kind_key not in ("hard", "soft"):
            raise ValueError(f"bounce kind must be 'hard' or 'soft', not {kind!r}")
        key = (str(email).strip().lower(), kind_key)
        if key in seen:
            continue
        seen.add(key)
        domain = email_domain(str(email))
        bucket = hard if kind_key == "hard" else soft
        bucket[domain] = bucket.get(domain, 0) + 1
    counts = [DomainCount(d, hard.get(d, 0), soft.get(d, 0)) for d in set(hard) | set(soft)]
    counts.sort(key=lambda c: (-c.total, -c.hard, c.domain))
    hard_listed = sum(hard.values())
    denominator = max(hard_listed, hard_total or 0)
    dominant = None
    if denominator:
        leader = max(counts, key=lambda c: c.hard, default=None)  # at most one domain can hold > half
        if leader is not None and leader.hard * 2 > denominator and leader.domain != NO_DOMAIN:
            dominant = leader
    return BounceDomains(
        top=tuple(counts[:top]), domains=len(counts), hard_listed=hard_listed, soft_listed=sum(soft.values()),
        hard_total=denominator, dominant=dominant,
    )
