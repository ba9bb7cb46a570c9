"""The scheduler: an alarm clock, not a source of truth ("the in-process scheduler only wakes the bot
up; what is due is read from the database").

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
# An item already due that the work could not take is held by someone else (SKIP LOCKED); its
# end wakes every replica by NOTIFY. A crash ends it without one: look again after this.
HELD_RECHECK = timedelta(seconds=1)


class WorkLoop:
    """Runs `work()` until it has nothing left, then sleeps until `next_due()` or a wake().

    With `concurrency` above 1, up to that many workers call `work()` at once. A wake starts a
    worker; `claimed()` (called by the work when it has just taken an item) starts one more,
    so a burst of due items fans out within a few claims while an idle wake costs one look.
    Each worker stops when `work()` finds nothing, and arms the timer as it goes.
    """

    def __init__(self, name: str, services: Services, aps: AsyncIOScheduler,
                 work: Callable[[], Awaitable[bool]], next_due: Callable[[], Awaitable[datetime | None]],
                 *, concurrency: int = 1):
        self.name = name
        self.services = services
        self.aps = aps
        self.work = work
        self.next_due = next_due
        self.concurrency = max(concurrency, 1)
        self.stopping = False
        self._again = False
        self._workers: set[asyncio.Task[None]] = set()

    def wake(self, reason: str = "notify") -> None:
        """Run soon; workers already running go round once more."""
        if self.stopping:
            return
        SCHEDULER_TICKS.labels(reason).inc()
        self._again = True
        if len(self._workers) < self.concurrency:
            self._spawn()

    def claimed(self) -> None:
        """The work has just taken an item: more may be waiting, so one more worker looks."""
        if not self.stopping and len(self._workers) < self.concurrency:
            self._spawn()

    def _spawn(self) -> None:
        self._workers.add(asyncio.ensure_future(self._worker()))

    async def _timer(self) -> None:
        # A coroutine, so APScheduler runs it on the event loop rather than in a thread.
        self.wake("timer")

    async def _worker(self) -> None:
        current = asyncio.current_task()
        try:
            while not self.stopping:
                self._again = False
                looked_at = self.services.clock.now()
                try:
                    while not self.stopping:
                        looked_at = self.services.clock.now()
                        if not await self.work():
                            break
                except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the loop
                    log.error("work loop error", loop=self.name, error=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(1)
                    self._again = True
                if self._again or self.stopping:
                    continue
                # Every worker that runs out arms the (one) timer: one still busy on a long item
                # must not keep a later due instant from being armed.
                await self._arm(looked_at)
                if not self._again:
                    return
                # Woken while arming: the look that armed may have missed it; go round once more.
        finally:
            self._workers.discard(current)  # type: ignore[arg-type]

    async def _arm(self, looked_at: datetime) -> None:
        """Arm the one-shot wake-up at the next due instant. An instant that was already due
        when the work last looked and found nothing belongs to an item someone holds (another
        worker, another replica, or an earlier stage of the same round running): its end will
        NOTIFY. Look again after HELD_RECHECK all the same (a crash ends it without one), rather
        than at once and again in a busy loop."""
        try:
            due = await self.next_due()
        except Exception as exc:  # noqa: BLE001
            log.error("could not read the next due instant", loop=self.name, error=str(exc))
            due = None
        test_clock = self.services.clock.is_test_clock
        cap = MAX_SLEEP_TEST_CLOCK if test_clock else MAX_SLEEP
        if due is not None and due <= looked_at:
            delay = MAX_SLEEP_TEST_CLOCK if test_clock else HELD_RECHECK
        else:
            delay = cap if due is None else min(max(due - self.services.clock.now(), timedelta(0)), cap)
        run_at = datetime.now(UTC) + delay
        self.aps.add_job(self._timer, "date", run_date=run_at, id=f"wake-{self.name}",
                         replace_existing=True, misfire_grace_time=None, coalesce=True)

    async def drain(self, timeout: float) -> None:
        """Stop starting work and wait (bounded) for every worker in progress."""
        self.stopping = True
        running = [w for w in self._workers if not w.done()]
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=timeout)  # never cancels them
        if pending:
            log.warning("work still running at shutdown; it will be resumed by the next process",
                        loop=self.name, unfinished=len(pending))


class Scheduler:
    """Owns APScheduler, the LISTEN connection and three loops: planning, stages, outbox,
    plus the weekly summary's when it is on.

    Planning has its own loop so that planning a large list never delays a due stage. The
    stages loop runs up to `stage_concurrency` stages at once; planning and the outbox one.
    """

    Work = Callable[[], Awaitable[bool]]
    NextDue = Callable[[], Awaitable[datetime | None]]

    def __init__(self, services: Services, *, planning: tuple[Work, NextDue], stages: tuple[Work, NextDue],
                 outbox: tuple[Work, NextDue], summary: tuple[Work, NextDue] | None = None,
                 stage_concurrency: int = 1):
        self.services = services
        self.aps = AsyncIOScheduler(timezone=UTC)
        self.planning = WorkLoop("planning", services, self.aps, *planning)
        # Stages due together run side by side (STAGE_CONCURRENCY), each on its own claim.
        self.stages = WorkLoop("stages", services, self.aps, *stages, concurrency=stage_concurrency)
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
