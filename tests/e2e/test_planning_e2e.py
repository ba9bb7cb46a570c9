"""Planning and the lifecycle engine through `campaign-bot run`: the ledger, one list and one
draft per round in Mailjet, threaded stage messages exactly once, restarts, replicas, a
crash in the middle of planning."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import asyncpg
import pytest

from standins.mailjet import MailjetStandin
from tests.support.harness import OPERATOR, BotProcess
from tests.support.world import TEST_OFFSETS, instants, iso, lifecycle, seed_account, stage_messages

pytestmark = pytest.mark.slow


async def plan(slack, name: str, account, at: list, *, extra: str = "") -> str:
    text = (f'new "{name}" list={account.master_list} draft={account.template_draft} '
            f'at={",".join(iso(i) for i in at)} offsets={TEST_OFFSETS} {extra}')
    envelope = await slack.send_slash_command(text, user_id=OPERATOR)
    ack = await slack.wait_ack(envelope, timeout=3)
    assert ack["latency"] < 3
    reply = await slack.wait_for(lambda: [r for r in slack.responses if r.get("envelope_id") == envelope and r.get("text")], timeout=10)
    assert "Planning" in reply[0]["text"], reply[0]["text"]
    return envelope


async def wait_planned(slack, name: str, timeout: float = 30) -> None:
    await slack.wait_for(lambda: [m for m in slack.messages if f"*{name}* planned" in (m.text or "")], timeout=timeout)


async def test_plan_split_lists_drafts_and_threaded_stages(bot_factory, slack, mailjet, database):
    account = seed_account(mailjet, contacts=31)
    connection = await asyncpg.connect(database)
    suppressed = account.contact_ids[20]
    await connection.execute(
        "INSERT INTO suppressions (contact_id, email, reason, first_seen, last_seen, permanent) "
        "VALUES ($1, $2, 'hard_bounce', now(), now(), true)", suppressed, f"user{suppressed}@example.com")
    bot: BotProcess = await bot_factory()
    at = instants(timedelta(hours=2), 3)
    await plan(slack, "Autumn Letter", account, at)
    await wait_planned(slack, "Autumn Letter")

    # --- the ledger: FIFO by ContactID, ceil(n/3) per round, remainder last, exclusions applied
    rows = await connection.fetch(
        "SELECT r.number, x.contact_id, x.email, x.position FROM recipients x JOIN rounds r ON r.id = x.round_id "
        "ORDER BY x.position")
    dropped = account.unsubscribed | account.excluded | {suppressed}
    eligible = [c for c in account.contact_ids if c not in dropped]
    assert [r["contact_id"] for r in rows] == eligible  # FIFO, nothing dropped wrongly
    per_round = math.ceil(len(eligible) / 3)
    sizes = [sum(1 for r in rows if r["number"] == n) for n in (1, 2, 3)]
    assert sizes == [per_round, per_round, len(eligible) - 2 * per_round]
    numbers = [r["number"] for r in rows]
    assert numbers == sorted(numbers)  # contiguous blocks: earlier contacts in earlier rounds
    assert len({r["contact_id"] for r in rows}) == len(rows)  # disjoint

    # --- Mailjet: exactly one list and one draft per round, matching the ledger and the template
    rounds = await connection.fetch("SELECT * FROM rounds ORDER BY number")
    for r in rounds:
        named = [l for l in mailjet.lists() if l["Name"] == f"Autumn Letter-round-{r['number']}"]
        assert len(named) == 1 and named[0]["ID"] == r["mailjet_list_id"]
        ledger_emails = sorted(x["email"] for x in rows if x["number"] == r["number"])
        assert sorted(mailjet.list_member_emails(r["mailjet_list_id"])) == ledger_emails
        drafts = [d for d in mailjet.drafts() if d["ContactsListID"] == r["mailjet_list_id"]]
        assert len(drafts) == 1 and drafts[0]["ID"] == r["mailjet_draft_id"]
        assert drafts[0]["Subject"] == "Our autumn letter" and drafts[0]["SenderEmail"] == "news@example.com"
        assert mailjet.draft_content(r["mailjet_draft_id"])["Html-part"] == mailjet.draft_content(account.template_draft)["Html-part"]
        assert r["recipient_count"] == len(ledger_emails)
    assert len([l for l in mailjet.lists() if l["Name"].startswith("Autumn Letter-round-")]) == 3
    assert not mailjet.schedule_calls

    # --- stages: pre-launch posts each round's parent message at T-1h, the warning at T-15m
    assert stage_messages(slack, "prelaunch") == []
    for number in (1, 2, 3):
        bot.move_clock(timedelta(hours=1, minutes=10 * (number - 1), seconds=5).total_seconds())
        await slack.wait_for(lambda: stage_messages(slack, "prelaunch", number), timeout=10)
        assert len(stage_messages(slack, "prelaunch")) == number  # the next round's is not early
    bot.move_clock(timedelta(hours=1, minutes=45, seconds=5).total_seconds())
    await slack.wait_for(lambda: stage_messages(slack, "warning", 1), timeout=10)
    await asyncio.sleep(1.0)  # anything duplicated would have arrived by now

    await asyncio.sleep(0.5)
    states = {r["number"]: r["state"] for r in await connection.fetch("SELECT number, state FROM rounds")}
    assert states == {1: "ready", 2: "ready", 3: "planned"}  # pre-flight ran for rounds 1 and 2 and passed
    for number in (1, 2, 3):
        parents = stage_messages(slack, "prelaunch", number)
        assert len(parents) == 1
        parent = parents[0]
        assert parent.thread_ts is None
        # Updated in place as the round moves on: the metadata carries its current state.
        assert lifecycle(parent) == {"campaign": "Autumn Letter", "round": number, "stage": "prelaunch",
                                     "state": states[number]}
        assert "Posted late" not in str(parent.blocks)
    warnings = stage_messages(slack, "warning", 1)
    assert len(warnings) == 1
    assert warnings[0].thread_ts == stage_messages(slack, "prelaunch", 1)[0].ts
    assert "sends in 15 minutes" in warnings[0].text.lower()

    # status shows it all, in local time and UTC, with the not-yet-built stages visible
    envelope = await slack.send_slash_command('status "Autumn Letter"', user_id=OPERATOR)
    status = await slack.wait_for(lambda: [r for r in slack.responses if r.get("envelope_id") == envelope and r.get("blocks")])
    text = str(status[0]["blocks"])
    assert "Round 1" in text and "Round 3" in text and "UTC" in text
    assert "Launch warning: done" in text
    await connection.close()


async def test_restarts_and_two_replicas_post_each_stage_once(bot_factory, slack, mailjet):
    account = seed_account(mailjet, contacts=12, unsubscribed=0, excluded=0)
    first: BotProcess = await bot_factory()
    second: BotProcess = await bot_factory()
    at = instants(timedelta(hours=2), 2)
    await plan(slack, "Replicas", account, at)
    await wait_planned(slack, "Replicas")

    # Three restarts of one replica before the first stage is due.
    for _ in range(3):
        assert await first.terminate() == 0
        await first.start()
    for offset in (timedelta(hours=1, seconds=5), timedelta(hours=1, minutes=10, seconds=5),
                   timedelta(hours=1, minutes=45, seconds=5), timedelta(hours=1, minutes=55, seconds=5)):
        first.move_clock(offset.total_seconds())
        await asyncio.sleep(1.5)
    await slack.wait_for(lambda: len(stage_messages(slack, "warning")) == 2, timeout=10)
    await asyncio.sleep(1.0)
    for number in (1, 2):
        assert len(stage_messages(slack, "prelaunch", number)) == 1
        assert len(stage_messages(slack, "warning", number)) == 1
    planned_announcements = [m for m in slack.messages if "*Replicas* planned" in (m.text or "")]
    assert len(planned_announcements) == 1
    assert second.process.returncode is None


async def test_sigkill_during_planning_resumes_without_duplicates(slack, database, tmp_path):
    slow_mailjet = MailjetStandin(api_key="mj-test-key", api_secret="mj-test-secret-0123456789", job_polls_before_complete=4)
    await slow_mailjet.start()
    try:
        account = seed_account(slow_mailjet, contacts=30, unsubscribed=0, excluded=0)
        bot = BotProcess(database=database, slack=slack, mailjet=slow_mailjet, workdir=tmp_path, clock_file=tmp_path / "clock", extra_env={}, index=0)
        await bot.start()
        await plan(slack, "Crashy", account, instants(timedelta(hours=3), 3))
        # Kill it once the first round list exists and is being filled.
        await slack.wait_for(lambda: any(l["Name"] == "Crashy-round-1" for l in slow_mailjet.lists()), timeout=20)
        await bot.kill()
        bot = BotProcess(database=database, slack=slack, mailjet=slow_mailjet, workdir=tmp_path, clock_file=tmp_path / "clock", extra_env={}, index=1)
        await bot.start()
        await wait_planned(slack, "Crashy", timeout=60)
        await bot.kill()
        for number in (1, 2, 3):
            assert len([l for l in slow_mailjet.lists() if l["Name"] == f"Crashy-round-{number}"]) == 1
        connection = await asyncpg.connect(database)
        rounds = await connection.fetch("SELECT * FROM rounds ORDER BY number")
        await connection.close()
        for r in rounds:
            assert len([d for d in slow_mailjet.drafts() if d["ContactsListID"] == r["mailjet_list_id"]]) == 1
            assert len(slow_mailjet.list_member_emails(r["mailjet_list_id"])) == r["recipient_count"] == 10
        assert len([m for m in slack.messages if "*Crashy* planned" in (m.text or "")]) == 1
    finally:
        await slow_mailjet.stop()



async def test_sigkill_after_slack_accepted_a_post_does_not_post_it_twice(bot_factory, slack, mailjet):
    """The outbox records each attempt first; a retry looks for its block_id in the channel."""
    account = seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0)
    bot = await bot_factory(CAMPAIGN_BOT_TEST_FAILPOINT="after_slack_post")
    await plan(slack, "Once Only", account, instants(timedelta(hours=3), 1), extra="rounds=1")
    await asyncio.wait_for(bot.process.wait(), 20)  # killed right after Slack accepted the announcement
    assert bot.process.returncode == -9
    assert len([m for m in slack.messages if "*Once Only* planned" in (m.text or "")]) == 1
    await bot_factory()
    await asyncio.sleep(2.0)
    assert len([m for m in slack.messages if "*Once Only* planned" in (m.text or "")]) == 1
    assert "conversations.history" in [method for method, _ in slack.calls]


async def test_slack_errors_are_retried_or_reported_never_swallowed(bot_factory, slack, mailjet):
    account = seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0)
    await bot_factory()
    # A 5xx is retried (after looking for an earlier delivery); the message arrives once.
    slack.fail_next("chat.postMessage", status=500)
    await plan(slack, "Flaky Slack", account, instants(timedelta(hours=3), 1), extra="rounds=1")
    await wait_planned(slack, "Flaky Slack", timeout=20)
    assert len([m for m in slack.messages if "*Flaky Slack* planned" in (m.text or "")]) == 1
    # An error no retry can fix is given up and said in the channel, not dropped silently.
    slack.fail_next("chat.postMessage", error="invalid_blocks")
    await plan(slack, "Broken Blocks", account, instants(timedelta(hours=4), 1), extra="rounds=1")
    alert = await slack.wait_for(lambda: [m for m in slack.messages if "could not be delivered" in (m.text or "")], timeout=20)
    assert "invalid_blocks" in alert[0].text and "campaign:" in alert[0].text
