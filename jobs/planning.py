"""Planning a campaign against Mailjet: the ledger, one list and one draft per round, the stages.

Resumable by construction. The campaign row is locked for the whole run (a crash releases
it and the next process resumes); every Mailjet object is recorded the moment it exists,
and each step first looks for what an interrupted run already made:

1. ledger: the master list is streamed page by page into staging tables (COPY), split in
   SQL (FIFO by ContactID, ceil(n/rounds) per round) and written in one transaction;
2. per round, the contacts list `<campaign>-round-N` (found by name, else created), filled
   in chunks with managemanycontacts, waiting for each job;
3. per round, a draft copying the template's settings and content (found by its list,
   else created);
   a create whose answer was lost is found and adopted, never made twice (bot/mailjet.py);
4. the stage runs, the campaign marked planned and the channel told, in one transaction.

Memory stays flat as the list grows: nothing holds more than one page of contacts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bot.campaigns import round_list_name
from bot.logs import bind_round, get_logger
from bot.mailjet import MailjetError
from bot.schedule import STAGES
from bot.services import Services
from bot.messages.common import plural
from bot.messages.rounds import campaign_planned
from storage import outbox
from storage import outbox_keys as keys
from storage.audit import audit
from storage.queries import Q

log = get_logger(__name__)

LIST_CHUNK = 1000
MAX_PLANNING_ATTEMPTS = 5


class PlanningError(Exception):
    """Planning cannot succeed by trying again (an empty round, a template without content)."""


class Planner:
    def __init__(self, services: Services):
        self.services = services

    async def next_due(self) -> datetime | None:
        async with self.services.pool.acquire() as connection:
            return await connection.fetchval(Q.next_planning_due)

    async def run_one(self) -> bool:
        """Plan (or resume planning) one campaign; False when none is waiting."""
        pool, clock = self.services.pool, self.services.clock
        async with pool.acquire() as lock_connection, lock_connection.transaction():
            campaign = await lock_connection.fetchrow(Q.claim_campaign_to_plan, clock.now())
            if campaign is None:
                return False
            with bind_round(campaign["name"]):
                try:
                    template = await self._plan(campaign)
                except Exception as exc:  # noqa: BLE001 - recorded, retried, alerted; never lost
                    await self._record_failure(lock_connection, campaign, exc)
                    return True
                await self._finish(lock_connection, campaign, template)
        return True

    async def _plan(self, campaign: asyncpg.Record) -> dict[str, Any]:
        mailjet = self.services.mailjet
        draft = await mailjet.get_draft(campaign["template_draft_id"])
        content = await mailjet.get_draft_content(campaign["template_draft_id"])
        if not (content.get("Html-part") or content.get("Text-part")):
            raise PlanningError(f"template draft {campaign['template_draft_id']} has no HTML or text content")
        async with self.services.pool.acquire() as connection:
            if not await connection.fetchval(Q.ledger_exists, campaign["id"]):
                await self._write_ledger(connection, campaign)
            for round_row in await connection.fetch(Q.rounds_of_campaign, campaign["id"]):
                round_row = await self._ensure_list(connection, campaign, round_row)
                await self._ensure_draft(connection, campaign, round_row, draft, content)
        return draft

    async def _write_ledger(self, connection: asyncpg.Connection, campaign: asyncpg.Record) -> None:
        campaign_id, list_id = campaign["id"], campaign["master_list_id"]
        mailjet = self.services.mailjet
        await connection.execute(Q.planning_stage_clear, campaign_id)
        await connection.execute(Q.planning_contacts_clear, campaign_id)
        async for page in mailjet.iter_members(list_id):
            await connection.copy_records_to_table(
                "planning_members", columns=["campaign_id", "contact_id", "unsubscribed"],
                records=[(campaign_id, m.contact_id, m.unsubscribed) for m in page],
            )
        async for page in mailjet.iter_contacts(list_id):
            await connection.copy_records_to_table(
                "planning_contacts", columns=["campaign_id", "contact_id", "email", "excluded"],
                records=[(campaign_id, c.contact_id, c.email, c.excluded) for c in page],
            )
        async with connection.transaction():
            await connection.execute(Q.ledger_write, campaign_id, campaign["round_count"], self.services.clock.now())
            counts = await connection.fetch(Q.ledger_round_counts, campaign_id)
            empty = [c["number"] for c in counts if not c["recipient_count"]]
            if empty:
                eligible = sum(c["recipient_count"] for c in counts)
                raise PlanningError(
                    f"{eligible} eligible contacts cannot fill {campaign['round_count']} rounds "
                    f"(round {', '.join(map(str, empty))} would be empty); plan fewer rounds"
                )
        log.info("ledger written", rounds={c["number"]: c["recipient_count"] for c in counts})

    async def _ensure_list(self, connection: asyncpg.Connection, campaign: asyncpg.Record, round_row: asyncpg.Record) -> asyncpg.Record:
        mailjet, clock = self.services.mailjet, self.services.clock
        if round_row["mailjet_list_id"] is None:
            name = round_list_name(campaign["name"], round_row["number"])
            list_id, found = await mailjet.ensure_list(name)
            await connection.execute(Q.round_set_list, round_row["id"], list_id)
            log.info("round list recorded", round=round_row["number"], list_id=list_id, adopted=found)
        round_row = await connection.fetchrow(Q.round_by_id, round_row["id"])
        if round_row["list_filled_at"] is None:
            after = 0
            while True:
                page = await connection.fetch(Q.ledger_emails_page, round_row["id"], after, LIST_CHUNK)
                if not page:
                    break
                job = await mailjet.add_contacts(round_row["mailjet_list_id"], [r["email"] for r in page], action="addforce")
                await mailjet.wait_for_job(round_row["mailjet_list_id"], job)
                after = page[-1]["contact_id"]
            await connection.execute(Q.round_list_filled, round_row["id"], clock.now())
            round_row = await connection.fetchrow(Q.round_by_id, round_row["id"])
        return round_row

    async def _ensure_draft(self, connection: asyncpg.Connection, campaign: asyncpg.Record, round_row: asyncpg.Record,
                            template: dict[str, Any], content: dict[str, Any]) -> None:
        mailjet, clock = self.services.mailjet, self.services.clock
        if round_row["mailjet_draft_id"] is None:
            draft_id, found = await mailjet.ensure_draft(round_row["mailjet_list_id"], _draft_settings(campaign, round_row, template))
            await connection.execute(Q.round_set_draft, round_row["id"], draft_id)
            log.info("round draft recorded", round=round_row["number"], draft_id=draft_id, adopted=found)
            round_row = await connection.fetchrow(Q.round_by_id, round_row["id"])
        if round_row["draft_content_at"] is None:
            body = {"Html-part": content.get("Html-part") or "", "Text-part": content.get("Text-part") or ""}
            if content.get("Headers"):
                body["Headers"] = content["Headers"]
            await mailjet.set_draft_content(round_row["mailjet_draft_id"], body)
            await connection.execute(Q.round_draft_content_set, round_row["id"], clock.now())

    async def _finish(self, connection: asyncpg.Connection, campaign: asyncpg.Record, template: dict[str, Any]) -> None:
        now = self.services.clock.now()
        offsets = {stage: timedelta(seconds=seconds) for stage, seconds in campaign["offsets"].items()}
        rounds = await connection.fetch(Q.rounds_of_campaign, campaign["id"])
        for r in rounds:
            await connection.execute(
                Q.stage_runs_insert, r["id"], list(STAGES), [r["scheduled_at"] + offsets[s] for s in STAGES]
            )
        counts = await connection.fetchrow(Q.planning_counts, campaign["id"])
        eligible = sum(r["recipient_count"] or 0 for r in rounds)
        await connection.execute(Q.campaign_ledger_written, campaign["id"], now, eligible, max(counts["members"] - eligible, 0))
        # On the lock's connection: the campaign row is ours (an UPDATE elsewhere would wait on it).
        await connection.execute(Q.campaign_count_revalidated, campaign["id"], now)
        await connection.execute(Q.planning_stage_clear, campaign["id"])
        await connection.execute(Q.planning_contacts_clear, campaign["id"])
        await connection.execute(
            Q.campaign_set_template_facts, campaign["id"], template.get("Subject"),
            template.get("SenderName") or template.get("Sender"), template.get("SenderEmail"),
        )
        await connection.execute(Q.campaign_planned, campaign["id"], now)
        campaign = await connection.fetchrow(Q.campaign_by_id, campaign["id"])
        await audit(connection, now=now, actor="system", action="campaign planned", campaign_id=campaign["id"],
                    detail={"summary": f"{plural(eligible, 'recipient')} in {plural(len(rounds), 'round')}",
                            "eligible": eligible, "revalidated": campaign["revalidated_contacts"] or 0,
                            "rounds": {r["number"]: r["recipient_count"] for r in rounds}, "ledger_rows": counts["eligible"]})
        await outbox.enqueue(connection, key=keys.planned(campaign["id"]), channel=campaign["channel"],
                             message=campaign_planned(campaign, rounds), now=now)
        log.info("campaign planned", eligible=eligible)

    async def _record_failure(self, connection: asyncpg.Connection, campaign: asyncpg.Record, exc: Exception) -> None:
        now = self.services.clock.now()
        error = str(exc) if isinstance(exc, (PlanningError, MailjetError)) else f"{type(exc).__name__}: {exc}"
        # A PlanningError cannot be fixed by waiting: give up on this attempt.
        max_attempts = campaign["planning_attempts"] + 1 if isinstance(exc, PlanningError) else MAX_PLANNING_ATTEMPTS
        delay = timedelta(seconds=min(15 * 2 ** campaign["planning_attempts"], 600))
        row = await connection.fetchrow(
            Q.campaign_planning_failed, campaign["id"], error[:1000], now + delay, max_attempts
        )
        log.error("planning failed", error=error, attempts=row["planning_attempts"], gave_up=row["planning_state"] == "failed")
        await audit(connection, now=now, actor="system", action="planning error", campaign_id=campaign["id"],
                    detail={"error": error[:500], "attempt": row["planning_attempts"], "gave_up": row["planning_state"] == "failed"})
        if row["planning_state"] == "failed":
            await outbox.enqueue(
                connection, key=keys.planning_failed(campaign["id"]), channel=campaign["channel"], now=now,
                message=outbox.SlackMessage(
                    text=f":rotating_light: Planning *{campaign['name']}* failed: {error[:500]}. Nothing will be sent "
                         f"for it. Fix the cause and plan it again under another name (see the runbook)."),
            )


def _draft_settings(campaign: asyncpg.Record, round_row: asyncpg.Record, template: dict[str, Any]) -> dict[str, Any]:
    """The round's draft: the template's settings, attached to the round's own list."""
    settings = {
        "Title": f"{campaign['name']} — round {round_row['number']}",
        "Locale": template.get("Locale") or "en_GB",
        "Sender": template.get("Sender") or template.get("SenderName") or "",
        "SenderName": template.get("SenderName") or template.get("Sender") or "",
        "SenderEmail": template.get("SenderEmail"),
        "Subject": template.get("Subject"),
        "ContactsListID": round_row["mailjet_list_id"],
    }
    if template.get("ReplyEmail"):
        settings["ReplyEmail"] = template["ReplyEmail"]
    return settings
