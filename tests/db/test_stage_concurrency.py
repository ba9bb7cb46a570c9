"""Stages due together run side by side (STAGE_CONCURRENCY) on a real database: the claim query,
the engine and the scheduler's stages loop, with executors that report when they run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bot.clock import FixedClock
from bot.config import load_settings
from bot.roles import Roles
from bot.services import Services
from jobs.engine import Engine, Outcome, StageContext
from jobs.scheduler import Scheduler
from storage.queries import Q

NOW = datetime(2026, 3, 3, 9, 15, tzinfo=UTC)


class Gate:
    """An executor that records who runs, how many at once, and waits to be let go."""

    def __init__(self) -> None:
        self.running: list[tuple[int, str]] = []
        self.started: list[tuple[int, str]] = []
        self.peak = 0
        self.release = asyncio.Event()

    async def __call__(self, ctx: StageContext) -> Outcome:
        me = (ctx.round["number"], ctx.run["stage"])
        self.running.append(me)
        self.started.append(me)
        self.peak = max(self.peak, len(self.running))
        try:
            await self.release.wait()
        finally:
            self.running.remove(me)
        return Outcome.done()

    async def until(self, predicate: Any, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"still running {self.running}, started {self.started}")
            await asyncio.sleep(0.01)


async def add_rounds(pool: asyncpg.Pool, stages: dict[int, list[tuple[str, timedelta]]]) -> None:
    """Round number -> its pending stages and how long before NOW each fell due."""
    async with pool.acquire() as connection:
        campaign = await connection.fetchval(
            "INSERT INTO campaigns (name, master_list_id, template_draft_id, round_count, timezone, send_days, send_time, "
            "offsets, launch_window, approval_policy, channel, created_by, created_at) VALUES "
            "('Slot', 1, 1, $1, 'Europe/London', '{tue}', '09:15', '{}', '2h', 'required', '#_traction', 'U1', $2) "
            "RETURNING id", len(stages), NOW - timedelta(days=1))
        for number, runs in stages.items():
            round_id = await connection.fetchval(
                "INSERT INTO rounds (campaign_id, number, scheduled_at, instant_source, state_changed_at) "
                "VALUES ($1, $2, $3, 'explicit', $3) RETURNING id", campaign, number, NOW)
            await connection.execute(Q.stage_runs_insert, round_id, [s for s, _ in runs], [NOW - ago for _, ago in runs])


async def stage_states(pool: asyncpg.Pool) -> dict[tuple[int, str], str]:
    rows = await pool.fetch("SELECT r.number, s.stage, s.state FROM stage_runs s JOIN rounds r ON r.id = s.round_id")
    return {(r["number"], r["stage"]): r["state"] for r in rows}


@pytest.fixture
async def running(database: str, pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """Start the real Scheduler's loops with an Engine of gated executors; stop them at the end."""
    started: list[Scheduler] = []

    async def start(gate: Gate, concurrency: int) -> Scheduler:
        services = Services(
            settings=load_settings(_env_file=None), pool=pool, clock=FixedClock(NOW), mailjet=None, slack=None,  # type: ignore[arg-type]
            roles=Roles(frozenset(), frozenset(), frozenset()), instance_id="test-concurrency",
        )
        engine = Engine(services, {"prelaunch": gate, "preflight": gate, "warning": gate})

        async def next_due() -> datetime | None:
            return await pool.fetchval(Q.next_due_instant)

        async def nothing() -> bool:
            return False

        async def never() -> None:
            return None

        scheduler = Scheduler(services, planning=(nothing, never), stages=(engine.run_one, next_due),
                              outbox=(nothing, never), stage_concurrency=concurrency)
        engine.on_claim = scheduler.stages.claimed
        await scheduler.start(database)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        await scheduler.stop(5)


async def test_the_claim_skips_held_rows_and_later_stages_of_a_round_in_progress(pool: asyncpg.Pool):
    await add_rounds(pool, {1: [("prelaunch", timedelta(minutes=3)), ("preflight", timedelta(minutes=1))],
                            2: [("prelaunch", timedelta(minutes=2))]})
    first, second, third = [await pool.acquire() for _ in range(3)]
    try:
        async with second.transaction():
            async with first.transaction():
                held = await first.fetchrow(Q.claim_due_stage, NOW)
                other = await second.fetchrow(Q.claim_due_stage, NOW)
                async with third.transaction():
                    # Round 1's pre-flight is due and unlocked, but its pre-launch is still running.
                    assert await third.fetchrow(Q.claim_due_stage, NOW) is None
                await first.execute(Q.stage_finish, held["id"], "done", {}, False, NOW)
            async with third.transaction():
                after = await third.fetchrow(Q.claim_due_stage, NOW)  # round 2's is still held
        names = {r["id"]: (r["number"], r["stage"]) for r in await pool.fetch(
            "SELECT s.id, r.number, s.stage FROM stage_runs s JOIN rounds r ON r.id = s.round_id")}
        assert names[held["id"]] == (1, "prelaunch")
        assert names[other["id"]] == (2, "prelaunch")
        assert names[after["id"]] == (1, "preflight")
    finally:
        for connection in (first, second, third):
            await pool.release(connection)


async def test_due_stages_run_side_by_side_up_to_the_bound_each_once(running, pool: asyncpg.Pool):
    await add_rounds(pool, {n: [("prelaunch", timedelta(seconds=n))] for n in range(1, 8)})
    gate = Gate()
    await running(gate, 3)
    await gate.until(lambda: len(gate.running) == 3)
    await asyncio.sleep(0.3)
    assert len(gate.running) == 3  # the other four wait for a free worker
    gate.release.set()
    await gate.until(lambda: len(gate.started) == 7 and not gate.running)
    assert gate.peak == 3
    assert sorted(gate.started) == [(n, "prelaunch") for n in range(1, 8)]  # each once
    await asyncio.sleep(0.3)
    assert set((await stage_states(pool)).values()) == {"done"} and len(gate.started) == 7


async def test_a_rounds_stages_run_in_order_even_when_due_together(running, pool: asyncpg.Pool):
    await add_rounds(pool, {1: [("prelaunch", timedelta(hours=1)), ("preflight", timedelta(minutes=30)),
                                ("warning", timedelta(minutes=15))],
                            2: [("preflight", timedelta(minutes=20))]})
    gate = Gate()
    await running(gate, 4)
    await gate.until(lambda: len(gate.running) == 2)
    await asyncio.sleep(0.3)
    # Round 2 runs beside round 1, but round 1's later stages wait for its pre-launch.
    assert sorted(gate.running) == [(1, "prelaunch"), (2, "preflight")]
    gate.release.set()
    await gate.until(lambda: len(gate.started) == 4 and not gate.running)
    assert [s for s in gate.started if s[0] == 1] == [(1, "prelaunch"), (1, "preflight"), (1, "warning")]


async def test_stopping_lets_every_stage_in_progress_finish_and_claims_nothing_new(running, pool: asyncpg.Pool):
    await add_rounds(pool, {n: [("prelaunch", timedelta(seconds=n))] for n in range(1, 7)})
    gate = Gate()
    scheduler = await running(gate, 3)
    await gate.until(lambda: len(gate.running) == 3)
    stopping = asyncio.ensure_future(scheduler.stop(10))
    await asyncio.sleep(0.3)
    assert not stopping.done()  # the grace period waits for all three
    gate.release.set()
    await asyncio.wait_for(stopping, 5)
    states = await stage_states(pool)
    assert sorted(k for k, v in states.items() if v == "done") == sorted(gate.started)
    assert len(gate.started) == 3 and list(states.values()).count("pending") == 3
