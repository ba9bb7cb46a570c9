"""Suppression rules (hard bounce and spam: permanent; soft: counted, suppressed at 3, revalidated
after 180 days; blocked: recorded only), in Postgres (where they are applied), with the
predecessor's mistakes as regressions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot import suppression_rules as rules
from storage.queries import Q

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
THRESHOLD = 3


@pytest.fixture
async def rounds(pool) -> list[int]:
    """Three rounds of one campaign (the events table refers to rounds)."""
    async with pool.acquire() as connection:
        campaign = await connection.fetchval(
            "INSERT INTO campaigns (name, master_list_id, template_draft_id, round_count, timezone, send_days, send_time, "
            "offsets, launch_window, approval_policy, channel, created_by, created_at) VALUES "
            "('Rules', 1, 1, 3, 'Europe/London', '{tue}', '09:15', '{}', '2h', 'required', '#_traction', 'U1', now()) RETURNING id")
        ids = []
        for number in (1, 2, 3):
            ids.append(await connection.fetchval(
                "INSERT INTO rounds (campaign_id, number, scheduled_at, instant_source, state_changed_at) "
                "VALUES ($1, $2, now(), 'planner', now()) RETURNING id", campaign, number))
        return ids


async def apply_event(pool, round_id: int, contact: int, kind: str, now: datetime = NOW):
    async with pool.acquire() as connection:
        if kind == "blocked":
            await connection.execute(Q.record_event_only, round_id, contact, kind, now)
            return None
        return await Q.suppress_contact.fetchrow(connection, round_id=round_id, contact_id=contact, email=f"c{contact}@example.com",
                                                 kind=kind, now=now, soft_threshold=THRESHOLD, revalidate_after=rules.REVALIDATE_AFTER)


async def suppression(pool, contact: int):
    async with pool.acquire() as connection:
        rows = await connection.fetch(Q.suppressions_of, [contact])
    return rows[0] if rows else None


async def test_hard_bounce_is_suppressed_permanently(pool, rounds):
    await apply_event(pool, rounds[0], 1, "hard")
    row = await suppression(pool, 1)
    assert row["active"] and row["permanent"] and row["reason"] == "hard_bounce" and row["bounce_count"] == 1


async def test_spam_complaint_is_suppressed_permanently(pool, rounds):
    await apply_event(pool, rounds[0], 2, "spam")
    row = await suppression(pool, 2)
    assert row["active"] and row["permanent"] and row["reason"] == "spam"


async def test_first_soft_bounce_is_counted_not_suppressed(pool, rounds):
    """The predecessor suppressed first-time soft bounces against its own rules."""
    await apply_event(pool, rounds[0], 3, "soft")
    row = await suppression(pool, 3)
    assert row["bounce_count"] == 1 and not row["active"] and not row["permanent"]


async def test_third_soft_bounce_suppresses_with_revalidation_date(pool, rounds):
    for index, round_id in enumerate(rounds):
        await apply_event(pool, round_id, 4, "soft", NOW + timedelta(days=index))
        row = await suppression(pool, 4)
        assert row["active"] is (index == 2), index
    assert row["bounce_count"] == 3 and not row["permanent"]
    assert row["revalidate_after"] == NOW + timedelta(days=2) + timedelta(days=180)


async def test_the_same_event_counts_once_even_concurrently(pool, rounds):
    await asyncio.gather(*(apply_event(pool, rounds[0], 5, "soft") for _ in range(8)))
    await apply_event(pool, rounds[0], 5, "soft")  # applying twice changes nothing
    assert (await suppression(pool, 5))["bounce_count"] == 1


async def test_unsubscribe_excludes_but_is_not_permanent(pool, rounds):
    await apply_event(pool, rounds[0], 6, "unsub")
    row = await suppression(pool, 6)
    assert row["active"] and not row["permanent"] and row["reason"] == "unsub" and row["bounce_count"] == 0


async def test_blocked_is_recorded_and_is_not_a_bounce(pool, rounds):
    """The predecessor's cleanup counted Mailjet-blocked messages as hard bounces."""
    await apply_event(pool, rounds[0], 7, "blocked")
    assert await suppression(pool, 7) is None
    async with pool.acquire() as connection:
        assert await connection.fetchval("SELECT kind FROM suppression_events WHERE contact_id = 7") == "blocked"


async def test_a_softer_reason_never_replaces_a_permanent_one(pool, rounds):
    await apply_event(pool, rounds[0], 8, "hard")
    await apply_event(pool, rounds[1], 8, "unsub")
    await apply_event(pool, rounds[2], 8, "soft")
    row = await suppression(pool, 8)
    assert row["reason"] == "hard_bounce" and row["permanent"] and row["active"]


def test_plan_rules_are_deterministic_and_follow_the_spec():
    events = [rules.Event(3, "c@x.io", "soft"), rules.Event(1, "a@x.io", "hard"), rules.Event(2, "b@y.io", "blocked"),
              rules.Event(1, "a@x.io", "hard"), rules.Event(4, "d@y.io", "spam"), rules.Event(5, "e@y.io", "soft")]
    items = rules.build_items(events, {5: 2}, set())
    assert [(i.contact_id, i.kind, i.action) for i in items] == [
        (1, "hard", "suppress"), (2, "blocked", "record"), (3, "soft", "count"), (4, "spam", "suppress"), (5, "soft", "suppress")]
    assert items == rules.build_items(list(reversed(events)), {5: 2}, set())  # same plan, whatever the order
    assert rules.share_of(items, 30) == pytest.approx(3 / 30)
    assert not rules.needs_override(0.10) and rules.needs_override(0.1001)


# --- revalidation and lifting (migration 012: suppression_in_force, suppression_lift) ---------

async def in_force(pool, contact: int, at: datetime) -> bool:
    async with pool.acquire() as connection:
        return await connection.fetchval(
            "SELECT suppression_in_force(s, $2) FROM suppressions s WHERE contact_id = $1", contact, at)


async def three_soft_bounces(pool, rounds, contact: int) -> datetime:
    for index, round_id in enumerate(rounds):
        await apply_event(pool, round_id, contact, "soft", NOW + timedelta(days=index))
    return (await suppression(pool, contact))["revalidate_after"]


async def test_three_soft_bounces_stop_counting_after_the_revalidation_date(pool, rounds):
    revalidate = await three_soft_bounces(pool, rounds, 11)
    assert await in_force(pool, 11, revalidate - timedelta(seconds=1))
    assert not await in_force(pool, 11, revalidate)
    async with pool.acquire() as connection:  # the pre-flight's check agrees, at each instant
        assert await connection.fetch(Q.suppressed_among, [11], revalidate - timedelta(days=1))
        assert not await connection.fetch(Q.suppressed_among, [11], revalidate + timedelta(days=1))


async def test_permanent_and_unsubscribed_never_revalidate(pool, rounds):
    await apply_event(pool, rounds[0], 12, "hard")
    await three_soft_bounces(pool, rounds, 13)
    await apply_event(pool, rounds[2], 13, "unsub")
    await apply_event(pool, rounds[0], 14, "unsub")
    later = NOW + timedelta(days=400)
    assert await in_force(pool, 12, later) and await in_force(pool, 13, later) and await in_force(pool, 14, later)


async def test_a_lifted_suppression_is_not_in_force_and_counts_again_from_zero(pool, rounds):
    await apply_event(pool, rounds[0], 15, "hard")
    async with pool.acquire() as connection:
        lifted = await connection.fetchrow(Q.suppression_lift, 15, NOW, "U0APPROVER", "address fixed")
        assert lifted["lifted_by"] == "U0APPROVER" and not lifted["active"] and not lifted["permanent"]
        assert lifted["bounce_count"] == 0 and lifted["reason"] == "hard_bounce"  # the history stays
        assert await connection.fetchrow(Q.suppression_lift, 15, NOW, "U0APPROVER", None) is None  # only once
    assert not await in_force(pool, 15, NOW)
    await apply_event(pool, rounds[1], 15, "soft")  # one soft bounce after the lift: counted, not suppressed
    row = await suppression(pool, 15)
    assert row["bounce_count"] == 1 and not row["active"]
    await apply_event(pool, rounds[2], 15, "hard")  # a new hard bounce suppresses it again
    assert await in_force(pool, 15, NOW)
