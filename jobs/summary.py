"""The weekly summary job: one top-level post per week at WEEKLY_SUMMARY in DEFAULT_TIMEZONE
("posted once per week even with several replicas or a restart"), driven by its own loop of the scheduler (jobs/scheduler.py).

Posted once per week whatever the number of replicas or restarts: the week's row in
`weekly_summaries` is inserted (ON CONFLICT DO NOTHING) in the same transaction that queues
the post and its chart in the outbox. A replica that loses the insert does nothing; a
process that dies before the commit leaves no row and no post, and the next one does both.
What is due is read from the database (has this week's row been written?); the instants
come from the setting (bot/summary.py), so a changed setting needs no migration of rows.

Late policy (bot/summary.py): posted, marked late, until the end of its local day; after
that it is recorded as skipped (when earlier summaries exist, so a fresh install records
nothing) and the next week's comes as usual.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot import summary as rules
from bot.messages.summary import build_summary
from bot.failpoints import failpoint
from bot.logs import get_logger
from bot.services import Services
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.outbox import SlackMessage
from storage.queries import Q

log = get_logger(__name__)

# After a failed attempt (the database or the chart failed), look again this much later.
RETRY_AFTER = timedelta(seconds=60)
ROWS = 50


class WeeklySummaryJob:
    def __init__(self, services: Services, slot: rules.WeeklySlot):
        self.services = services
        self.slot = slot
        self.zone = services.default_zone
        self._retry_at: datetime | None = None

    async def next_due(self) -> datetime | None:
        """This week's instant while its summary is owed (not written, before the cut-off); else next week's."""
        now = self.services.clock.now()
        week, instant = rules.latest_due(self.slot, self.zone, now)
        owed = now < rules.cutoff(instant, self.zone)
        if owed:
            async with self.services.pool.acquire() as connection:
                owed = not await connection.fetchval(Q.weekly_summary_done, week)
        due = instant if owed else rules.next_due(self.slot, self.zone, now)[1]
        return max(due, self._retry_at) if self._retry_at else due

    async def run_one(self) -> bool:
        """Post (or skip) the summary that is owed now, if any. Always False: one per week."""
        now = self.services.clock.now()
        if self._retry_at is not None and now < self._retry_at:
            return False
        try:
            await self._run(now)
            self._retry_at = None
        except Exception as exc:  # noqa: BLE001 - logged, tried again in a minute; the loop stays alive
            self._retry_at = now + RETRY_AFTER
            log.error("weekly summary failed; trying again", error=f"{type(exc).__name__}: {exc}")
        return False

    async def _run(self, now: datetime) -> None:
        week, instant = rules.latest_due(self.slot, self.zone, now)
        services = self.services
        async with services.pool.acquire() as connection, connection.transaction():
            if await connection.fetchval(Q.weekly_summary_done, week):
                return
            if now >= rules.cutoff(instant, self.zone):
                # Missed by more than the cut-off: record it once (if the bot posted summaries before) and move on.
                if await connection.fetchval(Q.weekly_summary_any_before, week):
                    row = await Q.weekly_summary_claim.fetchrow(
                        connection, week=week, due_at=instant, state="skipped", late=True, now=now,
                        done_by=services.instance_id, detail={"reason": "missed past the cut-off"})
                    if row is not None:
                        await audit(connection, now=now, actor="system", action="weekly summary skipped",
                                    detail={"summary": f"week of {week}: due {instant.isoformat()}, the bot was not running "
                                                       "until after the end of that day"})
                        log.warning("weekly summary skipped: missed past the cut-off", week=str(week))
                return
            before, _, after = rules.covered(instant, self.zone)
            sent = await connection.fetch(Q.summary_sent_rounds, before, instant, now, ROWS)
            upcoming = await connection.fetch(Q.summary_upcoming_rounds, instant, after, ROWS)
            built = build_summary(
                week=week, instant=instant, posted_at=now, zone=self.zone, sent=sent,
                sent_total=sent[0]["total"] if sent else 0, upcoming=upcoming,
                upcoming_total=upcoming[0]["total"] if upcoming else 0,
            )
            late = bool(built.metadata["event_payload"]["late"])
            claimed = await Q.weekly_summary_claim.fetchrow(
                connection, week=week, due_at=instant, state="posted", late=late, now=now, done_by=services.instance_id,
                detail={"sent": built.metadata["event_payload"]["sent_rounds"],
                        "upcoming": built.metadata["event_payload"]["upcoming_rounds"]})
            if claimed is None:
                return  # another replica wrote it while this one was reading
            channel = services.settings.CAMPAIGN_CHANNEL
            key = keys.weekly_summary(week)
            await outbox.enqueue(connection, key=key, channel=channel, now=now,
                                 message=SlackMessage(text=built.text, blocks=built.blocks, metadata=built.metadata))
            if built.chart_rounds:
                from bot.chart import render_rates_chart  # matplotlib is heavy: only the drawing job pays

                png = await asyncio.to_thread(render_rates_chart, built.chart_rounds, f"Rounds sent in the week before {week}",
                                              built.chart_labels)
                await outbox.upload(connection, key=keys.weekly_summary_chart(week), channel=channel, thread_key=key,
                                    filename=f"weekly-summary-{week}.png", title=f"Rates of the rounds sent before {week}",
                                    content=png, comment="Delivery, bounce, open and click rates of the week's sent rounds.",
                                    now=now)
            await audit(connection, now=now, actor="system", action="weekly summary posted",
                        detail={"summary": f"week of {week}" + (" (late)" if late else ""), "week": str(week), "late": late})
            failpoint("weekly_summary_claimed")  # test-only: die before the commit
        log.info("weekly summary queued", week=str(week), late=late)
