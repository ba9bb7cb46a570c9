"""Rounds of several campaigns due at the same instant, through `campaign-bot run` with Mailjet
answering slowly (SEND_MODE=live): their launches overlap at Mailjet, within the configured
bounds, and each round is still sent exactly once, also with two replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.flows import Flow
from tests.support.harness import APPROVER
from tests.support.world import TEST_OFFSETS, iso, lifecycle, seed_account, stage_messages

pytestmark = pytest.mark.slow
ROUNDS = 6
LATENCY = 0.4  # seconds per Mailjet answer while the launches run


async def plan_together(slack, mailjet, database, clock_file, count: int) -> list[Flow]:
    """`count` single-round campaigns, all due at the same instant T, each approved."""
    account = seed_account(mailjet, contacts=6, unsubscribed=0, excluded=0)
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    flows = [Flow(slack, mailjet, database, clock_file, name=f"Team {i}", account=account, at=[at]) for i in range(count)]
    for flow in flows:
        reply = await flow.command(f'new "{flow.name}" list={account.master_list} draft={account.template_draft} '
                                   f"at={iso(at)} offsets={TEST_OFFSETS} window=30m")
        assert "Planning" in reply, reply
    await slack.wait_for(lambda: all(any(f"*{f.name}* planned" in (m.text or "") for m in slack.messages)
                                     for f in flows), timeout=60)
    flows[0].move_to(at - timedelta(minutes=29))  # pre-launch and pre-flight of every round
    for flow in flows:
        await flow.wait_state(1, "ready", timeout=30)
        reply = await flow.command(f'approve "{flow.name}" 1', user=APPROVER)
        assert "Approved" in reply, reply
        await flow.wait_state(1, "approved")
    return flows


async def launch_all(flows: list[Flow], mailjet, *, fresh_counters: bool = False) -> list[dict]:
    """Let the warnings pass, then move to just before T with Mailjet slow; wait for every send."""
    at = flows[0].at[0]
    flows[0].move_to(at - timedelta(minutes=14))
    deadline = asyncio.get_running_loop().time() + 30
    while (await flows[0].fetch("SELECT id FROM stage_runs WHERE state = 'pending' "
                                "AND stage IN ('prelaunch', 'preflight', 'warning')")):
        assert asyncio.get_running_loop().time() < deadline, "the warnings did not run"
        await asyncio.sleep(0.1)
    if fresh_counters:
        mailjet.reset_load_counters()
    mailjet.latency = LATENCY
    flows[0].move_to(at - timedelta(seconds=1))
    for flow in flows:
        await flow.wait_state(1, "sent", timeout=60)
    mailjet.latency = 0.0
    await asyncio.sleep(1.0)  # room for a second send, if anything would make one
    drafts = {(await f.round(1))["mailjet_draft_id"] for f in flows}
    return [s for s in mailjet.sends if s["draft_id"] in drafts]


def assert_each_sent_once(flows: list[Flow], sends: list[dict]) -> None:
    at = flows[0].at[0]
    assert len(sends) == len(flows) and len({s["draft_id"] for s in sends}) == len(flows)
    assert all(s["at"] >= at for s in sends)  # never early


async def test_launches_due_together_overlap_at_mailjet_within_its_bound(bot_factory, slack, mailjet, database,
                                                                        clock_file):
    # Six launches may run at once; Mailjet calls are bounded to four in flight.
    await bot_factory(SEND_MODE="live", STAGE_CONCURRENCY="8", MAILJET_MAX_CONCURRENT="4")
    flows = await plan_together(slack, mailjet, database, clock_file, ROUNDS)
    sends = await launch_all(flows, mailjet)
    assert_each_sent_once(flows, sends)
    assert mailjet.max_sends_in_flight > 1      # the launches overlapped at Mailjet...
    assert mailjet.max_in_flight <= 4           # ...but never more calls at once than allowed, all test long
    await slack.wait_for(lambda: len(stage_messages(slack, "launch")) >= ROUNDS, timeout=20)
    for flow in flows:  # one confirmation each, in its own round's thread
        mine = [m for m in stage_messages(slack, "launch") if lifecycle(m)["campaign"] == flow.name]
        parent = [m for m in stage_messages(slack, "prelaunch") if lifecycle(m)["campaign"] == flow.name]
        assert len(mine) == 1 and len(parent) == 1 and mine[0].thread_ts == parent[0].ts


async def test_two_replicas_run_launches_side_by_side_and_send_each_round_once(bot_factory, slack, mailjet, database,
                                                                              clock_file):
    # Two launches at a time per replica, each making at most two calls at once.
    for _ in range(2):
        await bot_factory(SEND_MODE="live", STAGE_CONCURRENCY="2")
    flows = await plan_together(slack, mailjet, database, clock_file, ROUNDS)
    sends = await launch_all(flows, mailjet, fresh_counters=True)  # planning ran on both replicas at once
    assert_each_sent_once(flows, sends)
    assert mailjet.max_sends_in_flight > 1
    # More calls at once than two replicas running one launch each could make, and no more than
    # two launches per replica (a launch makes at most two calls at a time: the draft and its
    # content are read together).
    assert 2 < mailjet.max_in_flight <= 2 * 2 * 2
    claims = await flows[0].fetch("SELECT count(*) AS n FROM audit_log WHERE action = 'send claimed'")
    assert claims[0]["n"] == ROUNDS  # one send claim per round, by whichever replica took it


async def test_sigterm_lets_every_launch_in_progress_finish_and_the_next_process_sends_the_rest(
        bot_factory, slack, mailjet, database, clock_file):
    bot = await bot_factory(SEND_MODE="live", STAGE_CONCURRENCY="8")
    flows = await plan_together(slack, mailjet, database, clock_file, ROUNDS)
    at = flows[0].at[0]
    flows[0].move_to(at - timedelta(minutes=14))
    await slack.wait_for(lambda: len(stage_messages(slack, "warning")) >= ROUNDS, timeout=30)
    mailjet.latency = LATENCY
    mailjet.reset_load_counters()
    flows[0].move_to(at - timedelta(seconds=1))
    await slack.wait_for(lambda: mailjet.in_flight >= 3, timeout=30)  # launches are talking to Mailjet
    assert await bot.terminate() == 0  # within SHUTDOWN_GRACE_SECONDS (5 s in tests)
    states = [(await f.round(1))["state"] for f in flows]
    sent_drafts = {s["draft_id"] for s in mailjet.sends}
    assert "sending" not in states, states  # nothing cut off between its claim and its record
    assert states.count("sent") >= 3 and states.count("sent") == len(sent_drafts) == len(mailjet.sends)
    assert set(states) <= {"sent", "approved"}
    mailjet.latency = 0.0
    await bot_factory(SEND_MODE="live")
    for flow in flows:
        await flow.wait_state(1, "sent", timeout=30)
    await asyncio.sleep(1.0)
    assert len(mailjet.sends) == ROUNDS and len({s["draft_id"] for s in mailjet.sends}) == ROUNDS
