"""Driving a campaign through `campaign-bot run` in end-to-end tests: plan it, move the
shared clock to an instant, click buttons, read the round back from the database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bot.clock import write_test_clock_offset
from storage.database import connect
from standins.mailjet import MailjetStandin
from standins.slack import Message, SlackStandin
from tests.support.harness import APPROVER, OPERATOR
from tests.support.world import TEST_OFFSETS, Account, iso, lifecycle, seed_account, stage_messages


@dataclass
class Flow:
    slack: SlackStandin
    mailjet: MailjetStandin
    database: str
    clock_file: Any
    name: str = "Winter Letter"
    account: Account | None = None
    at: list[datetime] | None = None

    def move_to(self, instant: datetime) -> None:
        """Set every process's clock (bot and Mailjet stand-in) to `instant`, and let it run on."""
        write_test_clock_offset(self.clock_file, (instant - datetime.now(UTC)).total_seconds())

    async def plan(self, *, rounds: int = 2, first_in: timedelta = timedelta(hours=2),
                   spacing: timedelta = timedelta(hours=1), extra: str = "", contacts: int = 12,
                   account: Account | None = None) -> None:
        self.account = account or seed_account(self.mailjet, contacts=contacts, unsubscribed=0, excluded=0)
        start = datetime.now(UTC).replace(microsecond=0) + first_in
        self.at = [start + spacing * i for i in range(rounds)]
        text = (f'new "{self.name}" list={self.account.master_list} draft={self.account.template_draft} '
                f'at={",".join(iso(i) for i in self.at)} offsets={TEST_OFFSETS} window=30m {extra}')
        reply = await self.command(text)
        assert "Planning" in reply, reply
        await self.slack.wait_for(lambda: [m for m in self.slack.messages if f"*{self.name}* planned" in (m.text or "")], timeout=30)

    async def command(self, text: str, user: str = OPERATOR) -> str:
        envelope = await self.slack.send_slash_command(text, user_id=user)
        ack = await self.slack.wait_ack(envelope, timeout=3)
        if ack.get("payload") and ack["payload"].get("text"):
            return ack["payload"]["text"]
        responses = await self.slack.wait_for(
            lambda: [r for r in self.slack.responses if r.get("envelope_id") == envelope and r.get("text")], timeout=15)
        return responses[0]["text"]

    async def click(self, action_id: str, message: Message, user: str = APPROVER) -> str:
        round_id = await self.round_id(lifecycle(message)["round"])
        # The button as the user saw it: if the outbox has since updated the message and removed the
        # button, the click still carries that button's block_id (a click on a stale message), so the
        # answer does not depend on whether the update won the race.
        shown = [block["block_id"] for block in message.blocks or [] if block.get("type") == "actions"
                 and any(e.get("action_id") == action_id for e in block.get("elements", []))]
        envelope = await self.slack.send_block_action(action_id, str(round_id), user_id=user, message_ts=message.ts,
                                                      channel_id=message.channel, **({"block_id": shown[0]} if shown else {}))
        await self.slack.wait_ack(envelope, timeout=3)
        responses = await self.slack.wait_for(
            lambda: [r for r in self.slack.responses if r.get("envelope_id") == envelope and r.get("text")], timeout=15)
        return responses[0]["text"]

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record:
        connection = await connect(self.database)
        try:
            return await connection.fetchrow(sql, *args)
        finally:
            await connection.close()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        connection = await connect(self.database)
        try:
            return await connection.fetch(sql, *args)
        finally:
            await connection.close()

    async def round(self, number: int) -> asyncpg.Record:
        return await self.fetchrow("SELECT r.* FROM rounds r JOIN campaigns c ON c.id = r.campaign_id "
                                   "WHERE c.name = $1 AND r.number = $2", self.name, number)

    async def round_id(self, number: int) -> int:
        return (await self.round(number))["id"]

    async def wait_state(self, number: int, *states: str, timeout: float = 15) -> asyncpg.Record:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            row = await self.round(number)
            if row["state"] in states:
                return row
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"round {number} is {row['state']}, expected {states}")
            await asyncio.sleep(0.1)

    async def wait_campaign_id(self, number: int, timeout: float = 20) -> asyncpg.Record:
        """The round once the bot has read its Mailjet campaign id (Mailjet sends in the
        background: the id comes a few seconds after the accepted send)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            row = await self.round(number)
            if row["mailjet_campaign_id"]:
                return row
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"round {number} ({row['state']}) has no Mailjet campaign id after {timeout}s")
            await asyncio.sleep(0.1)

    def preflight_messages(self, number: int) -> list[Message]:
        return [m for m in stage_messages(self.slack, "preflight", number)
                if any(b.get("type") == "actions" for b in (m.blocks or []))]

    async def ready(self, number: int) -> Message:
        """Move to just after round `number`'s pre-flight and return its result message."""
        assert self.at is not None
        self.move_to(self.at[number - 1] - timedelta(minutes=29))
        await self.wait_state(number, "ready")
        messages = await self.slack.wait_for(lambda: self.preflight_messages(number), timeout=10)
        return messages[-1]

    async def approve(self, number: int) -> None:
        message = await self.ready(number)
        reply = await self.click("approve_launch", message)
        assert "Approved" in reply, reply
        await self.wait_state(number, "approved")

    def sends(self, number_or_draft: int) -> list[dict[str, Any]]:
        return [s for s in self.mailjet.sends if s["draft_id"] == number_or_draft]

    async def draft_sends(self, number: int) -> list[dict[str, Any]]:
        return self.sends((await self.round(number))["mailjet_draft_id"])

    def confirmations(self, number: int) -> list[Message]:
        return stage_messages(self.slack, "launch", number)

    def alerts(self, number: int) -> list[Message]:
        return stage_messages(self.slack, "alert", number)
