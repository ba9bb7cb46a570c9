"""The scheduler: an alarm clock, not a source of truth (PRODUCT.md invariant 1).

APScheduler 3 (in-memory, AsyncIOScheduler) holds exactly two kinds of one-shot wake-ups:
"the next stage is due at T" and "the next outbox message is due at T". What is due is
always read from Postgres. Wake-ups also come from LISTEN/NOTIFY, so work that another
replica inserts is seen at once. A restart rebuilds nothing but the next wake-up: the
schedule lives in the database and cannot be duplicated or lost by a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.logs import get_logger
from bot.metrics import SCHEDULER_TICKS
from bot.services import Services
from storage.database import connect

log = get_logger(__name__)

# Safety net if a notification is ever lost (a dropped LISTEN connection): look again at
# least this often. Not a poll for timing: due instants are armed exactly.
MAX_SLEEP = timedelta(seconds=30)
# With the test clock time can jump, so wake-ups cannot be trusted to real time.
MAX_SLEEP_TEST_CLOCK = timedelta(seconds=0.2)


class WorkLoop:
    """Runs `work()` until it has nothing left, then sleeps until `next_due()` or a wake()."""

    def __init__(self, name: str, services: Services, aps: AsyncIOScheduler,
                 work: Callable[[], Awaitable[bool]], next_due: Callable[[], Awaitable[datetime | None]]):
        self.name = name
        self.services = services
        self.aps = aps
        self.work = work
        self.next_due = next_due
        self.stopping = False
        self._lock = asyncio.Lock()
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def wake(self, reason: str = "notify") -> None:
        """Run soon; if a run is in progress it goes round once more."""
        if self.stopping:
            return
        SCHEDULER_TICKS.labels(reason).inc()
        self._again = True
        if not self._lock.locked():
            self._task = asyncio.ensure_future(self._run())

    async def _timer(self) -> None:
        # A coroutine, so APScheduler runs it on the event loop rather than in a thread.
        self.wake("timer")

    async def _run(self) -> None:
        async with self._lock:
            while self._again and not self.stopping:
                self._again = False
                try:
                    while not self.stopping and await self.work():
                        pass
                except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the loop
                    log.error("work loop error", loop=self.name, error=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(1)
                    self._again = True
            if not self.stopping:
                await self._arm()

    async def _arm(self) -> None:
        try:
            due = await self.next_due()
        except Exception as exc:  # noqa: BLE001
            log.error("could not read the next due instant", loop=self.name, error=str(exc))
            due = None
        cap = MAX_SLEEP_TEST_CLOCK if self.services.clock.is_test_clock else MAX_SLEEP
        delay = cap if due is None else min(max(due - self.services.clock.now(), timedelta(0)), cap)
        run_at = datetime.now(UTC) + delay
        self.aps.add_job(self._timer, "date", run_date=run_at, id=f"wake-{self.name}",
                         replace_existing=True, misfire_grace_time=None, coalesce=True)

    async def drain(self, timeout: float) -> None:
        """Stop starting work and wait (bounded) for the run in progress."""
        self.stopping = True
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                log.warning("work still running at shutdown; it will be resumed by the next process", loop=self.name)


class Scheduler:
    """Owns APScheduler, the LISTEN connection and three loops: planning, stages, outbox,
    plus the weekly summary's when it is on.

    Planning has its own loop so that planning a large list never delays a due stage.
    """

    Work = Callable[[], Awaitable[bool]]
    NextDue = Callable[[], Awaitable[datetime | None]]

    def __init__(self, services: Services, *, planning: tuple[Work, NextDue], stages: tuple[Work, NextDue],
                 outbox: tuple[Work, NextDue], summary: tuple[Work, NextDue] | None = None):
        self.services = services
        self.aps = AsyncIOScheduler(timezone=UTC)
        self.planning = WorkLoop("planning", services, self.aps, *planning)
        self.stages = WorkLoop("stages", services, self.aps, *stages)
        self.outbox = WorkLoop("outbox", services, self.aps, *outbox)
        self.loops: tuple[WorkLoop, ...] = (self.planning, self.stages, self.outbox)
        if summary is not None:  # WEEKLY_SUMMARY; off → no loop
            self.loops += (WorkLoop("summary", services, self.aps, *summary),)
        self._listener: asyncpg.Connection | None = None
        self._listen_dsn: str | None = None

    async def start(self, dsn: str) -> None:
        self._listen_dsn = dsn
        await self._listen()
        self.aps.start()
        for loop in self.loops:
            loop.wake("start")
        self.services.health.scheduler = True

    async def _listen(self) -> None:
        assert self._listen_dsn is not None
        self._listener = await connect(self._listen_dsn)
        await self._listener.add_listener("campaign_bot_wake", self._on_wake)
        await self._listener.add_listener("campaign_bot_outbox", lambda *_: self.outbox.wake("notify"))
        self._listener.add_termination_listener(lambda *_: self._on_listener_lost())

    def _on_wake(self, connection: object, pid: int, channel: str, payload: str) -> None:
        (self.planning if payload.startswith("campaign:") else self.stages).wake("notify")

    def _on_listener_lost(self) -> None:
        if self.stages.stopping:
            return
        log.warning("LISTEN connection lost; reconnecting")
        asyncio.ensure_future(self._relisten())

    async def _relisten(self) -> None:
        for attempt in range(1, 1000):
            try:
                await self._listen()
                for loop in self.loops:
                    loop.wake("relisten")
                return
            except Exception as exc:  # noqa: BLE001
                log.warning("LISTEN reconnect failed", attempt=attempt, error=str(exc))
                await asyncio.sleep(min(attempt, 10))

    @property
    def running(self) -> bool:
        return self.aps.running and not self.stages.stopping

    async def stop(self, grace_seconds: float) -> None:
        self.services.health.scheduler = False
        for loop in self.loops:
            loop.stopping = True
        if self.aps.running:
            self.aps.shutdown(wait=False)
        await asyncio.gather(*(loop.drain(grace_seconds) for loop in self.loops))
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
