"""bot/summary.py: when the weekly summary is due (DST-safe), its late cut-off, and what it says.
Every instant here is fixed, so nothing depends on today's date or weekday."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigurationError, load_settings
from bot.messages.summary import build_summary
from bot.summary import (
    WeeklySlot,
    covered,
    cutoff,
    latest_due,
    next_due,
    parse_setting,
    week_start,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY_9 = WeeklySlot(0, time(9, 0))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("mon 09:00", MONDAY_9), ("Monday 9:00", MONDAY_9), ("  FRI 16:30 ", WeeklySlot(4, time(16, 30))),
    ("sun 00:00", WeeklySlot(6, time(0, 0))), ("off", None), ("OFF", None),
])
def test_setting_forms(text, expected):
    assert parse_setting(text) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("mon", "such as `mon 09:00`"), ("funday 09:00", "`funday` is not a day"), ("mo 09:00", "`mo` is not a day"),
    ("mon 24:00", "is not a time of day"), ("mon 09:60", "is not a time of day"), ("", "or `off`"),
    ("mon 09:00 tue", "such as"),
])
def test_bad_settings_stop_start_up_with_one_clear_line(text, words):
    with pytest.raises(ValueError, match="mon 09:00"):
        parse_setting(text)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(WEEKLY_SUMMARY=text or " x ")
    [line] = caught.value.problems
    assert line.startswith("WEEKLY_SUMMARY must be a day and a 24-hour time") and (words in line or not text)


def test_default_is_monday_nine_and_off_turns_it_off():
    assert load_settings().weekly_summary == MONDAY_9
    assert load_settings(WEEKLY_SUMMARY="off").weekly_summary is None
    assert load_settings(WEEKLY_SUMMARY="friday 7:05").WEEKLY_SUMMARY == "fri 07:05"


def test_due_instants_keep_the_wall_clock_across_the_spring_change():
    # Europe/London springs forward on Sunday 29 March 2026: Monday 09:00 is 09:00 UTC before, 08:00 UTC after.
    week, instant = latest_due(MONDAY_9, LONDON, utc(2026, 3, 29, 12, 0))
    assert (week, instant) == (date(2026, 3, 23), utc(2026, 3, 23, 9, 0))
    week, instant = next_due(MONDAY_9, LONDON, utc(2026, 3, 29, 12, 0))
    assert (week, instant) == (date(2026, 3, 30), utc(2026, 3, 30, 8, 0))
    assert instant - utc(2026, 3, 23, 9, 0) == timedelta(hours=167)
    # At 08:00 UTC sharp it is due; a second before, last week's is the latest.
    assert latest_due(MONDAY_9, LONDON, utc(2026, 3, 30, 8, 0)) == (date(2026, 3, 30), utc(2026, 3, 30, 8, 0))
    assert latest_due(MONDAY_9, LONDON, utc(2026, 3, 30, 7, 59, 59))[0] == date(2026, 3, 23)


def test_due_instants_keep_the_wall_clock_across_the_autumn_change():
    week, instant = next_due(MONDAY_9, LONDON, utc(2026, 10, 20, 0, 0))
    assert instant == utc(2026, 10, 26, 9, 0)  # GMT again after Sunday 25 October
    assert instant - latest_due(MONDAY_9, LONDON, utc(2026, 10, 20, 0, 0))[1] == timedelta(hours=169)


def test_a_slot_in_the_spring_gap_moves_forward_never_back():
    slot = WeeklySlot(6, time(2, 30))  # Sunday 02:30 does not exist in New York on 8 March 2026
    _, instant = next_due(slot, NEW_YORK, utc(2026, 3, 2, 12, 0))
    assert instant.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"


def test_week_start_is_the_monday_and_the_cutoff_is_the_end_of_the_local_day():
    assert week_start(date(2026, 3, 29)) == date(2026, 3, 23)
    assert week_start(date(2026, 3, 30)) == date(2026, 3, 30)
    friday = WeeklySlot(4, time(23, 30))
    week, instant = next_due(friday, LONDON, utc(2026, 6, 1, 0, 0))
    assert week == date(2026, 6, 1) and instant == utc(2026, 6, 5, 22, 30)  # 23:30 BST
    assert cutoff(instant, LONDON) == utc(2026, 6, 5, 23, 0)  # midnight BST


def test_the_covered_weeks_are_seven_local_days_each_side_across_dst():
    before, at, after = covered(utc(2026, 3, 30, 8, 0), LONDON)
    assert before == utc(2026, 3, 23, 9, 0) and at == utc(2026, 3, 30, 8, 0)
    assert after == utc(2026, 4, 6, 8, 0)


def sent_row(name: str, number: int, *, counters: dict | None, previous: dict | None = None,
             previous_number: int | None = None, dry_run: bool = False) -> dict:
    return {"name": name, "number": number, "round_count": 3, "sent_at": utc(2026, 3, 24, 9, 15), "dry_run": dry_run,
            "counters": counters, "collected_at": utc(2026, 3, 24, 11, 15) if counters else None,
            "previous_number": previous_number, "previous_counters": previous}


def counters(delivered: int, hard: int, soft: int, opened: int = 0, clicked: int = 0) -> dict:
    return {"Total": delivered + hard + soft, "MessageSentCount": delivered, "MessageHardBouncedCount": hard,
            "MessageSoftBouncedCount": soft, "MessageOpenedCount": opened, "MessageClickedCount": clicked}


def test_the_post_shows_real_numbers_verdicts_changes_and_says_when_there_are_none():
    sent = [
        # The predecessor's round 1 (973 processed): delivery 75.1%, bounce 24.9%.
        sent_row("Letter", 1, counters={**counters(731, 240, 2), "Total": 1000, "MessageBlockedCount": 27}),
        sent_row("Letter", 2, counters=counters(970, 20, 10, opened=300, clicked=40),
                 previous={**counters(731, 240, 2), "Total": 1000}, previous_number=1),
        sent_row("Other", 3, counters=None, previous_number=2),
        sent_row("Dry", 1, counters=None, dry_run=True),
    ]
    upcoming = [{"name": "Letter", "number": 3, "round_count": 3, "scheduled_at": utc(2026, 4, 2, 8, 15),
                 "state": "approved", "held": False, "recipient_count": 1000, "approval_policy": "required",
                 "approved_by": "U0APPROVER"}]
    built = build_summary(week=date(2026, 3, 30), instant=utc(2026, 3, 30, 8, 0), posted_at=utc(2026, 3, 30, 8, 0, 5),
                          zone=LONDON, sent=sent, sent_total=4, upcoming=upcoming, upcoming_total=1)
    text = built.text
    assert "delivery 75.1%, bounce 24.9%" in text and "verdict critical" in text and "first round sent" in text
    assert "delivery 97.0%, bounce 3.0%, open 30.9%, click 4.1%" in text and "verdict warning" in text
    assert "vs round 1: delivery +21.9 pp, bounce -21.9 pp" in text
    assert "Other round 3 of 3" in text and "no numbers stored yet" in text and "none are estimated" in text
    assert "Dry round 1 of 3" in text and "a dry run, nothing was sent, so no numbers" in text
    assert "Letter round 3 of 3: Thu 2 Apr 2026 09:15 BST (08:15 UTC) · 1,000 recipients · approved by <@U0APPROVER>" in text
    assert "Mon 23 Mar 2026 09:00 GMT (09:00 UTC) to Mon 30 Mar 2026 09:00 BST (08:00 UTC)" in text
    assert "Posted late" not in text
    assert built.metadata == {"event_type": "campaign_weekly_summary", "event_payload": {
        "week_start": "2026-03-30", "scheduled_for": "2026-03-30T08:00:00+00:00", "late": False,
        "sent_rounds": 4, "upcoming_rounds": 1}}
    assert [i for i, _ in built.chart_rounds] == [1, 2] and built.chart_labels == {1: "Letter r1", 2: "Letter r2"}
    assert len(built.blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in built.blocks if b["type"] == "section")


def test_a_late_post_says_so_and_an_empty_week_says_so():
    built = build_summary(week=date(2026, 3, 30), instant=utc(2026, 3, 30, 8, 0), posted_at=utc(2026, 3, 30, 13, 0),
                          zone=LONDON, sent=[], sent_total=0, upcoming=[], upcoming_total=0)
    assert "Posted late: it was due Mon 30 Mar 2026 09:00 BST (08:00 UTC)" in built.text
    assert built.metadata["event_payload"]["late"] is True
    assert "nothing was sent" in built.text and "nothing is scheduled" in built.text
    assert "No chart" in built.text and built.chart_rounds == []
