"""Bad `/campaign new` commands through `campaign-bot run`: each gets a precise ephemeral
error and nothing is written, neither in Postgres nor in Mailjet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.support.harness import OPERATOR, STRANGER
from tests.support.world import seed_account

pytestmark = pytest.mark.slow


def future(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def malformed(list_id: int, draft_id: int) -> list[tuple[str, str]]:
    ok = f"list={list_id} draft={draft_id}"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    return [
        ("new", "not a /campaign subcommand"),  # 'new' alone opens the modal; see the last case
        (f'new "Unclosed {ok}', "is not closed"),
        (f"new X draft={draft_id}", "`list=` is required"),
        (f"new X list={list_id}", "`draft=` is required"),
        (f"new X {ok} colour=red", "`colour=` is not an option"),
        (f"new X {ok} rounds=3 rounds=4", "given twice"),
        (f"new X {ok} rounds=", "has no value"),
        (f"new X list=abc draft={draft_id}", "must be a Mailjet id"),
        (f"new X list={list_id} draft=-4", "must be a Mailjet id"),
        (f"new X {ok} rounds=0", "from 1 to 20"),
        (f"new X {ok} rounds=21", "from 1 to 20"),
        (f"new X {ok} rounds=x", "from 1 to 20"),
        (f"new X {ok} rounds=2 at={future(2)}", "gives 1 instants for 2 rounds"),
        (f"new X {ok} at={future(3)},{future(2)}", "must be in order"),
        (f"new X {ok} at={future(2)},{future(2)}", "same instant twice"),
        (f"new X {ok} at=tomorrow", "not an ISO 8601"),
        (f"new X {ok} at=2030-01-01", "has no time of day"),
        (f"new X {ok} tz=Mars/Olympus", "not a time zone"),
        (f"new X {ok} days=tue,funday", "days must be a list"),
        (f"new X {ok} time=25:00", "HH:MM"),
        (f"new X {ok} window=0m", "window= must be positive"),
        (f"new X {ok} window=forever", "not a duration"),
        (f"new X {ok} approval=maybe", "required or auto"),
        (f"new X {ok} offsets=launch:-1h", "no offset"),
        (f"new X {ok} offsets=warning:+5m", "must come before the send"),
        (f"new X {ok} offsets=lunch:-1h", "not a stage"),
        (f"new X {ok} start=31/12/2026", "YYYY-MM-DD"),
        (f"new X {ok} start={yesterday}", "is in the past"),
        (f"new X {ok} at=2020-01-01T09:15:00Z", "is not in the future"),
        (f"new X list=999999 draft={draft_id}", "Mailjet has no contacts list with that id"),
        (f"new X list={list_id} draft=999999", "Mailjet has no campaign draft with that id"),
        (f"new X {ok} rounds=20", "not enough for 20 rounds"),
        (f'new "Taken Name" {ok}', "already exists"),
        (f'new "Clash" {ok}', "a Mailjet list named `Clash-round-1` already exists"),
    ]


async def test_malformed_new_commands_get_precise_errors_and_write_nothing(bot_factory, slack, mailjet, database):
    account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    mailjet.create_list("Clash-round-1")
    connection = await asyncpg.connect(database)
    await connection.execute(
        "INSERT INTO campaigns (name, master_list_id, template_draft_id, round_count, timezone, send_days, send_time, "
        "offsets, launch_window, approval_policy, channel, created_by, created_at, planning_state) VALUES "
        "('Taken Name', 1, 1, 1, 'Europe/London', '{tue}', '09:15', '{}', '2h', 'required', '#_traction', 'U1', now(), 'failed')")
    before = await connection.fetchval("SELECT count(*) FROM campaigns")
    await bot_factory()
    lists_before = len(mailjet.lists())
    drafts_before = len(mailjet.drafts())

    cases = malformed(account.master_list, account.template_draft)
    cases[0] = ("plan X", "not a /campaign subcommand")
    assert len(cases) >= 30
    for text, expected in cases:
        envelope = await slack.send_slash_command(text, user_id=OPERATOR)
        ack = await slack.wait_ack(envelope, timeout=3)
        reply = (ack.get("payload") or {}).get("text")
        if not reply:
            found = await slack.wait_for(lambda: [r for r in slack.responses if r.get("envelope_id") == envelope and r.get("text")], timeout=10)
            reply = found[0]["text"]
            assert found[0]["response_type"] == "ephemeral"
        assert expected in reply, f"{text!r}: {reply!r}"
        assert "Usage" in reply or "/campaign help" in reply, reply

    assert await connection.fetchval("SELECT count(*) FROM campaigns") == before
    assert await connection.fetchval("SELECT count(*) FROM rounds") == 0
    assert await connection.fetchval("SELECT count(*) FROM audit_log") == 0
    assert len(mailjet.lists()) == lists_before and len(mailjet.drafts()) == drafts_before
    assert slack.channel_messages() == []  # errors are ephemeral
    await connection.close()


async def test_a_stranger_cannot_plan(bot_factory, slack, mailjet, database):
    account = seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0)
    await bot_factory()
    envelope = await slack.send_slash_command(
        f"new X list={account.master_list} draft={account.template_draft} at={future(2)} rounds=1", user_id=STRANGER)
    ack = await slack.wait_ack(envelope)
    assert "needs the operator role" in ack["payload"]["text"]
    connection = await asyncpg.connect(database)
    assert await connection.fetchval("SELECT count(*) FROM campaigns") == 0
    await connection.close()
