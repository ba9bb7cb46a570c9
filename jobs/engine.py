"""The stage engine: claim one due stage run from Postgres, execute it, record the outcome.

The claim (`FOR NO KEY UPDATE SKIP LOCKED`) is held for the whole execution inside one
transaction, so any number of replicas run each stage once, and a crash releases the row at
once for the next process. What the executor writes (state changes, outbox messages, audit)
commits with the stage's outcome or not at all. A failing executor is retried with backoff
and, after STAGE_MAX_ATTEMPTS, marked failed with an alert in the channel: never dropped.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg
import structlog

from bot.failpoints import failpoint
from bot.logs import bind_round, get_logger
from bot.metrics import STAGE_RUNS
from bot.messages.common import STAGE_LABEL
from bot.messages.rounds import alert
from bot.services import Services
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

log = get_logger(__name__)

# A stage is "late" when it starts more than this after its planned instant.
LATE_AFTER = timedelta(seconds=60)


@dataclass
class StageContext:
    services: Services
    connection: asyncpg.Connection      # the claim's transaction: writes here commit with the outcome
    run: asyncpg.Record
    round: asyncpg.Record
    campaign: asyncpg.Record
    now: datetime

    @property
    def late_by(self) -> timedelta:
        return self.now - self.run["nominal_at"]

    @property
    def is_late(self) -> bool:
        return self.late_by > LATE_AFTER

    @property
    def is_rehearsal(self) -> bool:
        """The round is a rehearsal's copy (`/campaign rehearse`): dry run, its own thread."""
        return self.round.get("rehearsal_id") is not None

    @property
    def dry_run(self) -> bool:
        """Nothing is sent: SEND_MODE=dry-run, or a rehearsal whatever the mode."""
        return self.services.dry_run or self.is_rehearsal


@dataclass(frozen=True)
class Outcome:
    state: str                              # done | skipped | not_implemented | wait
    result: dict[str, Any] = field(default_factory=dict)
    wait_until: datetime | None = None      # with state "wait": look again then

    @classmethod
    def done(cls, **result: Any) -> Outcome:
        return cls("done", result)

    @classmethod
    def skipped(cls, reason: str, **result: Any) -> Outcome:
        return cls("skipped", {"reason": reason, **result})

    @classmethod
    def wait(cls, until: datetime, reason: str) -> Outcome:
        return cls("wait", {"reason": reason}, until)


class Executor(Protocol):
    async def __call__(self, ctx: StageContext) -> Outcome: ...


def backoff(attempt: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 15 min."""
    return timedelta(seconds=min(30 * 2 ** max(attempt - 1, 0), 900))


# Called in the stage's transaction once a run is final (done, skipped, failed…): the
# rehearsal's notes and its end (jobs/rehearsal.py), wired by the composition root.
AfterStage = Callable[[StageContext, str, dict[str, Any]], Awaitable[None]]


class Engine:
    def __init__(self, services: Services, executors: dict[str, Executor], after_stage: AfterStage | None = None):
        self.services = services
        self.executors = executors
        self.after_stage = after_stage
        # Called once a stage is claimed, before it runs: the scheduler lets another worker
        # look for the next due stage (STAGE_CONCURRENCY), so stages due together overlap.
        self.on_claim: Callable[[], None] = lambda: None

    async def run_one(self) -> bool:
        """Claim and run one due stage; False when nothing is due. Safe to call concurrently:
        each call claims a different row (SKIP LOCKED), and never a stage of a round whose
        earlier due stage is still pending (the claim query), so a round's stages keep their order."""
        services = self.services
        async with services.pool.acquire() as connection, connection.transaction():
            now = services.clock.now()
            run = await connection.fetchrow(Q.claim_due_stage, now)
            if run is None:
                return False
            self.on_claim()
            round_row = await connection.fetchrow(Q.round_by_id, run["round_id"])
            campaign = await connection.fetchrow(Q.campaign_of_round, round_row["id"])  # a rehearsal's too
            ctx = StageContext(services, connection, run, round_row, campaign, now)
            with bind_round(campaign["name"], round_row["number"]), \
                    structlog.contextvars.bound_contextvars(**_rehearsal_of(round_row)):
                await self._execute(ctx)
        if run["stage"] == "launch":
            # Test-only: the outcome (and the confirmation in the outbox) is committed, not yet posted.
            failpoint("after_send_recorded")
        return True

    async def _execute(self, ctx: StageContext) -> None:
        stage = ctx.run["stage"]
        executor = self.executors.get(stage)
        try:
            # A savepoint: a failing executor's writes are undone, the failure is still recorded.
            async with ctx.connection.transaction():
                outcome = await executor(ctx) if executor else not_implemented(stage)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried, never lost
            await self._record_failure(ctx, exc)
            return
        await self._record_outcome(ctx, outcome)

    async def _record_outcome(self, ctx: StageContext, outcome: Outcome) -> None:
        run, now, stage = ctx.run, ctx.now, ctx.run["stage"]
        STAGE_RUNS.labels(stage, outcome.state).inc()
        if outcome.state == "wait":
            assert outcome.wait_until is not None
            await ctx.connection.execute(Q.stage_wait_until, run["id"], outcome.wait_until, outcome.result, now)
            log.info("stage waiting", stage=stage, until=outcome.wait_until.isoformat(), result=outcome.result)
            return
        await ctx.connection.execute(Q.stage_finish, run["id"], outcome.state, outcome.result, ctx.is_late, now)
        await audit(
            ctx.connection, now=now, actor="system", action=f"stage {stage} {outcome.state.replace('_', ' ')}",
            campaign_id=ctx.campaign["id"], round_id=ctx.round["id"],
            detail={**outcome.result, **({"late_by_seconds": int(ctx.late_by.total_seconds())} if ctx.is_late else {})},
        )
        log.info("stage finished", stage=stage, outcome=outcome.state, late=ctx.is_late, result=outcome.result)
        if self.after_stage is not None:
            await self.after_stage(ctx, outcome.state, outcome.result)

    async def _record_failure(self, ctx: StageContext, exc: Exception) -> None:
        run, now, stage = ctx.run, ctx.now, ctx.run["stage"]
        settings = self.services.settings
        error = f"{type(exc).__name__}: {exc}"
        log.error("stage failed", stage=stage, attempt=run["attempts"] + 1, error=error,
                  traceback="".join(traceback.format_exception(exc))[-4000:])
        row = await ctx.connection.fetchrow(
            Q.stage_record_failure, run["id"], error[:2000], now + backoff(run["attempts"] + 1),
            settings.STAGE_MAX_ATTEMPTS, now,
        )
        STAGE_RUNS.labels(stage, "error").inc()
        await audit(ctx.connection, now=now, actor="system", action=f"stage {stage} error",
                    campaign_id=ctx.campaign["id"], round_id=ctx.round["id"],
                    detail={"error": error[:500], "attempt": row["attempts"], "gave_up": row["state"] == "failed"})
        if row["state"] == "failed":
            text = (f"The {STAGE_LABEL[stage]} stage failed {row['attempts']} times and was given up. "
                    f"Last error: {error[:300]}. See `/campaign log \"{ctx.campaign['name']}\"`; "
                    "the runbook says what to check.")
            await outbox.post_in_round_thread(
                ctx.connection, round_id=ctx.round["id"], key=keys.gave_up(ctx.round["id"], stage),
                channel=ctx.campaign["channel"], message=alert(ctx.campaign, ctx.round, text), now=now,
            )
            if self.after_stage is not None:
                await self.after_stage(ctx, "failed", {"error": error[:500]})


def _rehearsal_of(round_row: asyncpg.Record) -> dict[str, Any]:
    """Log lines of a rehearsal's stage say which rehearsal."""
    return {"rehearsal": round_row["rehearsal_id"]} if round_row["rehearsal_id"] is not None else {}


def not_implemented(stage: str) -> Outcome:
    """Stages whose executor is not built yet: recorded visibly, never silently skipped."""
    return Outcome("not_implemented", {"reason": f"the {stage} stage is not implemented in this version"})
