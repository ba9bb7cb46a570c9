"""`/campaign rehearse` through `campaign-bot run`: the real stage code in dry run on a
compressed copy of the schedule, in one thread, leaving the real rounds and Mailjet as they were."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from standins.slack import Message
from tests.support.flows import Flow
from tests.support.harness import OPERATOR, STRANGER
from tests.support.world import lifecycle

pytestmark = pytest.mark.slow

LIVE = {"SEND_MODE": "live"}
STAGES = ("prelaunch", "preflight", "warning", "launch", "wrapup", "cleanup")


@pytest.fixture
async def flow(slack, mailjet, database, clock_file) -> Flow:
    return Flow(slack, mailjet, database, clock_file)


def rehearsal_payload(message: Message) -> dict[str, Any] | None:
    payload = lifecycle(message)
    return payload if payload and payload.get("rehearsal") is True else None


async def real_state(flow: Flow) -> dict[str, Any]:
    """Everything of the real rounds a rehearsal must leave alone."""
    return {
        "rounds": [dict(r) for r in await flow.fetch(
            "SELECT r.* FROM rounds r WHERE r.campaign_id IS NOT NULL ORDER BY r.id")],
        "stage_runs": [dict(r) for r in await flow.fetch(
            "SELECT s.* FROM stage_runs s JOIN rounds r ON r.id = s.round_id WHERE r.campaign_id IS NOT NULL ORDER BY s.id")],
        "approvals": [dict(r) for r in await flow.fetch("SELECT * FROM approvals ORDER BY id")],
        "preflight_runs": [dict(r) for r in await flow.fetch(
            "SELECT p.* FROM preflight_runs p JOIN rounds r ON r.id = p.round_id WHERE r.campaign_id IS NOT NULL ORDER BY p.id")],
        "ledger": await flow.fetchrow("SELECT count(*), count(removed_at) FROM recipients"),
        "suppressions": await flow.fetchrow("SELECT count(*) FROM suppressions"),
        "cleanup_plans": await flow.fetchrow("SELECT count(*) FROM cleanup_plans"),
    }


def messages_state(flow: Flow) -> list[tuple[str, str, int, str | None]]:
    return [(m.ts, m.text, len(m.edits), m.thread_ts) for m in flow.slack.messages if rehearsal_payload(m) is None]


async def outbox_drained(flow: Flow) -> None:
    deadline = asyncio.get_running_loop().time() + 15
    while (await flow.fetchrow("SELECT count(*) AS n FROM slack_outbox WHERE state = 'pending'"))["n"]:
        assert asyncio.get_running_loop().time() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.05)


async def step_through(flow: Flow, start: datetime, seconds: int, step: float = 2.0) -> None:
    """Move the shared clock forward `step` seconds at a time, each time until the bot has run
    every rehearsal stage that is due: time passes as it would, only faster."""
    offset = 0.0
    while offset <= seconds:
        instant = start + timedelta(seconds=offset)
        flow.move_to(instant)
        deadline = asyncio.get_running_loop().time() + 15
        while await flow.fetchrow(
                "SELECT 1 FROM stage_runs s JOIN rounds r ON r.id = s.round_id "
                "WHERE r.rehearsal_id IS NOT NULL AND s.state = 'pending' AND s.due_at <= $1 LIMIT 1", instant):
            assert asyncio.get_running_loop().time() < deadline, "rehearsal stages stayed due"
            await asyncio.sleep(0.05)
        offset += step


async def test_rehearsal_catches_a_broken_draft_and_leaves_everything_real_untouched(bot_factory, flow, slack, mailjet):
    await bot_factory(**LIVE)  # live: even then a rehearsal never sends
    # Round 1 in 50 minutes: its real pre-launch (T-1h) is posted at once, so it has a real
    # parent message the rehearsal must not touch; rounds 2 and 3 on later days.
    await flow.plan(rounds=3, first_in=timedelta(minutes=50), spacing=timedelta(days=2))
    await slack.wait_for(lambda: [m for m in slack.messages if (lifecycle(m) or {}).get("stage") == "prelaunch"], timeout=15)
    await flow.approve(1)  # a real approval the rehearsal must leave alone (clock now at T1-29m)
    rounds = {n: await flow.round(n) for n in (1, 2, 3)}
    # Round 2's draft loses its unsubscribe link: the rehearsal's pre-flight must catch it days early.
    mailjet.edit_draft_content(rounds[2]["mailjet_draft_id"], html='<p>Hi <a href="https://example.com">x</a></p>', text="Hi")
    await outbox_drained(flow)  # the approval's messages are out before the snapshot
    before = await real_state(flow)
    before_messages = messages_state(flow)
    requests_before, lists_before, drafts_before = len(mailjet.requests), len(mailjet.lists()), len(mailjet.drafts())

    reply = await flow.command(f'rehearse "{flow.name}"', user=OPERATOR)
    assert "Rehearsal of *Winter Letter* started" in reply and "round 1, 2, 3" in reply, reply
    again = await flow.command(f'rehearse "{flow.name}"', user=OPERATOR)
    assert "already running" in again and "Nothing was started" in again, again
    assert len(await flow.fetch("SELECT * FROM rehearsals")) == 1

    await step_through(flow, (await flow.fetchrow("SELECT started_at FROM rehearsals"))["started_at"], 135)
    rehearsal = await flow.fetchrow("SELECT * FROM rehearsals")
    assert rehearsal["state"] == "finished"
    took = (rehearsal["finished_at"] - rehearsal["started_at"]).total_seconds()
    assert 100 <= took <= 150, took  # about two minutes of (test) clock for the whole lifecycle

    # One top-level post, every other rehearsal message in its thread, each marked, no buttons, no broadcast.
    summary = await slack.wait_for(lambda: [m for m in slack.messages if "finished at" in (m.text or "")
                                            and rehearsal_payload(m)], timeout=15)
    await outbox_drained(flow)
    top = [m for m in slack.messages if m.thread_ts is None and rehearsal_payload(m)]
    assert len(top) == 1 and top[0].text == "Rehearsal of Winter Letter"
    assert rehearsal_payload(top[0])["stage"] == "rehearsal"
    thread = [m for m in slack.messages if m.thread_ts == top[0].ts]
    assert thread and all(rehearsal_payload(m) for m in thread)
    assert [m for m in slack.messages if rehearsal_payload(m)] == top + thread
    assert not any(b.get("type") == "actions" for m in thread for b in (m.blocks or []))
    assert not any(m.reply_broadcast for m in thread)
    for number in (1, 2, 3):
        for stage in STAGES:
            found = [m for m in thread if rehearsal_payload(m)["round"] == number and rehearsal_payload(m)["stage"] == stage]
            assert found, (number, stage, [(rehearsal_payload(m), m.text[:80]) for m in thread])

    def say(number: int, stage: str) -> str:
        return " ".join(m.text for m in thread
                        if rehearsal_payload(m)["round"] == number and rehearsal_payload(m)["stage"] == stage)

    assert "Pre-flight failed" in say(2, "preflight") and "no unsubscribe link" in str(
        [m.blocks for m in thread if rehearsal_payload(m)["round"] == 2 and rehearsal_payload(m)["stage"] == "preflight"])
    assert "Pre-flight passed" in say(1, "preflight") and "Pre-flight passed" in say(3, "preflight")
    assert "would NOT be sent" in say(2, "launch") and "blocked by pre-flight" in say(2, "launch")
    assert "would send to 4 recipients" in say(1, "launch") and "approved by <@U0APPROVER>" in say(1, "launch")
    assert "would send to 4 recipients" in say(3, "launch") and "needs an approver's approval" in say(3, "launch")
    assert "this was a rehearsal" in say(1, "wrapup") and "no numbers" in say(1, "wrapup")
    assert "no numbers" in say(2, "wrapup")
    assert "suppressed for good" in say(3, "cleanup") and "10%" in say(3, "cleanup")
    assert "Round 2" in summary[0].text and "no unsubscribe link" in summary[0].text
    assert "1 round of 3 would not go out" in top[0].edits[-1]["text"] + str(top[0].blocks)

    # The real rounds, their stages, approvals, pre-flights and messages are exactly as they were.
    assert await real_state(flow) == before
    assert messages_state(flow) == before_messages
    # Mailjet: nothing sent, scheduled, created or edited; the rehearsal only read.
    assert mailjet.sends == [] and mailjet.send_attempts == [] and mailjet.schedule_calls == []
    assert len(mailjet.lists()) == lists_before and len(mailjet.drafts()) == drafts_before
    during = mailjet.requests[requests_before:]
    assert during and {r["method"] for r in during} == {"GET"}, {(r["method"], r["path"]) for r in during}

    log = [r["action"] for r in await flow.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert "rehearsal started" in log and "rehearsal finished" in log
    assert "rehearsal: preflight failed" in log and "rehearsal: launch would not send" in log
    started = await flow.fetchrow("SELECT * FROM audit_log WHERE action = 'rehearsal started'")
    assert started["actor"] == OPERATOR
    status = await flow.command(f'status "{flow.name}"')
    assert status  # the status answers from the real rounds only
    assert len(await flow.fetch("SELECT * FROM rounds WHERE campaign_id IS NOT NULL")) == 3


async def test_bad_rehearsals_are_refused_and_change_nothing(bot_factory, flow, slack, mailjet):
    await bot_factory()
    await flow.plan(rounds=1, first_in=timedelta(hours=2))

    async def nothing_changed() -> None:
        assert await flow.fetch("SELECT * FROM rehearsals") == []
        assert await flow.fetch("SELECT * FROM rounds WHERE rehearsal_id IS NOT NULL") == []
        assert not [m for m in slack.messages if rehearsal_payload(m)]
        assert not [a for a in await flow.fetch("SELECT action FROM audit_log") if "rehearsal" in a["action"]]

    reply = await flow.command("rehearse")
    assert "the campaign name is missing" in reply and "/campaign rehearse &lt;name&gt;" in reply, reply
    reply = await flow.command('rehearse "No Such Letter"')
    assert "no campaign named `No Such Letter`" in reply, reply
    reply = await flow.command(f'rehearse "{flow.name}" 2')
    assert "unexpected `2`" in reply, reply
    reply = await flow.command(f'rehearse "{flow.name}"', user=STRANGER)
    assert "needs the operator role" in reply and "nothing was changed" in reply, reply
    await nothing_changed()

    # A campaign still being planned: Mailjet fails its list read, so planning waits to retry.
    mailjet.fail_next("GET", r"listrecipient", status=500, times=5)
    reply = await flow.command(f'new "Spring Letter" list={flow.account.master_list} draft={flow.account.template_draft} '
                               f'at={(datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}')
    assert "Planning" in reply, reply
    await asyncio.sleep(0.5)
    reply = await flow.command('rehearse "Spring Letter"')
    assert "still being planned" in reply and "Nothing was started" in reply, reply

    # A campaign whose only round was missed has nothing left to rehearse.
    flow.move_to(flow.at[0] + timedelta(minutes=31))
    await flow.wait_state(1, "missed")
    reply = await flow.command(f'rehearse "{flow.name}"')
    assert "no unsent round" in reply and "Nothing was started" in reply, reply
    await nothing_changed()


async def test_two_replicas_run_a_rehearsal_once(bot_factory, flow, slack, mailjet):
    await asyncio.gather(bot_factory(), bot_factory())
    await flow.plan(rounds=2, first_in=timedelta(days=1))
    reply = await flow.command(f'rehearse "{flow.name}"')
    assert "started" in reply, reply
    await step_through(flow, (await flow.fetchrow("SELECT started_at FROM rehearsals"))["started_at"], 130)
    await slack.wait_for(lambda: [m for m in slack.messages if "finished at" in (m.text or "") and rehearsal_payload(m)],
                         timeout=15)
    await outbox_drained(flow)
    await asyncio.sleep(1)
    marked = [rehearsal_payload(m) for m in slack.messages if rehearsal_payload(m)]
    per_stage = {(p["round"], p["stage"]): 0 for p in marked}
    for p in marked:
        per_stage[(p["round"], p["stage"])] += 1
    assert per_stage == {(None, "rehearsal"): 2, **{(n, s): 1 for n in (1, 2) for s in STAGES}}, per_stage
    finished = await flow.fetch("SELECT * FROM audit_log WHERE action = 'rehearsal finished'")
    assert len(finished) == 1 and (await flow.fetchrow("SELECT state FROM rehearsals"))["state"] == "finished"
    assert mailjet.sends == [] and mailjet.schedule_calls == []
