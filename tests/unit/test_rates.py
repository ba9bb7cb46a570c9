"""Rates, verdicts, comparisons and bounce domains, on the predecessor's real rounds."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rates import (
    MISSING,
    RATE_NAMES,
    Counts,
    Rates,
    Verdict,
    bounce_domains,
    classify,
    compare,
    email_domain,
    one_decimal,
    verdict,
    verdict_reasons,
)

# The predecessor's rounds (records/campaigns/*.md), as Mailjet statcounters rows.
ROUND_1_ROW = {
    "Total": 1000, "MessageSentCount": 731, "MessageHardBouncedCount": 240, "MessageSoftBouncedCount": 2,
    "MessageBlockedCount": 27, "MessageQueuedCount": 0, "MessageDeferredCount": 0, "MessageOpenedCount": 632,
    "MessageClickedCount": 50, "MessageSpamCount": 0, "MessageUnsubscribedCount": 4,
}
ROUND_2_ROW = {
    "Total": 731 + 255 + 8 + 6, "MessageSentCount": 731, "MessageHardBouncedCount": 255,
    "MessageSoftBouncedCount": 8, "MessageBlockedCount": 6, "MessageOpenedCount": 543,
    "MessageClickedCount": 36, "MessageUnsubscribedCount": 4,
}
ROUND_1 = Counts.from_statcounters(ROUND_1_ROW)
ROUND_2 = Counts.from_statcounters(ROUND_2_ROW)


def counts(**given: int) -> Counts:
    base = dict(recipients=0, delivered=0, hard=0, soft=0, blocked=0, queued=0, deferred=0,
                opened=0, clicked=0, spam=0, unsub=0)
    base.update(given)
    return Counts(**base)


# --- the predecessor's round 1 and round 2 ---------------------------------------------

ROUND_1_EXPECTED = {
    # name: (numerator, denominator, value, shown, description)
    "delivery": (731, 973, 731 / 973, "75.1%", "731 of 973 processed"),
    "bounce": (242, 973, 242 / 973, "24.9%", "242 of 973 processed"),
    "hard": (240, 973, 240 / 973, "24.7%", "240 of 973 processed"),
    "blocked": (27, 1000, 0.027, "2.7%", "27 of 1,000 recipients"),
    "open": (632, 731, 632 / 731, "86.5%", "632 of 731 delivered"),
    "click": (50, 731, 50 / 731, "6.8%", "50 of 731 delivered"),
    "unsub": (4, 731, 4 / 731, "0.5%", "4 of 731 delivered"),
    "spam": (0, 731, 0.0, "0.0%", "0 of 731 delivered"),
}
ROUND_2_EXPECTED = {
    "delivery": (731, 994, 731 / 994, "73.5%", "731 of 994 processed"),
    "bounce": (263, 994, 263 / 994, "26.5%", "263 of 994 processed"),
    "hard": (255, 994, 255 / 994, "25.7%", "255 of 994 processed"),
    "blocked": (6, 1000, 0.006, "0.6%", "6 of 1,000 recipients"),
    "open": (543, 731, 543 / 731, "74.3%", "543 of 731 delivered"),
    "click": (36, 731, 36 / 731, "4.9%", "36 of 731 delivered"),
    "unsub": (4, 731, 4 / 731, "0.5%", "4 of 731 delivered"),
    "spam": (0, 731, 0.0, "0.0%", "0 of 731 delivered"),
}


def test_statcounters_are_read_with_one_meaning_each():
    assert ROUND_1 == Counts(recipients=1000, delivered=731, hard=240, soft=2, blocked=27, queued=0, deferred=0,
                             opened=632, clicked=50, spam=0, unsub=4)
    assert ROUND_1.processed == 973  # blocked (27) is never attempted, so not processed
    assert ROUND_1.bounced == 242
    assert ROUND_2.recipients == 1000
    assert ROUND_2.processed == 994
    assert ROUND_2.bounced == 263


@pytest.mark.parametrize(("data", "expected"), [(ROUND_1, ROUND_1_EXPECTED), (ROUND_2, ROUND_2_EXPECTED)],
                         ids=["round1", "round2"])
def test_rates_of_the_predecessors_rounds(data: Counts, expected: dict):
    rates = Rates.of(data)
    assert [r.name for r in rates] == list(RATE_NAMES)
    for name, (numerator, denominator, value, shown, description) in expected.items():
        rate = rates[name]
        assert (rate.numerator, rate.denominator) == (numerator, denominator), name
        assert rate.exact == Fraction(numerator, denominator)
        assert rate.value == pytest.approx(value, abs=1e-9), name
        assert rate.shown == shown, name
        assert rate.description == description, name


def test_round_1_values_from_the_spec():
    rates = Rates.of(ROUND_1)
    assert rates.delivery.value == pytest.approx(0.7512846865, abs=1e-9)
    assert rates.bounce.value == pytest.approx(0.2487153135, abs=1e-9)
    assert rates.hard.value == pytest.approx(0.2466598150, abs=1e-9)
    assert rates.blocked.value == pytest.approx(0.027, abs=1e-9)
    assert rates.open.value == pytest.approx(0.8645690834, abs=1e-9)
    assert rates.click.value == pytest.approx(0.0683994528, abs=1e-9)
    # not the predecessor's other denominators: 242/1000 = 24.2% (records) or 73.1% delivery of recipients
    assert rates.bounce.shown != "24.2%"
    assert rates.delivery.shown != "73.1%"


def test_round_2_values():
    rates = Rates.of(ROUND_2)
    assert rates.delivery.value == pytest.approx(0.7354124748, abs=1e-9)
    assert rates.bounce.value == pytest.approx(0.2645875251, abs=1e-9)
    assert rates.hard.value == pytest.approx(0.2565392354, abs=1e-9)
    assert rates.blocked.value == pytest.approx(0.006, abs=1e-9)
    assert rates.open.value == pytest.approx(0.7428180574, abs=1e-9)
    assert rates.click.value == pytest.approx(0.0492476060, abs=1e-9)


def test_both_rounds_are_critical():
    assert verdict(ROUND_1) is Verdict.CRITICAL
    assert verdict(ROUND_2) is Verdict.CRITICAL
    assert verdict_reasons(ROUND_1) == "bounce 24.9% > 5% and delivery 75.1% < 90%"


def test_bounce_rate_kept_for_preflight():
    assert ROUND_1.bounce_rate == Rates.of(ROUND_1).bounce.value
    assert counts().bounce_rate is None


# --- comparison -------------------------------------------------------------------------

def test_round_2_against_round_1_shows_real_deltas():
    comparison = compare(ROUND_2, ROUND_1)
    expected = {
        "delivery": (Fraction(731, 994) - Fraction(731, 973)) * 100,
        "bounce": (Fraction(263, 994) - Fraction(242, 973)) * 100,
        "hard": (Fraction(255, 994) - Fraction(240, 973)) * 100,
        "blocked": (Fraction(6, 1000) - Fraction(27, 1000)) * 100,
        "open": (Fraction(543, 731) - Fraction(632, 731)) * 100,
        "click": (Fraction(36, 731) - Fraction(50, 731)) * 100,
    }
    for name, exact in expected.items():
        delta = comparison[name]
        assert delta.exact_pp == exact, name
        assert delta.pp == pytest.approx(float(exact), abs=1e-9), name
        assert delta.pp != 0.0, f"{name}: the predecessor showed 0.0 here"
    assert comparison["delivery"].pp == pytest.approx(-1.5872211687, abs=1e-9)
    assert comparison["bounce"].pp == pytest.approx(1.5872211687, abs=1e-9)
    assert comparison["hard"].pp == pytest.approx(0.9879420407, abs=1e-9)
    assert comparison["blocked"].pp == pytest.approx(-2.1, abs=1e-9)
    assert comparison["open"].pp == pytest.approx(-12.1751025992, abs=1e-9)
    assert comparison["click"].pp == pytest.approx(-1.9151846785, abs=1e-9)
    shown = {delta.name: delta.shown for delta in comparison}
    assert shown == {"delivery": "-1.6 pp", "bounce": "+1.6 pp", "hard": "+1.0 pp", "blocked": "-2.1 pp",
                     "open": "-12.2 pp", "click": "-1.9 pp", "unsub": "±0.0 pp", "spam": "±0.0 pp"}


def test_comparison_is_current_minus_earlier():
    assert compare(ROUND_1, ROUND_2)["bounce"].pp == pytest.approx(-1.5872211687, abs=1e-9)
    assert compare(ROUND_1, ROUND_1)["bounce"].pp == 0


def test_comparison_without_a_side_is_none():
    empty = counts(recipients=100, blocked=100)  # nothing processed, nothing delivered
    for delta in compare(ROUND_2, empty):
        if delta.name == "blocked":
            assert delta.pp == pytest.approx(0.6 - 100.0)
            continue
        assert delta.pp is None and delta.shown == MISSING, delta.name
    for delta in compare(ROUND_2, None):
        assert delta.pp is None and delta.shown == MISSING
    for delta in compare(None, ROUND_1):
        assert delta.pp is None and delta.shown == MISSING


def test_tiny_deltas_keep_their_sign():
    a = counts(recipients=100_000, delivered=99_990, hard=10)
    b = counts(recipients=100_000, delivered=99_989, hard=11)
    assert compare(b, a)["bounce"].shown == "+0.0 pp"
    assert compare(b, a)["delivery"].shown == "-0.0 pp"


# --- verdict thresholds, exact --------------------------------------------------------

@pytest.mark.parametrize(("bounce", "delivery", "expected"), [
    (Fraction(2, 100), Fraction(95, 100), Verdict.HEALTHY),
    (0.02, 0.95, Verdict.HEALTHY),
    (Fraction(0), Fraction(1), Verdict.HEALTHY),
    (Fraction(2, 100) + Fraction(1, 10**12), Fraction(98, 100), Verdict.WARNING),
    (Fraction(1, 100), Fraction(95, 100) - Fraction(1, 10**12), Verdict.WARNING),
    (Fraction(5, 100), Fraction(90, 100), Verdict.WARNING),
    (0.05, 0.90, Verdict.WARNING),
    (Fraction(5, 100) + Fraction(1, 10**12), Fraction(95, 100), Verdict.CRITICAL),
    (Fraction(1, 100), Fraction(90, 100) - Fraction(1, 10**12), Verdict.CRITICAL),
    (Fraction(1), Fraction(0), Verdict.CRITICAL),
    (None, Fraction(1), Verdict.NO_DATA),
    (Fraction(0), None, Verdict.NO_DATA),
])
def test_classify_at_the_edges(bounce, delivery, expected):
    assert classify(bounce, delivery) is expected


@pytest.mark.parametrize(("bounced", "expected"), [
    (0, Verdict.HEALTHY),
    (200, Verdict.HEALTHY),     # exactly 2.0% bounce, 98% delivery
    (201, Verdict.WARNING),     # 2.01%
    (204, Verdict.WARNING),     # shown as "2.0%", but over 2%: exact values decide
    (500, Verdict.WARNING),     # exactly 5% bounce and exactly 95% delivery
    (501, Verdict.CRITICAL),    # 5.01%
    (1000, Verdict.CRITICAL),   # 10% bounce, exactly 90% delivery: bounce decides
])
def test_verdict_from_counts_at_the_edges(bounced: int, expected: Verdict):
    data = counts(recipients=10_000, delivered=10_000 - bounced, hard=bounced)
    assert verdict(data) is expected


def test_shown_value_does_not_decide_the_verdict():
    data = counts(recipients=10_000, delivered=9_796, hard=204)
    assert Rates.of(data).bounce.shown == "2.0%"
    assert verdict(data) is Verdict.WARNING
    assert verdict_reasons(data) == "bounce 2.0% > 2%"


def test_blocked_is_not_a_bounce():
    data = counts(recipients=1000, delivered=900, blocked=100)
    assert Rates.of(data).bounce.value == 0
    assert Rates.of(data).blocked.value == pytest.approx(0.1)
    assert verdict(data) is Verdict.HEALTHY


# --- zero denominators ------------------------------------------------------------------

def test_nothing_at_all_gives_no_rates_and_no_verdict():
    rates = Rates.of(counts())
    for rate in rates:
        assert rate.value is None and rate.exact is None and rate.percent is None, rate.name
        assert rate.shown == MISSING == "—"
    assert rates.delivery.description == "none processed"
    assert rates.blocked.description == "none recipients"
    assert verdict(counts()) is Verdict.NO_DATA
    assert verdict(None) is Verdict.NO_DATA
    assert verdict_reasons(counts()) == "no messages processed yet, so there is no verdict"


def test_all_bounced_has_delivery_but_no_engagement_rates():
    data = counts(recipients=10, hard=10)
    rates = Rates.of(data)
    assert rates.delivery.value == 0 and rates.delivery.shown == "0.0%"
    assert rates.bounce.value == 1
    assert rates.open.value is None and rates.click.value is None
    assert rates.unsub.shown == rates.spam.shown == MISSING
    assert verdict(data) is Verdict.CRITICAL


def test_only_blocked_or_queued_is_no_data():
    assert verdict(counts(recipients=50, blocked=50)) is Verdict.NO_DATA
    assert verdict(counts(recipients=50, queued=50)) is Verdict.NO_DATA


# --- still moving, consistency, display ------------------------------------------------

def test_still_moving_while_queued_or_deferred():
    assert not ROUND_1.still_moving
    assert counts(queued=1).still_moving
    assert counts(deferred=3).still_moving
    assert Counts.from_statcounters({**ROUND_1_ROW, "MessageDeferredCount": 5}).still_moving


def test_inconsistent_counts_are_named_not_corrected():
    data = counts(recipients=10, delivered=5, opened=7, blocked=11)
    problems = data.inconsistencies()
    assert any("unique opens (7) exceed delivered (5)" in p for p in problems)
    assert any("blocked (11) exceeds recipients (10)" in p for p in problems)
    assert Rates.of(data).open.shown == "140.0%"  # shown as read, never clamped
    assert ROUND_1.inconsistencies() == [] and ROUND_2.inconsistencies() == []


@pytest.mark.parametrize(("value", "sign", "text"), [
    (Fraction(1225, 100), False, "12.3"), (Fraction(1224, 100), False, "12.2"), (Fraction(0), False, "0.0"),
    (Fraction(99999, 1000), False, "100.0"), (Fraction(13, 10), True, "+1.3"), (Fraction(-1587, 1000), True, "-1.6"),
    (Fraction(-1, 100), True, "-0.0"), (Fraction(1, 100), True, "+0.0"),
])
def test_one_decimal(value, sign, text):
    assert one_decimal(value, sign=sign) == text


# --- properties -----------------------------------------------------------------------

count = st.integers(min_value=0, max_value=10**9)


@given(count, count, count, count, count, count, count, count, count, count, count)
def test_processed_rates_are_fractions_of_one_and_complementary(r, d, h, s, b, q, f, o, c, sp, u):
    data = Counts(recipients=r, delivered=d, hard=h, soft=s, blocked=b, queued=q, deferred=f,
                  opened=o, clicked=c, spam=sp, unsub=u)
    rates = Rates.of(data)
    for rate in (rates.delivery, rates.bounce, rates.hard):
        assert rate.value is None or 0 <= rate.value <= 1
    if data.processed > 0:
        assert rates.delivery.exact + rates.bounce.exact == 1
        assert rates.delivery.value + rates.bounce.value == pytest.approx(1, abs=1e-12)
        assert rates.hard.exact <= rates.bounce.exact
        assert verdict(data) is not Verdict.NO_DATA
    else:
        assert verdict(data) is Verdict.NO_DATA
        assert rates.delivery.value is None and rates.bounce.value is None


@st.composite
def consistent_counts(draw) -> Counts:
    """Any counts Mailjet can report: unique opens/clicks/unsubs/spam within delivered, blocked within recipients."""
    delivered, hard, soft, blocked, queued, deferred = (draw(st.integers(0, 10**7)) for _ in range(6))
    recipients = delivered + hard + soft + blocked + queued + deferred + draw(st.integers(0, 10**6))
    opened, clicked, spam, unsub = (draw(st.integers(0, delivered)) for _ in range(4))
    return Counts(recipients=recipients, delivered=delivered, hard=hard, soft=soft, blocked=blocked, queued=queued,
                  deferred=deferred, opened=opened, clicked=clicked, spam=spam, unsub=unsub)


@given(consistent_counts())
def test_every_rate_is_within_0_and_1(data: Counts):
    assert data.inconsistencies() == []
    for rate in Rates.of(data):
        if rate.denominator == 0:
            assert rate.value is None and rate.shown == MISSING
        else:
            assert 0 <= rate.value <= 1
            assert rate.shown.endswith("%") and 0 <= float(rate.shown[:-1]) <= 100


@given(consistent_counts(), consistent_counts())
def test_deltas_are_exact_differences(a: Counts, b: Counts):
    for delta in compare(a, b):
        now, then = Rates.of(a)[delta.name], Rates.of(b)[delta.name]
        if now.exact is None or then.exact is None:
            assert delta.pp is None
        else:
            assert delta.exact_pp == (now.exact - then.exact) * 100
            assert -100 <= delta.pp <= 100


# --- bounce domains -------------------------------------------------------------------

def test_email_domain():
    assert email_domain("Someone@BigCorp.Example") == "bigcorp.example"
    assert email_domain("  a@b.example. ") == "b.example"
    assert email_domain("odd@name@mx.example") == "mx.example"
    assert email_domain("no-at-sign") == "(no domain)"


def test_domains_counted_and_ranked():
    bounces = ([(f"u{i}@bigcorp.example", "hard") for i in range(6)]
               + [(f"u{i}@other.example", "hard") for i in range(3)]
               + [("x@other.example", "soft"), ("y@third.example", "soft"), ("U0@BIGCORP.EXAMPLE", "hard")])
    result = bounce_domains(bounces, top=2)
    assert [(d.domain, d.hard, d.soft) for d in result.top] == [("bigcorp.example", 6, 0), ("other.example", 3, 1)]
    assert result.domains == 3
    assert result.hard_listed == 9  # "U0@BIGCORP.EXAMPLE" is u0@bigcorp.example again, counted once
    assert result.soft_listed == 2
    assert result.dominant is not None and result.dominant.domain == "bigcorp.example"
    assert result.dominant_share == Fraction(6, 9)


def test_dominant_needs_more_than_half():
    half = [(f"a{i}@big.example", "hard") for i in range(5)] + [(f"b{i}@x{i}.example", "hard") for i in range(5)]
    assert bounce_domains(half).dominant is None
    more = half + [("a9@big.example", "hard")]
    assert bounce_domains(more).dominant.domain == "big.example"
    soft_only = [(f"a{i}@big.example", "soft") for i in range(10)]
    assert bounce_domains(soft_only).dominant is None  # the rule is about hard bounces


def test_dominant_is_measured_against_the_rounds_hard_bounces():
    listed = [(f"a{i}@big.example", "hard") for i in range(100)]
    assert bounce_domains(listed).dominant is not None
    # Mailjet counted 240 hard bounces; 100 of them at one domain is not more than half.
    result = bounce_domains(listed, hard_total=240)
    assert result.dominant is None and result.hard_total == 240
    assert bounce_domains(listed, hard_total=199).dominant.domain == "big.example"


def test_bounce_domains_edge_cases():
    empty = bounce_domains([])
    assert empty.top == () and empty.dominant is None and empty.hard_total == 0
    with pytest.raises(ValueError):
        bounce_domains([("a@b.example", "blocked")])  # blocked is not a bounce
    assert bounce_domains([("a@b.example", "HARD ")]).hard_listed == 1
