"""bot/rehearsal.py: the compressed timeline of a rehearsal and when one may start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.rehearsal import LEAD, SPAN, STAGES, RehearsalError, compress, offsets_from_seconds, refusal
from bot.schedule import DEFAULT_OFFSETS

START = datetime(2026, 3, 2, 10, 0, 7, tzinfo=UTC)


def real(days: float) -> datetime:
    return datetime(2026, 3, 10, 9, 15, tzinfo=UTC) + timedelta(days=days)


def test_every_round_gets_every_stage_in_the_campaign_order_within_about_two_minutes():
    timeline = compress([(1, real(0)), (2, real(2)), (3, real(7))], DEFAULT_OFFSETS, start=START)
    assert [r.number for r in timeline] == [1, 2, 3]
    for item in timeline:
        assert list(item.stages) == list(STAGES)
        instants = list(item.stages.values())
        assert instants == sorted(instants) and len(set(instants)) == len(instants)
        assert item.at == item.stages["launch"]
    assert timeline[0].stages["prelaunch"] == START + LEAD
    end = max(r.ends_at for r in timeline)
    assert START + SPAN * 0.8 <= end <= START + LEAD + SPAN
    # One round's lifecycle ends before the next one's begins, as with real rounds days apart.
    for earlier, later in zip(timeline, timeline[1:]):
        assert earlier.ends_at < later.stages["prelaunch"]


def test_rounds_follow_their_real_instants_not_their_numbers_and_keep_them():
    timeline = compress([(3, real(1)), (2, real(5)), (4, real(0))], DEFAULT_OFFSETS, start=START)
    assert [r.number for r in timeline] == [4, 3, 2]
    assert [r.real_at for r in timeline] == [real(0), real(1), real(5)]


def test_custom_offsets_keep_their_order_and_a_single_round_gets_the_whole_span():
    offsets = {**DEFAULT_OFFSETS, "prelaunch": timedelta(days=-2), "warning": timedelta(seconds=-40)}
    [only] = compress([(1, real(0))], offsets, start=START)
    step = SPAN / len(STAGES)
    assert only.stages["preflight"] - only.stages["prelaunch"] == step
    assert only.ends_at == START + LEAD + step * (len(STAGES) - 1)


def test_stored_offsets_are_seconds():
    stored = {k: v.total_seconds() for k, v in DEFAULT_OFFSETS.items() if k != "launch"}
    assert offsets_from_seconds(stored)["preflight"] == timedelta(hours=-3, minutes=-15)


def test_nothing_to_rehearse_and_naive_instants_are_refused():
    with pytest.raises(RehearsalError):
        compress([], DEFAULT_OFFSETS, start=START)
    with pytest.raises(ValueError):
        compress([(1, real(0))], DEFAULT_OFFSETS, start=START.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("planning", "unsent", "running", "expected"),
    [
        ("planned", 2, None, None),
        ("pending", 3, None, "still being planned"),
        ("failed", 0, None, "planning failed"),
        ("planned", 0, None, "no unsent round"),
        ("planned", 2, START, "already running"),
    ],
)
def test_when_a_rehearsal_may_start(planning, unsent, running, expected):
    reason = refusal(planning_state=planning, unsent=unsent, running_since=running)
    assert (reason is None) if expected is None else (expected in reason)


def test_a_stage_message_as_the_rehearsal_shows_it():
    from storage.outbox import SlackMessage, as_rehearsal

    message = SlackMessage(
        text="Pre-flight failed", reply_broadcast=True,
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}, {"type": "actions", "elements": []}],
        metadata={"event_type": "campaign_lifecycle",
                  "event_payload": {"campaign": "C", "round": 2, "stage": "preflight", "state": "blocked"}},
    )
    shown = as_rehearsal(message)
    assert shown.text == "[Rehearsal] Pre-flight failed" and not shown.reply_broadcast
    assert shown.metadata == {"event_type": "campaign_lifecycle", "event_payload": {
        "campaign": "C", "round": 2, "stage": "preflight", "state": "blocked", "rehearsal": True}}
    assert [b["type"] for b in shown.blocks] == ["section", "context"]  # no buttons: a rehearsal has no controls
    assert message.metadata["event_payload"].get("rehearsal") is None  # the original is left as it was
